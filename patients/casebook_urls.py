from django.urls import path

from patients.views import casebook as views
from patients.views import printing

app_name = "casebook"

urlpatterns = [
    path("<study_id:study_id>/", views.casebook_detail, name="detail"),
    path("<study_id:study_id>/casebook.pdf", printing.casebook_pdf_view, name="pdf"),
    path("<study_id:study_id>/audit/", views.audit_trail_view, name="audit"),
    path("<study_id:study_id>/status/<slug:form>/", views.form_status_view, name="status"),
    path("<study_id:study_id>/forms/<slug:slug>/", views.crf_row_edit, name="form"),
    path("<study_id:study_id>/forms/<slug:slug>/new/", views.crf_row_edit, name="row-new"),
    path("<study_id:study_id>/forms/<slug:slug>/<int:pk>/", views.crf_row_edit, name="row"),
    path("<study_id:study_id>/forms/<slug:slug>/<int:pk>/delete/", views.crf_row_delete_view, name="row-delete"),
]
