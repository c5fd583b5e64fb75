import hashlib

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


def api_token_digest(secret: str) -> str:
    """What is stored of a token: its SHA-256. The secret is random (128 bits or more), so a
    plain hash is as strong as a salted one and lets the token be found by its digest."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokenRevocation(models.TextChoices):
    OWNER = "owner", _("revoked by its owner")
    DEACTIVATED = "deactivated", _("account deactivated")
    REPLACED = "replaced", _("replaced by a new token")


class ApiTokenKind(models.TextChoices):
    """Which API a token opens. A REST token (40 lowercase hex digits, sent as
    `Authorization: Token ...`) opens the REST API; a REDCap token (32 uppercase hex digits,
    sent as `token=` in the body, as REDCap clients do) opens the REDCap-compatible API. A
    user has any number of REST tokens and at most one live REDCap token, as in REDCap."""

    REST = "rest", _("REST API")
    REDCAP = "redcap", _("REDCap API")


class ApiToken(models.Model):
    """A credential of an API client (REST or REDCap: `kind`). Only the digest of the secret is kept; the secret is
    shown once, when the token is made. Which tokens are valid is decided in sites/selectors.py."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens",
                             verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("API"), max_length=8, choices=ApiTokenKind.choices, default=ApiTokenKind.REST,
                            editable=False)
    digest = models.CharField(_("SHA-256 of the secret"), max_length=64, unique=True, editable=False)
    # The first characters of the secret, so that its owner recognises it in a list.
    prefix = models.CharField(_("first characters"), max_length=8, editable=False)
    # The user's password as it was when the token was made (a keyed hash of its hash):
    # a password changed by any path (page, admin, reset, shell) ends the token.
    password_fingerprint = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_reason = models.CharField(_("why revoked"), max_length=20, choices=ApiTokenRevocation.choices, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        constraints = [
            models.UniqueConstraint(fields=["user"], condition=models.Q(kind="redcap", revoked_at__isnull=True),
                                    name="api_token_one_live_redcap_token_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
