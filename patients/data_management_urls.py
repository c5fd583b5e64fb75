"""URLs of data management, under /data-management/."""

from django.urls import path

from patients.views import audit, checks, dashboard, queries, signatures, workflow

app_name = "data_management"

urlpatterns = [
    path("queries/", queries.query_list, name="query-list"),
    path("queries/<int:pk>/", queries.query_detail, name="query-detail"),
    path("casebooks/<study_id:study_id>/queries/new/", queries.query_raise_view, name="query-raise"),
    path("casebooks/<study_id:study_id>/forms/<slug:form>/<slug:action>/", workflow.form_transition, name="form-transition"),
    path("casebooks/<study_id:study_id>/sign/", signatures.casebook_sign_view, name="sign"),
    path("checks/", checks.check_runs, name="checks"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard.csv", dashboard.dashboard_csv, name="dashboard-csv"),
    path("audit/", audit.audit_trail, name="audit"),
    path("audit.csv", audit.audit_trail_csv, name="audit-csv"),
]
