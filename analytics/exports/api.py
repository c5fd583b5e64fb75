"""REST API of de-identified exports: the dataset file itself, the data dictionary, the export log."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import InterfaceError, OperationalError
from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.exports.dataset import DATE_MODES, FILE_FORMATS, VALUE_MODES, ExportOptions
from analytics.exports.dictionary import dictionary_entries, missing_code_entries
from analytics.exports.formats import CONTENT_TYPES
from analytics.exports.services import export_log_list_for_user, export_log_start, export_stream
from analytics.models import ExportLog
from outcomes.api import CtcaeTermSerializer
from outcomes.models import CtcaeTerm
from sites.roles import can_export_datasets, can_read_export_log, has_any_role


class ExportParametersSerializer(serializers.Serializer):
    file_format = serializers.ChoiceField(choices=FILE_FORMATS, default="csv",
                                          help_text="csv (zip), json, dta / sav / xpt (zip), odm (CDISC ODM 1.3.2).")
    dates = serializers.ChoiceField(choices=DATE_MODES, default="relative",
                                    help_text="Days from IO cycle 1 day 1, or dates shifted per patient.")
    values = serializers.ChoiceField(choices=VALUE_MODES, default="codes", help_text="Coded values as codes or labels.")


class DictionaryParametersSerializer(serializers.Serializer):
    dates = serializers.ChoiceField(choices=DATE_MODES, default="relative")
    values = serializers.ChoiceField(choices=VALUE_MODES, default="codes")


class CanExport(BasePermission):
    message = "Only statisticians and administrators export datasets."

    def has_permission(self, request, view):
        return can_export_datasets(request.user)


class AnyMediaType(BaseContentNegotiation):
    """The export answers with its file whatever the Accept header says; errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


PARAMETERS = [
    OpenApiParameter("file_format", OpenApiTypes.STR, enum=list(FILE_FORMATS), default="csv"),
    OpenApiParameter("dates", OpenApiTypes.STR, enum=list(DATE_MODES), default="relative"),
    OpenApiParameter("values", OpenApiTypes.STR, enum=list(VALUE_MODES), default="codes"),
]


class DatasetExportView(APIView):
    """The de-identified dataset as a file, streamed (statisticians and administrators)."""

    permission_classes = [IsAuthenticated, CanExport]
    content_negotiation_class = AnyMediaType

    @extend_schema(
        tags=["exports"], parameters=PARAMETERS,
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="csv, dta, sav, xpt"),
            (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="json"),
            (200, "application/xml"): OpenApiResponse(OpenApiTypes.STR, description="CDISC ODM 1.3.2"),
        },
    )
    def get(self, request):
        parameters = ExportParametersSerializer(data=request.query_params)
        parameters.is_valid(raise_exception=True)
        options = ExportOptions(**parameters.validated_data)
        try:
            log = export_log_start(user=request.user, options=options)
            stream = export_stream(log=log, user=request.user, options=options)
            # The first block is made here, before the status is sent: a database that fails at
            # the start is a 503 rather than a 200 with a truncated body, and the stream has
            # started, so closing it (a client gone before the first byte) completes the log.
            first = next(stream, b"")
        except (OperationalError, InterfaceError):
            return Response({"detail": _("The database is unavailable: try the export again in a moment.")},
                            status=503)
        response = StreamingHttpResponse(_resumed(first, stream), content_type=CONTENT_TYPES[options.file_format])
        response["Content-Disposition"] = f'attachment; filename="{log.filename}"'
        response["X-Export-Id"] = str(log.pk)
        response["Cache-Control"] = "no-store"
        return response


def _resumed(first: bytes, stream: Iterator[bytes]) -> Iterator[bytes]:
    """``first``, then the rest of ``stream``; closing this closes ``stream``."""
    yield first
    yield from stream


