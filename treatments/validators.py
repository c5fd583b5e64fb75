"""Edit checks of prior lines, IO cycles, end of treatment and HSCT (see patients.validators)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from patients.clinical import is_answered
from patients.validators import CasebookDates, Event, Findings, earliest, reason_text, show
from treatments.models import MAX_DOSE_PER_DAY, EndOfTreatmentReason


def check_prior_line(line, dates: CasebookDates) -> None:
    """Diagnosis ≤ start ≤ end ≤ C1D1; line numbers unique."""
    found = Findings()
    if line.line_number in dates.prior_line_numbers:
        found.add("line_number", _("Line %(number)s is already recorded.") % {"number": line.line_number})
    for field_name in ("start_date", "end_date"):
        value = getattr(line, field_name)
        if dates.diagnosis:
            found.not_before(field_name, value, Event(_("the date of diagnosis"), dates.diagnosis))
        if dates.c1d1:
            found.not_after(field_name, value, Event(_("IO cycle 1 day 1"), dates.c1d1))
    if line.start_date and line.end_date and line.end_date < line.start_date:
        found.add("end_date", _("The end date is before the start date."))
    found.raise_if_any()


def check_io_cycle(cycle, dates: CasebookDates) -> None:
    """Unique, consecutive cycle numbers in date order; cycle 1 on C1D1; 0-1.0 mg/m² a day."""
    found = Findings()
    others = dict(dates.cycles)
    number = cycle.cycle_number
    if number in others:
        found.add("cycle_number", _("Cycle %(number)s is already recorded.") % {"number": number})
    elif number and number > 1 and number - 1 not in others:
        found.add("cycle_number", _("Record cycle %(number)s first: cycle numbers are consecutive.") % {"number": number - 1})
    found.within_record("start_date", cycle.start_date, dates)
    if number == 1 and dates.c1d1 and cycle.start_date and cycle.start_date != dates.c1d1:
        found.add("start_date", _("Cycle 1 starts on C1D1 (%(date)s).") % {"date": show(dates.c1d1)})
    if cycle.start_date and number:
        for other_number, other_start in others.items():
            if other_number < number and other_start >= cycle.start_date:
                found.add("start_date", _("Must be after the start of cycle %(n)s (%(date)s).") % {"n": other_number, "date": show(other_start)})
            if other_number > number and other_start <= cycle.start_date:
                found.add("start_date", _("Must be before the start of cycle %(n)s (%(date)s).") % {"n": other_number, "date": show(other_start)})
    for day in ("dose_day1", "dose_day8", "dose_day15"):
        dose = getattr(cycle, day)
        if dose is not None and not 0 <= dose <= MAX_DOSE_PER_DAY:
            found.add(day, _("The dose per day must be between 0 and %(max)s mg/m².") % {"max": MAX_DOSE_PER_DAY})
    if (cycle.delayed or cycle.dose_reduced) and not reason_text(cycle.modification_reason):
        found.add("modification_reason", _("Say why the cycle was delayed or reduced."))
    found.raise_if_any()


def check_end_of_treatment(end, dates: CasebookDates) -> None:
    found = Findings()
    if end.reason == EndOfTreatmentReason.OTHER and not reason_text(end.reason_other):
        found.add("reason_other", _("Describe the other reason."))
    if end.reason == EndOfTreatmentReason.HSCT and dates.hsct_date is None and dates.last_contact:
        found.add("reason", _("No HSCT after IO is recorded on the HSCT form."))
    if end.reason == EndOfTreatmentReason.DEATH and dates.last_contact and not dates.death_date:
        found.add("reason", _("No death is recorded on the follow-up form."))
    found.raise_if_any()


def check_hsct(hsct, dates: CasebookDates) -> None:
    """C1D1 ≤ HSCT ≤ death/last contact; a VOD/SOS 'after HSCT' must not precede it."""
    found = Findings()
    if hsct.performed:
        if not hsct.hsct_date:
            found.add("hsct_date", _("Give the date of the HSCT."))
        found.within_record("hsct_date", hsct.hsct_date, dates)
        first_vod = earliest(Event(_("a VOD/SOS after HSCT"), day) for day in dates.after_hsct_vod_dates)
        found.not_after("hsct_date", hsct.hsct_date, first_vod)
        for field_name in ("donor", "conditioning", "status_at_hsct", "tbi"):
            if not is_answered(hsct, field_name):
                found.add(field_name, _("This field is required when an HSCT was performed."))
        if hsct.io_cycles_before and dates.cycles and hsct.io_cycles_before > len(dates.cycles):
            found.add("io_cycles_before", _("More than the %(n)s IO cycles recorded.") % {"n": len(dates.cycles)})
    else:
        if hsct.hsct_date:
            found.add("hsct_date", _("Only when an HSCT was performed."))
        if dates.after_hsct_vod_dates:
            found.add("performed", _("A VOD/SOS after HSCT is recorded: the HSCT must be recorded too."))
    found.raise_if_any()
