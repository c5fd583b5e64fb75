"""Reads of patients and their forms, scoped to the requesting user.

Every view, endpoint, export and report reaches clinical rows through these functions,
so a coordinator cannot see another center's patients by any path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields

from django.db.models import Model, Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from patients.models import Patient
from patients.registry import Part, casebook
from patients.validators import CasebookDates
from sites.selectors import center_ids_for_user

_DATE_TUPLES = frozenset(f.name for f in fields(CasebookDates) if f.type.startswith("tuple"))


def patient_list_for_user(*, user) -> QuerySet[Patient]:
    return Patient.objects.filter(center__in=center_ids_for_user(user=user), is_deleted=False).select_related("center")


def patient_get_for_user(*, user, study_id: str) -> Patient:
    """The patient, or 404 when it does not exist or the user may not see it (the same answer)."""
    try:
        return patient_list_for_user(user=user).get(study_id=study_id)
    except Patient.DoesNotExist:
        raise Http404 from None


def casebook_get_for_user(*, user, study_id: str) -> Patient:
    """The patient with every form row and form state, in a fixed number of queries (the
    single forms joined, the live rows of each repeating form prefetched); 404 when the
    user may not see the patient."""
    parts = [part for part in casebook.parts() if not part.is_patient]
    singles = [part.related_name for part in parts if not part.repeating]
    repeating = [
        Prefetch(part.related_name,
                 queryset=part.model.objects.filter(is_deleted=False).select_related(*part.reference_fields))
        for part in parts if part.repeating
    ]
    patients = patient_list_for_user(user=user).select_related(*singles).prefetch_related(*repeating, "form_states")
    try:
        return patients.get(study_id=study_id)
    except Patient.DoesNotExist:
        raise Http404 from None


def form_rows_for_user(*, user, model: type[Model]) -> QuerySet:
    """The live rows of one form model that the user may see."""
    return model.objects.filter(
        patient__center__in=center_ids_for_user(user=user), patient__is_deleted=False, is_deleted=False
    ).select_related("patient", *casebook.part_for(model).reference_fields)


def casebook_dates_get(*, patient: Patient, excluding: Model | None = None) -> CasebookDates:
    """The dates of the patient's casebook that edit checks compare against, without
    `excluding` (the row being checked, whose new values the check gets itself), read
    from the database."""
    rows = {part: part.model.objects.filter(patient=patient, is_deleted=False)
            for part in casebook.parts() if part.dates is not None}
    return casebook_dates_of(patient=patient, rows=rows, excluding=excluding)


def casebook_dates_of(*, patient: Patient, rows: Mapping[Part, Iterable[Model]],
                      excluding: Model | None = None) -> CasebookDates:
    """The dates of a casebook given its live rows by part (stored, or about to be), without
    `excluding`: a row of a single part leaves its whole part out, a row of a repeating part
    itself (the same object, or the same stored row). Each form of the registry says what
    its rows add (`Part.dates`)."""
    values: dict = {"today": timezone.localdate(), "date_of_birth": patient.date_of_birth, "c1d1": patient.c1d1_date}
    for part, part_rows in rows.items():
        if part.dates is None:
            continue
        if excluding is not None and type(excluding) is part.model:
            if not part.repeating:
                continue
            part_rows = [row for row in part_rows
                         if row is not excluding and (excluding.pk is None or row.pk != excluding.pk)]
        for name, value in part.dates(part_rows).items():
            values[name] = (*values.get(name, ()), *value) if name in _DATE_TUPLES else value
    return CasebookDates(**values)


def casebook_rows_get(*, patient_ids: Iterable[int]) -> dict[int, dict[Part, list[Model]]]:
    """The live rows of every form of the given patients, by patient and part, in one query
    per part (for the writes of many casebooks at once; the caller has checked access)."""
    patient_ids = list(patient_ids)
    found: dict[int, dict[Part, list[Model]]] = {pk: {} for pk in patient_ids}
    for part in casebook.parts():
        if part.is_patient or not patient_ids:
            continue
        for row in part.model.objects.filter(patient_id__in=patient_ids, is_deleted=False):
            found[row.patient_id].setdefault(part, []).append(row)
    return found
