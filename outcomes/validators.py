"""Edit checks of responses, adverse events, VOD/SOS and follow-up (see patients.validators)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from outcomes.models import REMISSION_BLAST_LIMIT, REMISSIONS, MrdStatus, VitalStatus, VodSetting
from patients.clinical import is_answered
from patients.validators import CasebookDates, Event, Findings, latest, reason_text, show


def check_response(assessment, dates: CasebookDates) -> None:
    """C1D1 ≤ date ≤ death/last contact; CR and CRi need marrow blasts below 5%."""
    found = Findings()
    found.within_record("assessment_date", assessment.assessment_date, dates)
    if assessment.response in REMISSIONS:
        blasts = assessment.marrow_blasts_pct
        if not is_answered(assessment, "marrow_blasts_pct"):
            found.add("marrow_blasts_pct", _("Give the marrow blasts: CR and CRi need them below 5%."))
        elif blasts is not None and blasts >= REMISSION_BLAST_LIMIT:
            found.add("marrow_blasts_pct", _("CR and CRi need marrow blasts below 5%% (%(blasts)s%% entered).") % {"blasts": blasts})
    done = assessment.mrd_status != MrdStatus.NOT_DONE
    if done and not assessment.mrd_method:
        found.add("mrd_method", _("Give the method of the MRD test."))
    if not done and assessment.mrd_method:
        found.add("mrd_method", _("No method when MRD was not done."))
    found.raise_if_any()


def check_adverse_event(event, dates: CasebookDates) -> None:
    """The grade is one CTCAE v5.0 defines for the term; an "Other, specify" term has its
    specified term, and no other term has one; C1D1 ≤ onset ≤ resolution ≤ death/last
    contact; grade 5 ⇔ death on the resolution date."""
    found = Findings()
    term = event.ctcae_term if event.ctcae_term_id else None
    if term is not None:
        if event.grade and event.grade not in term.grades:
            found.add("grade", _("%(term)s has no grade %(grade)s in CTCAE v5.0: its grades are %(grades)s.") % {
                "term": term.term, "grade": event.grade, "grades": ", ".join(str(grade) for grade in term.grades)})
        if term.other_specify and not reason_text(event.other_specify):
            found.add("other_specify", _("Name the event: an 'Other, specify' term needs the specified term."))
        if not term.other_specify and event.other_specify:
            found.add("other_specify", _("Only for an 'Other, specify' term."))
    found.within_record("onset_date", event.onset_date, dates)
    found.within_record("resolution_date", event.resolution_date, dates)
    if event.onset_date and event.resolution_date and event.resolution_date < event.onset_date:
        found.add("resolution_date", _("The resolution date is before the onset date."))
    if event.grade == 5:
        if not dates.death_date:
            found.add("grade", _("Grade 5 means death: record the death on the follow-up form first."))
        elif event.resolution_date != dates.death_date:
            found.add(
                "resolution_date",
                _("A grade 5 event ends on the date of death (%(date)s).") % {"date": show(dates.death_date)},
            )
    found.raise_if_any()


def check_vod(vod, dates: CasebookDates) -> None:
    """C1D1 ≤ diagnosis ≤ death/last contact; 'after HSCT' needs an HSCT on or before it."""
    found = Findings()
    found.within_record("diagnosis_date", vod.diagnosis_date, dates)
    hsct = dates.hsct_date
    if vod.setting == VodSetting.AFTER_HSCT:
        if hsct is None:
            found.add("setting", _("A VOD/SOS after HSCT needs the HSCT recorded on the HSCT form first."))
        else:
            found.not_before("diagnosis_date", vod.diagnosis_date, Event(_("the HSCT"), hsct))
    elif vod.setting == VodSetting.DURING_IO and hsct and vod.diagnosis_date and vod.diagnosis_date >= hsct:
        found.add("setting", _("The HSCT (%(date)s) came before this VOD/SOS: the setting is 'after HSCT'.") % {"date": show(hsct)})
    if vod.outcome == "fatal" and dates.last_contact and not dates.death_date:
        found.add("outcome", _("A fatal VOD/SOS needs the death recorded on the follow-up form."))
    found.raise_if_any()


def check_follow_up(follow_up, dates: CasebookDates) -> None:
    """Last contact after everything; death the last date; relapse after a response;
    grade 5 adverse events on the date of death."""
    found = Findings()
    everything = [*dates.after_c1d1, *dates.prior_lines]
    if dates.c1d1:
        everything.append(Event(_("IO cycle 1 day 1"), dates.c1d1))
    last_event = latest(everything)
    dead = follow_up.vital_status == VitalStatus.DEAD
    if dead:
        if not follow_up.death_date:
            found.add("death_date", _("Give the date of death."))
        if not is_answered(follow_up, "death_cause"):
            found.add("death_cause", _("Give the cause of death."))
        if follow_up.death_date and follow_up.last_contact_date != follow_up.death_date:
            found.add("last_contact_date", _("For a patient who died, the last contact is the date of death."))
        found.not_before("death_date", follow_up.death_date, last_event)
        for day in dates.grade5_ae_dates:
            if follow_up.death_date and day != follow_up.death_date:
                found.add(
                    "death_date",
                    _("A grade 5 adverse event ends on %(date)s: the death must be on that date.") % {"date": show(day)},
                )
    else:
        if follow_up.death_date:
            found.add("death_date", _("Only for a patient who died."))
        if follow_up.death_cause:
            found.add("death_cause", _("Only for a patient who died."))
        if dates.grade5_ae_dates:
            found.add("vital_status", _("A grade 5 adverse event is recorded: the patient died."))
    found.not_before("last_contact_date", follow_up.last_contact_date, last_event)
    if follow_up.relapsed:
        if not is_answered(follow_up, "relapse_date"):
            found.add("relapse_date", _("Give the date of relapse."))
        elif not dates.first_response_date:
            found.add("relapsed", _("No CR or CRi is recorded: a relapse follows a response."))
        else:
            found.not_before("relapse_date", follow_up.relapse_date, Event(_("the first CR/CRi"), dates.first_response_date))
        found.not_after("relapse_date", follow_up.relapse_date, Event(_("the date of last contact"), follow_up.last_contact_date))
    elif follow_up.relapse_date:
        found.add("relapse_date", _("Only when the patient relapsed."))
    found.raise_if_any()