CODE_ITEMS = inline_serializer("CodeListItem", fields={
    "code": serializers.CharField(), "label": serializers.CharField(), "numeric_code": serializers.IntegerField(),
}, many=True)
DICTIONARY_ENTRY = inline_serializer("DictionaryEntry", fields={
    "variable": serializers.CharField(), "form": serializers.CharField(), "form_label": serializers.CharField(),
    "label": serializers.CharField(), "type": serializers.CharField(), "unit": serializers.CharField(),
    "code_list": CODE_ITEMS, "is_identifier": serializers.BooleanField(),
    "exported": serializers.BooleanField(), "derived": serializers.BooleanField(), "note": serializers.CharField(),
    "accepts_code": serializers.BooleanField(help_text="Whether the question takes a missing-data code."),
    "missing_code_column": serializers.CharField(help_text="The companion column holding the code, or empty."),
    "sas_name": serializers.CharField(help_text="The variable's name in SAS transport files (8 characters)."),
}, many=True)
MISSING_CODE_ENTRY = inline_serializer("MissingCode", fields={
    "code": serializers.CharField(), "label": serializers.CharField(), "stata": serializers.CharField(),
    "sas": serializers.CharField(), "spss_numeric": serializers.IntegerField(), "spss_string": serializers.CharField(),
    "csv_json": serializers.CharField(), "odm": serializers.CharField(),
}, many=True)

class HasStudyRole(BasePermission):
    message = "You have no role in the study."

    def has_permission(self, request, view):
        return has_any_role(request.user)


class DictionaryView(APIView):
    """The data dictionary: every variable of an export (form, label, type, unit, code list) and
    every field never exported (identifiers and free text). Types and units of dates depend on
    the `dates` choice."""

    permission_classes = [IsAuthenticated, HasStudyRole]

    @extend_schema(tags=["exports"], parameters=PARAMETERS[1:], responses={200: DICTIONARY_ENTRY})
    def get(self, request):
        parameters = DictionaryParametersSerializer(data=request.query_params)
        parameters.is_valid(raise_exception=True)
        return Response(dictionary_entries(ExportOptions(**parameters.validated_data)))


class MissingCodesView(APIView):
    """The missing-data codes (UNK, ND, NA) and what stands for each in every export format: the
    `<variable>_missing` column (CSV, JSON), Stata extended missing, SAS special missing, SPSS
    user-missing values, the ODM flag."""

    permission_classes = [IsAuthenticated, HasStudyRole]

    @extend_schema(tags=["exports"], responses={200: MISSING_CODE_ENTRY})
    def get(self, request):
        return Response(missing_code_entries())


class CtcaeTermsView(APIView):
    """The CTCAE v5.0 terms: MedDRA code, term, system organ class, haematologic, 'Other,
    specify', grades."""

    permission_classes = [IsAuthenticated, HasStudyRole]

    @extend_schema(tags=["exports"], responses={200: CtcaeTermSerializer(many=True)})
    def get(self, request):
        # every term, as /api/ctcae-terms/ gives each one
        return Response(CtcaeTermSerializer(CtcaeTerm.objects.order_by("soc", "term"), many=True).data)


class ExportLogSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")

    class Meta:
        model = ExportLog
        fields = ["id", "user", "started_at", "finished_at", "status", "file_format", "dates", "values", "parameters",
                  "rows", "size_bytes", "sha256", "filename"]


class IsAdministrator(BasePermission):
    message = "Only administrators read the export log."

    def has_permission(self, request, view):
        return can_read_export_log(request.user)


@extend_schema(tags=["exports"])
class ExportLogViewSet(viewsets.ReadOnlyModelViewSet):
    """Every dataset export: who, when, parameters, rows per table, size and SHA-256 (administrators)."""

    serializer_class = ExportLogSerializer
    permission_classes = [IsAuthenticated, IsAdministrator]
    filterset_fields = ["status", "file_format"]

    def get_queryset(self):
        return export_log_list_for_user(user=self.request.user).order_by("-started_at", "-pk")
