"""REST API of analysis reports: start one (202), read its status, progress and results."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from analytics.models import CiMethod, Report, ReportStatus
from analytics.selectors import report_list_for_user
from analytics.services import report_start
from analytics.views import report_urls
from sites.jobs import QueueUnavailable
from sites.roles import can_run_analyses


class IsAnalyst(BasePermission):
    message = "Only statisticians and administrators run and read analysis reports."

    def has_permission(self, request, view):
        return can_run_analyses(request.user)


class ReportStartSerializer(serializers.Serializer):
    cutoff = serializers.DateField(required=False, help_text="Data cut-off date (default: today).")
    centers = serializers.ListField(child=serializers.CharField(max_length=8), required=False, default=list,
                                    help_text="Center codes (default: every center).")
    ci_method = serializers.ChoiceField(choices=CiMethod.choices, default=CiMethod.LOG_LOG)
    hsct_censors_dor = serializers.BooleanField(default=False)


class ReportSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.username")
    centers = serializers.JSONField(source="center_codes")
    results = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = ["id", "url", "status", "progress", "step", "error", "requested_by", "requested_at", "started_at",
                  "finished_at", "cutoff", "centers", "ci_method", "hsct_censors_dor", "software_version",
                  "dataset_sha256", "links", "results"]

    def get_url(self, report) -> str:
        return self.context["request"].build_absolute_uri(reverse("api-report-detail", args=[report.pk]))

    def get_links(self, report) -> dict:
        return report_urls(report)

    def get_results(self, report) -> dict | None:
        return report.results if report.status == ReportStatus.SUCCEEDED else None


class ReportSummarySerializer(ReportSerializer):
    class Meta(ReportSerializer.Meta):
        fields = [field for field in ReportSerializer.Meta.fields if field != "results"]


class ReportListCreate(ListAPIView):
    """GET: the reports, newest first (without results). POST: start a report → 202."""

    permission_classes = [IsAuthenticated, IsAnalyst]
    serializer_class = ReportSummarySerializer

    def get_queryset(self):
        return report_list_for_user(user=self.request.user)

    def post(self, request):
        parameters = ReportStartSerializer(data=request.data)
        parameters.is_valid(raise_exception=True)
        data = parameters.validated_data
        try:
            report = report_start(user=request.user, cutoff=data.get("cutoff"), center_codes=data["centers"],
                                  ci_method=data["ci_method"], hsct_censors_dor=data["hsct_censors_dor"])
        except DjangoPermissionDenied as error:
            raise PermissionDenied(str(error)) from error
        except DjangoValidationError as error:
            raise ValidationError({{"center_codes": "centers"}.get(field, field): messages
                                   for field, messages in error.message_dict.items()}) from error
        except QueueUnavailable as error:
            return Response({"detail": str(error)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        report.refresh_from_db()  # eager Celery may have run it already
        body = ReportSerializer(report, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class ReportDetail(RetrieveAPIView):
    """Status, progress and, once succeeded, the results of one report."""

    permission_classes = [IsAuthenticated, IsAnalyst]
    serializer_class = ReportSerializer

    def get_queryset(self):
        return report_list_for_user(user=self.request.user)
