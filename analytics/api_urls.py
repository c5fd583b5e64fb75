from django.urls import path

from analytics import api

urlpatterns = [
    path("", api.ReportListCreate.as_view(), name="api-report-list"),
    path("<int:pk>/", api.ReportDetail.as_view(), name="api-report-detail"),
]
