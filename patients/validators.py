"""Edit checks of the casebook, written once for forms, the API and imports.

Each check takes the row being saved (a model instance, saved or not, or any object
with the same attributes) and a `CasebookDates`: the dates of the rest of the patient's
casebook, loaded by `patients.selectors.casebook_dates_get`. Checks raise Django's
`ValidationError` with a message per field, so a form shows it next to the field
and the API returns it under the field's name. They need no database.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from patients.clinical import MissingCode, is_answered, is_empty
from patients.models import ADULT_AGE_YEARS, STUDY_WINDOW, EnrollmentStatus


@dataclass(frozen=True)
class Event:
    """One dated entry of the casebook, named as a user would say it."""

    label: str
    date: dt.date


@dataclass(frozen=True)
class CasebookDates:
    """The dates of a patient's casebook, minus the row being checked."""

    today: dt.date
    date_of_birth: dt.date | None = None
    c1d1: dt.date | None = None
    diagnosis: dt.date | None = None
    prior_lines: tuple[Event, ...] = ()
    prior_line_numbers: tuple[int, ...] = ()
    cycles: tuple[tuple[int, dt.date], ...] = ()  # (cycle number, start date)
    after_c1d1: tuple[Event, ...] = ()  # responses, HSCT, AEs, VOD/SOS, relapse: all on or after C1D1
    hsct_date: dt.date | None = None
    after_hsct_vod_dates: tuple[dt.date, ...] = ()
    grade5_ae_dates: tuple[dt.date, ...] = ()
    death_date: dt.date | None = None
    last_contact: dt.date | None = None
    first_response_date: dt.date | None = None

    @property
    def end_of_record(self) -> Event | None:
        """The date nothing may come after: death, or else the last contact."""
        if self.death_date:
            return Event(_("the date of death"), self.death_date)
        if self.last_contact:
            return Event(_("the date of last contact"), self.last_contact)
        return None


# Characters that show nothing: spaces, controls, format characters (zero-width space, joiners,
# direction marks, BOM), unassigned or private code points, and the "blank" letters of some scripts.
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def reason_text(text: str | None) -> str:
    """A reason (for a change, an exclusion, a withdrawal, an answer) as recorded: trimmed,
    and empty when nothing in it can be read, so that a reason of spaces or of invisible
    characters ("\u200b") counts as no reason wherever one is asked."""
    text = (text or "").strip()
    if any(unicodedata.category(char) not in _INVISIBLE_CATEGORIES and char not in _BLANK_LETTERS for char in text):
        return text
    return ""


def show(day: dt.date) -> str:
    return date_format(day, "SHORT_DATE_FORMAT")


@dataclass
class Findings:
    """Collects the messages of one row's checks, then raises them together."""

    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, field_name: str, message: str) -> None:
        self.errors[field_name].append(message)

    def not_before(self, field_name: str, value: dt.date | None, bound: Event | None) -> None:
        if value and bound and bound.date and value < bound.date:
            self.add(
                field_name,
                _("Must be on or after %(label)s (%(date)s).") % {"label": bound.label, "date": show(bound.date)},
            )

    def not_after(self, field_name: str, value: dt.date | None, bound: Event | None) -> None:
        if value and bound and bound.date and value > bound.date:
            self.add(
                field_name,
                _("Must be on or before %(label)s (%(date)s).") % {"label": bound.label, "date": show(bound.date)},
            )

    def within_record(self, field_name: str, value: dt.date | None, dates: CasebookDates) -> None:
        """A date after C1D1: not before C1D1, not after death or last contact."""
        if dates.c1d1:
            self.not_before(field_name, value, Event(_("IO cycle 1 day 1"), dates.c1d1))
        self.not_after(field_name, value, dates.end_of_record)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(dict(self.errors))


# The first plausible date of any casebook: nothing before it, and nothing after today.
PLAUSIBLE_SINCE = dt.date(1900, 1, 1)


def date_field_names(model) -> list[str]:
    """The calendar dates of a form's model (not its timestamps)."""
    return [f.name for f in model._meta.concrete_fields
            if isinstance(f, models.DateField) and not isinstance(f, models.DateTimeField)]


def check_dates_plausible(row, field_names, dates: CasebookDates) -> None:
    """Every date of the row is a plausible one: on or after 1900-01-01, and not in the future."""
    found = Findings()
    for field_name in field_names:
        value = getattr(row, field_name, None)
        if not isinstance(value, dt.date):
            continue
        if value < PLAUSIBLE_SINCE:
            found.add(field_name, _("This date is not plausible: it is before %(date)s.") % {"date": show(PLAUSIBLE_SINCE)})
        elif value > dates.today:
            found.add(field_name, _("This date is in the future."))
    found.raise_if_any()


