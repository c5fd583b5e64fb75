"""Reads of outcome forms, and the values derived from them."""

from __future__ import annotations

from django.db.models import QuerySet

from outcomes.models import RESPONSE_RANK, AdverseEvent, FollowUp, ResponseAssessment, VodSosEvent
from patients.models import Patient
from patients.selectors import form_rows_for_user


def best_response_from(assessments, *, hsct_date=None) -> str | None:
    """Best response on IO: the best of CR > CRi > PR > NR > PD > NE among the assessments
    before an HSCT (derived, never typed). `assessments` are (date, response) pairs."""
    responses = {response for day, response in assessments if hsct_date is None or day < hsct_date}
    return next((category.value for category in RESPONSE_RANK if category in responses), None)


def best_response_on_io(patient: Patient) -> str | None:
    hsct = patient.hsct if hasattr(patient, "hsct") else None
    hsct_date = hsct.hsct_date if hsct and hsct.performed and not hsct.is_deleted else None
    assessments = patient.responses.filter(is_deleted=False).values_list("assessment_date", "response")
    return best_response_from(assessments, hsct_date=hsct_date)


def response_list_for_user(*, user) -> QuerySet[ResponseAssessment]:
    return form_rows_for_user(user=user, model=ResponseAssessment)


def adverse_event_list_for_user(*, user) -> QuerySet[AdverseEvent]:
    return form_rows_for_user(user=user, model=AdverseEvent)


def vod_list_for_user(*, user) -> QuerySet[VodSosEvent]:
    return form_rows_for_user(user=user, model=VodSosEvent)


def follow_up_list_for_user(*, user) -> QuerySet[FollowUp]:
    return form_rows_for_user(user=user, model=FollowUp)
