"""URLs of data management (issue 6), under /data-management/."""

from django.urls import path

from patients import dm_views as views

app_name = "data_management"

urlpatterns = [
    path("queries/", views.query_list, name="query-list"),
    path("queries/<int:pk>/", views.query_detail, name="query-detail"),
    path("casebooks/<str:study_id>/queries/new/", views.query_raise_view, name="query-raise"),
    path("casebooks/<str:study_id>/forms/<slug:form>/<slug:action>/", views.form_transition, name="form-transition"),
    path("casebooks/<str:study_id>/sign/", views.casebook_sign_view, name="sign"),
    path("checks/", views.check_runs, name="checks"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard.csv", views.dashboard_csv, name="dashboard-csv"),
    path("audit/", views.audit_trail, name="audit"),
    path("audit.csv", views.audit_trail_csv, name="audit-csv"),
]
