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


def specified_term(field: models.Field) -> models.Field:
    """Mark a typed field as a term, not free text: the name of an event a terminology
    lacks (an "Other, specify" adverse event), a few words with no digits, validated as
    such. It is exported like a coded value."""
    field.specified_term = True
    return field


def is_free_text(field: models.Field) -> bool:
    """Free text: a character field a user types without a code list (regimens, reasons,
    'other' text). Anything can be typed there, a hospital ID included."""
    return (isinstance(field, models.CharField | models.TextField) and not field.choices and field.editable
            and not getattr(field, "specified_term", False))


class MissingCode(models.TextChoices):
    """Why a question has no value, chosen instead of one where the source record lacks it.
    A coded question counts as answered; its value stays empty (NULL)."""

    UNKNOWN = "UNK", _("Unknown (not in the source)")
    NOT_DONE = "ND", _("Not done")
    NOT_APPLICABLE = "NA", _("Not applicable")


def is_empty(value) -> bool:
    return value is None or value == ""


def missing_code(row, field_name: str) -> str | None:
    """The missing-data code of the row's question, or None when it has none."""
    return (getattr(row, "missing_codes", None) or {}).get(field_name)


def is_answered(row, field_name: str) -> bool:
    """A question is answered by a value or by a missing-data code."""
    return not is_empty(getattr(row, field_name, None)) or missing_code(row, field_name) is not None


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
    model belongs to, its edit check, and which of its questions take a missing-data code
    instead of a value, is declared in the casebook registry."""

    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    is_deleted = models.BooleanField(_("deleted"), default=False, editable=False)
    # {question: MissingCode} for the questions answered with a code instead of a value
    missing_codes = models.JSONField(_("missing-data codes"), default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    history = HistoricalRecords(inherit=True)

    class Meta:
        abstract = True

    @property
    def casebook_patient_id(self) -> int:
        return self.patient_id


class RepeatingRecord(ClinicalRecord):
    """Base of the models of repeating parts (many rows per patient: IO cycles, adverse
    events). A row's `repeat_instance` is its number among every row of its part for the patient,
    deleted rows included, given when the row is created (`patients.services.instances_number`)
    and never changed: a deletion leaves a gap rather than renumbering the rows after it, as
    REDCap numbers the instances of a repeating instrument."""

    repeat_instance = models.PositiveIntegerField(_("instance"), editable=False)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(fields=["patient", "repeat_instance"], name="%(app_label)s_%(class)s_unique_instance"),
        ]
