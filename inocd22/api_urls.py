"""The REST API under /api/: tokens (obtain, list, revoke), the OpenAPI schema and its docs, centers, patients and
every casebook form, de-identified exports, the data dictionary and the export log."""

from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from analytics.exports.api import (
    CtcaeTermsView,
    DatasetExportView,
    DictionaryView,
    ExportLogViewSet,
    MissingCodesView,
)
from outcomes.api import SERIALIZER_MIXINS, CtcaeTermViewSet
from patients.api.data_management import DataQueryViewSet
from patients.api.router import casebook_routes
from sites.api import ApiTokenViewSet, CenterViewSet, TokenRevokeView, TokenView

router = DefaultRouter()
router.register("centers", CenterViewSet, basename="api-center")
casebook_routes(router, serializer_mixins=SERIALIZER_MIXINS)
router.register("ctcae-terms", CtcaeTermViewSet, basename="api-ctcae-term")
router.register("auth/tokens", ApiTokenViewSet, basename="api-token-list")
router.register("exports/logs", ExportLogViewSet, basename="api-export-log")
router.register("queries", DataQueryViewSet, basename="api-query")



@csrf_exempt  # it changes nothing: a write to an unknown address is a 404, not a CSRF page
def api_not_found(request, *args, **kwargs):
    """Any other address under /api/ (or a malformed key) is a JSON 404, like the API's own."""
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("auth/token/revoke/", TokenRevokeView.as_view(), name="api-token-revoke"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI with its start-up script served from its own URL: no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("exports/dataset/", DatasetExportView.as_view(), name="api-export-dataset"),
    path("dictionary/", DictionaryView.as_view(), name="api-dictionary"),
    path("dictionary/missing-codes/", MissingCodesView.as_view(), name="api-dictionary-missing-codes"),
    path("dictionary/ctcae-terms/", CtcaeTermsView.as_view(), name="api-dictionary-ctcae-terms"),
    path("", include(router.urls)),
    re_path(r"^.*$", api_not_found),
]
