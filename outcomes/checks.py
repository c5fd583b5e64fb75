"""Automatic checks across the forms of one casebook that only this app can read: answers of
one form that another contradicts, a follow-up too old for the data cut-off, missing-data
codes where the analysis plan needs a value, and adverse event grades CTCAE v5.0 does not
define (rows moved from the old term list keep their grade; the form refuses new ones).
Registered with the casebook registry, run by `patients.checks`."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from outcomes.models import (
    REMISSIONS,
    AdverseEvent,
    DeathCause,
    FollowUp,
    ResponseAssessment,
    VitalStatus,
    VodSetting,
    VodSosEvent,
)
from patients.checks import Problem
from patients.clinical import is_answered, missing_code
from patients.models import Patient
from patients.registry import casebook
from patients.validators import show
from treatments.models import AlloHsct, EndOfTreatment, EndOfTreatmentReason, StatusAtHsct

DAYS_PER_MONTH = 30.4375


def _single(patient: Patient, model):
    return model.objects.filter(patient=patient, is_deleted=False).first()


def _form_of(model) -> str:
    return casebook.part_for(model).key


def _responder_without_response(patient: Patient, follow_up, end, hsct) -> list[Problem]:
    """Another form says the patient responded, but no CR/CRi assessment (with its date) is recorded."""
    if ResponseAssessment.objects.filter(patient=patient, is_deleted=False, response__in=REMISSIONS).exists():
        return []
    evidence = []
    if end and end.reason == EndOfTreatmentReason.RESPONSE:
        evidence.append(_("the end-of-treatment reason is a response"))
    if hsct and hsct.performed and hsct.status_at_hsct in (StatusAtHsct.CR_MRD_NEGATIVE, StatusAtHsct.CR_MRD_POSITIVE):
        evidence.append(_("the disease status at HSCT is a CR"))
    if follow_up and follow_up.relapsed:
        evidence.append(_("a relapse after response is recorded"))
    if not evidence:
        return []
    return [
        Problem(
            "responder-no-response",
            _form_of(ResponseAssessment),
            _("The patient responded (%(evidence)s) but no CR or CRi assessment, with its date, is recorded.")
            % {"evidence": "; ".join(evidence)},
        )
    ]


def _death_without_cause(follow_up) -> list[Problem]:
    """A death with no cause; a cause coded unknown is an answer."""
    if follow_up and follow_up.vital_status == VitalStatus.DEAD and not is_answered(follow_up, "death_cause"):
        return [Problem("death-no-cause", _form_of(FollowUp), _("A death is recorded with no cause."), follow_up,
                        "death_cause")]
    return []


def _hsct_consistency(patient: Patient, end, hsct, follow_up) -> list[Problem]:
    problems = []
    hsct_form = _form_of(AlloHsct)
    if hsct and hsct.performed and not hsct.hsct_date:
        problems.append(Problem("hsct-no-date", hsct_form, _("An HSCT is recorded with no date."), hsct, "hsct_date"))
    if end and end.reason == EndOfTreatmentReason.HSCT and not (hsct and hsct.performed):
        problems.append(
            Problem(
                "eot-hsct-without-hsct",
                hsct_form,
                _("IO ended for an HSCT, but no HSCT after IO is recorded."),
                hsct,
                "performed" if hsct else "",
            )
        )
    if (
        follow_up
        and follow_up.vital_status == VitalStatus.DEAD
        and follow_up.death_cause == DeathCause.VOD_SOS
        and not VodSosEvent.objects.filter(patient=patient, is_deleted=False).exists()
    ):
        problems.append(
            Problem(
                "death-vod-without-vod",
                _form_of(VodSosEvent),
                _("The cause of death is VOD/SOS, but no VOD/SOS event is recorded."),
            )
        )
    if (
        hsct is not None
        and not hsct.performed
        and VodSosEvent.objects.filter(patient=patient, is_deleted=False, setting=VodSetting.AFTER_HSCT).exists()
    ):
        problems.append(
            Problem("vod-after-missing-hsct", hsct_form, _("A VOD/SOS after HSCT is recorded, but no HSCT."), hsct,
                    "performed")
        )
    return problems


def _coded_where_a_value_is_needed(patient: Patient, hsct, follow_up) -> list[Problem]:
    """Questions answered with a missing-data code where the analysis plan needs the value:
    whether an HSCT followed IO (asked of everyone: the HSCT rate and overall survival by
    HSCT), and for a patient in CR/CRi whether the disease relapsed (the duration of response)."""
    needed = []
    if hsct is not None:
        needed.append((hsct, "performed", _("whether an allogeneic HSCT followed IO is part of the HSCT rate and of "
                                            "overall survival by HSCT")))
    if follow_up is not None and missing_code(follow_up, "relapsed") and ResponseAssessment.objects.filter(
            patient=patient, is_deleted=False, response__in=REMISSIONS).exists():
        needed.append((follow_up, "relapsed", _("the patient reached CR/CRi: the duration of response ends at the "
                                                "relapse")))
    problems = []
    for row, field_name, why in needed:
        code = missing_code(row, field_name)
        if code:
            problems.append(Problem(
                "coded-value-needed", _form_of(type(row)),
                _("Answered with the code %(code)s, but the analysis needs Yes or No: %(why)s. Look for the "
                  "answer in the source documents.") % {"code": code, "why": why},
                row, field_name))
    return problems


def _grades_ctcae_lacks(patient: Patient) -> list[Problem]:
    """Adverse events graded with a grade CTCAE v5.0 does not define for their term: events
    recorded on the old term list keep the grade they had; the form refuses such a grade."""
    problems = []
    for event in AdverseEvent.objects.filter(patient=patient, is_deleted=False).select_related("ctcae_term"):
        grades = event.ctcae_term.grades
        if event.grade is not None and event.grade not in grades:
            problems.append(Problem(
                "ae-grade-not-in-ctcae", _form_of(AdverseEvent),
                _("CTCAE v5.0 has no grade %(grade)s for %(term)s (its grades are %(grades)s): correct the grade, "
                  "or the term if another describes the event.")
                % {"grade": event.grade, "term": event.term_label, "grades": ", ".join(str(g) for g in grades)},
                event, "grade"))
    return problems


def _stale_follow_up(follow_up, *, cutoff: dt.date, months: int) -> list[Problem]:
    """An alive patient last seen more than `months` months before the data cut-off."""
    if not follow_up or follow_up.vital_status != VitalStatus.ALIVE or not follow_up.last_contact_date:
        return []
    limit = cutoff - dt.timedelta(days=round(months * DAYS_PER_MONTH))
    if follow_up.last_contact_date >= limit:
        return []
    return [
        Problem(
            "follow-up-stale",
            _form_of(FollowUp),
            _(
                "The last contact (%(last)s) is more than %(months)d months before the data cut-off (%(cutoff)s): "
                "update the follow-up."
            )
            % {"last": show(follow_up.last_contact_date), "months": months, "cutoff": show(cutoff)},
            follow_up,
            "last_contact_date",
        )
    ]


def outcome_consistency_problems(patient: Patient, *, cutoff: dt.date, follow_up_months: int) -> list[Problem]:
    """The problems across the treatment and outcome forms of one enrolled casebook."""
    follow_up = _single(patient, FollowUp)
    end = _single(patient, EndOfTreatment)
    hsct = _single(patient, AlloHsct)
    return [
        *_coded_where_a_value_is_needed(patient, hsct, follow_up),  # says more than the checks that find no HSCT
        *_responder_without_response(patient, follow_up, end, hsct),
        *_death_without_cause(follow_up),
        *_hsct_consistency(patient, end, hsct, follow_up),
        *_grades_ctcae_lacks(patient),  # before the re-run edit check of the same grade: it says why
        *_stale_follow_up(follow_up, cutoff=cutoff, months=follow_up_months),
    ]
