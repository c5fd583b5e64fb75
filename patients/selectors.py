"""Reads of patients and their forms, scoped to the requesting user.

Every view, endpoint, export and report reaches clinical rows through these functions,
so a coordinator cannot see another center's patients by any path.
"""

from __future__ import annotations

from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils import timezone

from patients.models import BaselineDisease, FormState, Patient
from patients.validators import Casebook, Event
from sites.selectors import center_ids_for_user


def patient_list_for_user(*, user) -> QuerySet[Patient]:
    return Patient.objects.filter(center__in=center_ids_for_user(user=user), is_deleted=False).select_related("center")


def patient_get_for_user(*, user, study_id: str) -> Patient:
    """The patient, or 404 when it does not exist or the user may not see it (the same answer)."""
    try:
        return patient_list_for_user(user=user).get(study_id=study_id)
    except Patient.DoesNotExist:
        raise Http404 from None


def form_rows_for_user(*, user, model: type[Model]) -> QuerySet:
    """The live rows of one form model that the user may see."""
    return model.objects.filter(
        patient__center__in=center_ids_for_user(user=user), patient__is_deleted=False, is_deleted=False
    ).select_related("patient")


def baseline_list_for_user(*, user) -> QuerySet[BaselineDisease]:
    return form_rows_for_user(user=user, model=BaselineDisease)


def form_state_list_for_user(*, user) -> QuerySet[FormState]:
    return FormState.objects.filter(patient__center__in=center_ids_for_user(user=user))


def casebook_get(*, patient: Patient, excluding: Model | None = None) -> Casebook:
    """The dates of the patient's casebook that edit checks compare against, without
    `excluding` (the row being checked, whose new values the check gets itself).

    Reverse relations keep this app free of imports from the apps built on it."""

    def live(manager):
        rows = manager.filter(is_deleted=False)
        if excluding is not None and excluding.pk and rows.model is type(excluding):
            rows = rows.exclude(pk=excluding.pk)
        return rows

    def single(related_name: str):
        model = Patient._meta.get_field(related_name).related_model
        if excluding is not None and isinstance(excluding, model):
            return None
        return model.objects.filter(patient=patient, is_deleted=False).first()

    baseline = single("baseline")
    hsct = single("hsct")
    follow_up = single("follow_up")
    prior_lines = list(live(patient.prior_lines).values_list("line_number", "start_date", "end_date"))
    cycles = list(live(patient.io_cycles).values_list("cycle_number", "start_date"))
    responses = list(live(patient.responses).values_list("assessment_date", "response"))
    adverse_events = list(live(patient.adverse_events).values_list("onset_date", "resolution_date", "grade"))
    vods = list(live(patient.vod_events).values_list("diagnosis_date", "setting"))

    prior_events = []
    for number, start, end in prior_lines:
        prior_events.append(Event(f"prior line {number} start", start))
        if end:
            prior_events.append(Event(f"prior line {number} end", end))
    after = [Event(f"IO cycle {number}", start) for number, start in cycles if number > 1]
    after += [Event("response assessment", day) for day, _ in responses]
    after += [Event("adverse event onset", onset) for onset, _, _ in adverse_events]
    after += [Event("adverse event resolution", end) for _, end, _ in adverse_events if end]
    after += [Event("VOD/SOS", day) for day, _ in vods]
    hsct_date = hsct.hsct_date if hsct and hsct.performed else None
    if hsct_date:
        after.append(Event("HSCT", hsct_date))
    if follow_up and follow_up.relapse_date:
        after.append(Event("relapse", follow_up.relapse_date))
    remissions = [day for day, response in responses if response in ("cr", "cri")]
    return Casebook(
        today=timezone.localdate(),
        date_of_birth=patient.date_of_birth,
        c1d1=patient.c1d1_date,
        diagnosis=baseline.diagnosis_date if baseline else None,
        prior_lines=tuple(prior_events),
        prior_line_numbers=tuple(number for number, _, _ in prior_lines),
        cycles=tuple(cycles),
        after_c1d1=tuple(after),
        hsct_date=hsct_date,
        after_hsct_vod_dates=tuple(day for day, setting in vods if setting == "after_hsct"),
        grade5_ae_dates=tuple(end or onset for onset, end, grade in adverse_events if grade == 5),
        death_date=follow_up.death_date if follow_up else None,
        last_contact=follow_up.last_contact_date if follow_up else None,
        first_response_date=min(remissions, default=None),
    )
