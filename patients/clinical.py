"""What every case report form row has in common: an edit history with reasons,
an optimistic-locking version, soft deletion, and marked direct identifiers."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


def direct_identifier(field: models.Field) -> models.Field:
    """Mark a field as a direct identifier: stored, shown to site staff, never exported."""
    field.direct_identifier = True
    return field


def is_direct_identifier(field: models.Field) -> bool:
    return getattr(field, "direct_identifier", False)


def is_free_text(field: models.Field) -> bool:
    """Free text: a character field a user types without a code list (regimens, reasons,
    'other' text). Anything can be typed there, a hospital ID included."""
    return isinstance(field, models.CharField | models.TextField) and not field.choices and field.editable


# Shown instead of a value to whoever may not see it, and in every file.
IDENTIFIER_MASK = "[direct identifier]"
FREE_TEXT_MASK = "[free text]"


def mask_for(field: models.Field, *, identifiers_shown: bool) -> str | None:
    """What a user sees instead of the field's value, or None when they see the value. The
    users who may not see identifiers (`sites.roles.can_see_identifiers`) see neither direct
    identifiers nor free text, as the exports give neither: the one rule of every page and
    endpoint that shows clinical values."""
    if identifiers_shown:
        return None
    if is_direct_identifier(field):
        return IDENTIFIER_MASK
    if is_free_text(field):
        return FREE_TEXT_MASK
    return None


class ClinicalRecord(models.Model):
    """Base of every clinical model. Writes go through the CRF services, which bump
    `version` (optimistic locking) and record who changed what and why. Which form a
    model belongs to, and its edit check, is declared in the casebook registry."""

    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    is_deleted = models.BooleanField(_("deleted"), default=False, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    history = HistoricalRecords(inherit=True)

    class Meta:
        abstract = True

    @property
    def casebook_patient_id(self) -> int:
        return self.patient_id
