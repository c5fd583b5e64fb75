from django.contrib import admin
from django.urls import include, path

from inocd22.views import healthz
from patients.views.patients import home
from sites.views import SignInView

urlpatterns = [
    # Case report forms in the browser: home, patient list, enrollment, casebooks.
    path("", home, name="home"),
    # The import of sites' files (REDCap flat CSV, the XLSX template), before the casebooks' addresses.
    path("patients/import/", include("redcap_api.import_urls")),
    path("patients/", include("patients.urls")),
    path("patients/", include("patients.casebook_urls")),
    path("reference/", include("outcomes.urls")),  # the CTCAE term picker's search
    # Printed forms: the blank CRF, and the CRF annotated with its variables.
    path("forms/", include("patients.crf_urls")),
    path("forms/", include("analytics.crf_urls")),
    path("healthz/", healthz, name="healthz"),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("accounts/", include("sites.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # Analysis reports: browser pages, and their API above any generic "api/" include.
    path("reports/", include("analytics.urls")),
    path("api/reports/", include("analytics.api_urls")),
    # Data management: queries, verification and locking, checks, dashboard, audit, sign-off.
    path("data-management/", include("patients.data_management_urls")),
    # The REST API (tokens, schema and docs, forms, exports) and the browser export page.
    path("api/", include("inocd22.api_urls")),
    path("exports/", include("analytics.exports.urls")),
    # The REDCap-compatible API, for scripts written for REDCap (PyCap, REDCapR).
    path("redcap/", include("redcap_api.urls")),
]

handler404 = "inocd22.views.not_found"
handler500 = "inocd22.views.internal_error"
