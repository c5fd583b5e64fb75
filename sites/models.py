from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class Center(models.Model):
    """A participating hospital. Its code prefixes the study IDs of its patients."""

    code = models.CharField(
        _("center code"),
        max_length=8,
        unique=True,
        validators=[RegexValidator(r"^[A-Z]{2}[0-9]{2}$", _("Two capital letters and two digits, e.g. RM01."))],
    )
    name = models.CharField(_("name"), max_length=200)
    city = models.CharField(_("city"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    # The last study-ID sequence number handed out; only ever grows, so IDs are never reused.
    last_sequence = models.PositiveIntegerField(_("last sequence number"), default=0, editable=False)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff"),
        related_name="centers",
        blank=True,
        help_text=_("Site coordinators and investigators who work for this center."),
    )

    history = HistoricalRecords(excluded_fields=["last_sequence"], m2m_fields=[members])

    class Meta:
        ordering = ["code"]
        verbose_name = _("center")
        verbose_name_plural = _("centers")

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"
