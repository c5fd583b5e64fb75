from django.conf import settings
from django.db import models
from django.utils.timezone import now as timezone_now
from django.utils.translation import gettext_lazy as _


class ImportStatus(models.TextChoices):
    CHECKING = "checking", _("Dry run")
    CHECKED = "checked", _("Checked")
    IMPORTING = "importing", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Failed")


class ImportRun(models.Model):
    """One import of a site's file: the file itself, its dry run (its problems), then, once
    the coordinator confirms a dry run without problems, its import. Both run as tasks; the
    counters say how far they are."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(_("uploaded"), default=timezone_now)
    file_name = models.CharField(_("file name"), max_length=200)
    content = models.BinaryField(_("file"), editable=False)
    status = models.CharField(_("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.CHECKING)
    casebooks_total = models.PositiveIntegerField(_("casebooks in the file"), default=0)
    casebooks_done = models.PositiveIntegerField(_("casebooks done"), default=0)
    casebooks_written = models.PositiveIntegerField(_("casebooks imported"), default=0)
    patients_enrolled = models.PositiveIntegerField(_("patients enrolled"), default=0)
    problems = models.JSONField(_("problems"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("import of a site's file")
        verbose_name_plural = _("imports of sites' files")

    def __str__(self) -> str:
        return f"import {self.pk} of {self.file_name} ({self.status})"

    @property
    def is_running(self) -> bool:
        return self.status in (ImportStatus.CHECKING, ImportStatus.IMPORTING)

    @property
    def may_confirm(self) -> bool:
        return self.status == ImportStatus.CHECKED and not self.problems

    @property
    def percent(self) -> int:
        return round(100 * self.casebooks_done / self.casebooks_total) if self.casebooks_total else 0
