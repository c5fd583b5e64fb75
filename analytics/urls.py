from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.report_list, name="report-list"),
    path("new/", views.report_new, name="report-new"),
    path("<int:report_id>/", views.report_detail, name="report-detail"),
    path("<int:report_id>/progress/", views.report_progress, name="report-progress"),
    path("<int:report_id>/figures/<slug:name>.svg", views.report_figure, name="report-figure"),
    path("<int:report_id>/tables/<slug:name>.csv", views.report_table_csv, name="report-table"),
    path("<int:report_id>/report.pdf", views.report_pdf_download, name="report-pdf"),
    path("<int:report_id>/results.json", views.report_json, name="report-json"),
]
