"""What every case report form row has in common: an edit history with reasons,
an optimistic-locking version, soft deletion, and marked direct identifiers."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


def direct_identifier(field: models.Field) -> models.Field:
    """Mark a field as a direct identifier: stored, shown to site staff, never exported."""
    field.direct_identifier = True
    return field


def is_direct_identifier(field: models.Field) -> bool:
    return getattr(field, "direct_identifier", False)


class ClinicalRecord(models.Model):
    """Base of every clinical model. Writes go through the CRF services, which bump
    `version` (optimistic locking) and record who changed what and why."""

    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    is_deleted = models.BooleanField(_("deleted"), default=False, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    history = HistoricalRecords(inherit=True)

    class Meta:
        abstract = True

    # The key of the casebook form this row belongs to (patients.forms_catalog.FormKey).
    form_key: str = ""
    # The question that tells one row of a repeating form from the others ("IO cycle 2");
    # empty for a single form, whose row is named by the form.
    row_label_field: str = ""

    @property
    def casebook_patient_id(self) -> int:
        return self.patient_id

    def casebook_check(self, casebook) -> None:
        """Edit checks against the rest of the casebook; overridden per form."""


def row_label(model: type[ClinicalRecord], row) -> str:
    """A row as a person names it: "IO cycle 2", "response assessment 2017-04-20", or the
    model's name for a single form. `row` may also be a historical record of the model."""
    name = str(model._meta.verbose_name)
    if not model.row_label_field:
        return name
    model_field = model._meta.get_field(model.row_label_field)
    value = getattr(row, model.row_label_field)
    if value is None or value == "":
        return name
    if model_field.flatchoices:
        value = dict(model_field.flatchoices).get(value, value)
    elif isinstance(value, dt.date):
        value = date_format(value, "SHORT_DATE_FORMAT")
    return f"{name} {value}"