def check_missing_codes(part, row) -> None:
    """A missing-data code answers only a question of the part that takes one (the
    registry's `Part.codable`), is one of `MissingCode`, and comes instead of a value."""
    codes = row.missing_codes
    if not isinstance(codes, dict):
        raise ValidationError({"missing_codes": _("Missing-data codes are given per question.")})
    found = Findings()
    for field_name, code in codes.items():
        if not part.accepts_code(field_name):
            found.add(field_name if field_name in {f.name for f in part.question_fields()} else "missing_codes",
                      _("%(field)s takes no missing-data code: give a value.") % {"field": field_name})
        elif code not in MissingCode.values:
            found.add(field_name, _("Not a missing-data code: %(code)s (the codes are %(codes)s).")
                      % {"code": code, "codes": ", ".join(MissingCode.values)})
        elif not is_empty(getattr(row, field_name)):
            found.add(field_name, _("Give a value or a missing-data code, not both."))
    found.raise_if_any()


def edit_check(part, row, dates: CasebookDates) -> None:
    """The edit check that every write path runs (forms, API, imports, the automatic checks):
    the plausibility of every date of the row, then the form's own checks. A date out of the
    plausible range makes the comparisons meaningless, so it is reported alone."""
    check_dates_plausible(row, date_field_names(part.model), dates)
    part.check(row, dates)


def latest(events) -> Event | None:
    return max(events, key=lambda event: event.date, default=None)


def earliest(events) -> Event | None:
    return min(events, key=lambda event: event.date, default=None)


def check_patient(patient, dates: CasebookDates) -> None:
    """Enrollment & eligibility: dates, the study window, age, and status against eligibility."""
    found = Findings()
    c1d1 = patient.c1d1_date
    if c1d1:
        if not STUDY_WINDOW[0] <= c1d1 <= STUDY_WINDOW[1]:
            found.add(
                "c1d1_date",
                _("C1D1 must be inside the study window (%(start)s to %(end)s).")
                % {"start": show(STUDY_WINDOW[0]), "end": show(STUDY_WINDOW[1])},
            )
        age = patient.age_at_c1d1
        if age is not None and age < ADULT_AGE_YEARS:
            found.add("date_of_birth", _("The patient must be 18 or older at C1D1 (age at C1D1: %(age).1f).") % {"age": age})
        found.not_before("c1d1_date", c1d1, dates.diagnosis and Event(_("the date of diagnosis"), dates.diagnosis))
        found.not_before("c1d1_date", c1d1, latest(dates.prior_lines))
        found.not_after("c1d1_date", c1d1, earliest(dates.after_c1d1))
        found.not_after("c1d1_date", c1d1, dates.end_of_record)
        first_cycle = dict(dates.cycles).get(1)
        if first_cycle and first_cycle != c1d1:
            found.add(
                "c1d1_date",
                _("Must equal the start date of IO cycle 1 (%(date)s).") % {"date": show(first_cycle)},
            )
    if patient.enrollment_status == EnrollmentStatus.ENROLLED and not patient.is_eligible:
        found.add(
            "enrollment_status",
            _("Not eligible (%(unmet)s): record the patient as excluded, with the reason.")
            % {"unmet": "; ".join(patient.unmet_eligibility)},
        )
    if patient.enrollment_status == EnrollmentStatus.EXCLUDED and not reason_text(patient.exclusion_reason):
        found.add("exclusion_reason", _("Give the reason for exclusion."))
    if patient.enrollment_status == EnrollmentStatus.WITHDRAWN:
        if not patient.withdrawal_date:
            found.add("withdrawal_date", _("Give the date of withdrawal."))
        if not reason_text(patient.withdrawal_reason):
            found.add("withdrawal_reason", _("Give the reason for withdrawal."))
    found.raise_if_any()


def check_baseline(baseline, dates: CasebookDates) -> None:
    """Baseline: birth ≤ diagnosis ≤ prior lines ≤ C1D1; the prior HSCT in the same span."""
    found = Findings()
    diagnosis = baseline.diagnosis_date
    if dates.date_of_birth:
        found.not_before("diagnosis_date", diagnosis, Event(_("the date of birth"), dates.date_of_birth))
    found.not_after("diagnosis_date", diagnosis, earliest(dates.prior_lines))
    if dates.c1d1:
        found.not_after("diagnosis_date", diagnosis, Event(_("IO cycle 1 day 1"), dates.c1d1))
    if baseline.prior_allo_hsct and not is_answered(baseline, "prior_allo_hsct_date"):
        found.add("prior_allo_hsct_date", _("Give the date of the allogeneic HSCT."))
    if baseline.prior_allo_hsct_date:
        if not baseline.prior_allo_hsct:
            found.add("prior_allo_hsct_date", _("Only when there was an allogeneic HSCT before IO."))
        found.not_before("prior_allo_hsct_date", baseline.prior_allo_hsct_date, Event(_("the date of diagnosis"), diagnosis))
        if dates.c1d1:
            found.not_after("prior_allo_hsct_date", baseline.prior_allo_hsct_date, Event(_("IO cycle 1 day 1"), dates.c1d1))
    found.raise_if_any()
