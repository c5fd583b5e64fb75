from django.urls import path

from redcap_api import views

app_name = "patient_import"

urlpatterns = [
    path("", views.import_page, name="import"),
    path("template.xlsx", views.import_template, name="template"),
    path("<int:run_id>/", views.import_run_page, name="run"),
    path("<int:run_id>/progress/", views.import_run_progress, name="progress"),
    path("<int:run_id>/confirm/", views.import_run_confirm_view, name="confirm"),
]
