"""Analysis reports as records: parameters, status and progress, results and figures."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class CiMethod(models.TextChoices):
    LOG_LOG = "log-log", _("log-log (SAS and lifelines default)")
    LOG = "log", _("log (R survival default)")


class ReportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class Report(models.Model):
    """One run of the statistical analysis plan on one data cut-off and set of centers.

    Written only by ``analytics.services``; the Celery task fills status, progress,
    results and figures as it goes.
    """

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="analysis_reports",
    )
    requested_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    cutoff = models.DateField(_("Data cut-off date"))
    center_codes = models.JSONField(
        _("Centers"), default=list, blank=True, help_text=_("Center codes; empty means every center.")
    )
    ci_method = models.CharField(
        _("Confidence interval method"), max_length=8, choices=CiMethod.choices, default=CiMethod.LOG_LOG
    )
    hsct_censors_dor = models.BooleanField(
        _("Does allo-HSCT censor the duration of response?"), default=False
    )

    status = models.CharField(_("status"), max_length=10, choices=ReportStatus.choices, default=ReportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    step = models.CharField(_("current step"), max_length=120, blank=True)
    error = models.TextField(_("error"), blank=True)
    task_id = models.CharField(_("task ID"), max_length=64, blank=True)
    # Set every few seconds while a worker runs the report: a stale one means the worker died.
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)

    results = models.JSONField(_("results"), null=True, blank=True)
    # SVG text of each figure, by figure name.
    figures = models.JSONField(_("figures"), default=dict, blank=True)
    software_version = models.CharField(_("software version"), max_length=200, blank=True)
    dataset_sha256 = models.CharField(_("SHA-256 of the analysis dataset"), max_length=64, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        verbose_name = _("analysis report")
        verbose_name_plural = _("analysis reports")
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="report_progress_0_100"),
        ]

    def __str__(self) -> str:
        return f"Report {self.pk} (cut-off {self.cutoff}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ReportStatus.SUCCEEDED, ReportStatus.FAILED)


# --- De-identified dataset exports (see analytics/exports/) ---


class ExportStatus(models.TextChoices):
    STARTED = "started", _("Started")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed or interrupted")


class ExportLog(models.Model):
    """One de-identified dataset export: who, when, with which parameters, how many rows of
    each table, and the SHA-256 of the file as it was sent (computed while streaming).

    Created when the export starts and completed when its last byte has been produced;
    a row left 'started' is an export whose client went away before the end."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("exported by"), on_delete=models.PROTECT, related_name="exports"
    )
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    file_format = models.CharField(_("file format"), max_length=8)
    dates = models.CharField(_("date handling"), max_length=8)
    values = models.CharField(_("coded values as"), max_length=8)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.STARTED)
    rows = models.JSONField(_("rows per table"), default=dict, blank=True)
    size_bytes = models.BigIntegerField(_("size (bytes)"), null=True, blank=True)
    sha256 = models.CharField(_("SHA-256 of the file"), max_length=64, blank=True)
    filename = models.CharField(_("file name"), max_length=120, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("dataset export")
        verbose_name_plural = _("dataset exports")

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.file_format}, {self.status})"
