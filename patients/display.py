"""How stored values are shown on the pages, and the columns of a repeating form's table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import models
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from patients.clinical import MissingCode, missing_code
from patients.registry import Column


def show_value(model_field, value) -> str:
    """A stored value as the page shows it, in the active language."""
    if value is None or value == "":
        return "—"
    if getattr(model_field, "flatchoices", None):
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, dt.datetime):
        return date_format(value, "SHORT_DATETIME_FORMAT")
    if isinstance(value, dt.date):
        return date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, Decimal):
        # 0.40 and 0.4 are the same dose: show the shortest form.
        return number_format(value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize())
    return str(value)


def show_code(code: str) -> str:
    """A missing-data code as the pages show it: the code, with its meaning for the reader
    (on hover, and for screen readers)."""
    label = MissingCode(code).label if code in MissingCode.values else code
    return format_html('<abbr class="missing-code-value" title="{label}">{code}</abbr>'
                       '<span class="visually-hidden"> ({label})</span>', code=code, label=label)


def show_answer(model_field, row, name: str) -> str:
    """A question's answer on a row: its value, or the missing-data code given instead."""
    code = missing_code(row, name)
    if code and (getattr(row, name, None) is None or getattr(row, name, None) == ""):
        return show_code(code)
    return show_value(model_field, getattr(row, name))


def days_from_c1d1(patient, day: dt.date | None) -> int | None:
    """Days from IO cycle 1 day 1 (day 0) to `day` (derived, never typed)."""
    if not (patient.c1d1_date and day):
        return None
    return (day - patient.c1d1_date).days


def field_column(model: type[models.Model], name: str, *, numeric: bool = False) -> Column:
    """A column showing one question of the rows."""
    model_field = model._meta.get_field(name)
    return Column(
        model_field.verbose_name,
        lambda row, patient: show_answer(model_field, row, name),
        numeric,
        nowrap=numeric or isinstance(model_field, models.DateField),
        field_name=name,
    )


def day_column(date_field: str) -> Column:
    """Days from C1D1 to a date of the row (derived)."""

    def value(row, patient):
        days = days_from_c1d1(patient, getattr(row, date_field))
        return "—" if days is None else f"{days:+d}"

    return Column(gettext_lazy("Days from C1D1"), value, numeric=True, derived=True, nowrap=True)


def derived_column(label, value, *, numeric: bool = False, field_name: str = "") -> Column:
    """A column computed from the row, never typed; or, with `field_name`, a question shown
    in a way of its own (a term with its specification)."""
    return Column(label, lambda row, patient: value(row), numeric=numeric, derived=not field_name,
                  field_name=field_name)
