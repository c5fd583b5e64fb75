from django.urls import path

from analytics.exports.views import export_page

app_name = "exports"

urlpatterns = [
    path("", export_page, name="page"),
]
