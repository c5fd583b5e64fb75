"""Reads of treatment forms, scoped to the user (see patients.selectors)."""

from __future__ import annotations

from django.db.models import QuerySet

from patients.selectors import form_rows_for_user
from treatments.models import AlloHsct, EndOfTreatment, IOCycle, PriorTherapyLine


def prior_line_list_for_user(*, user) -> QuerySet[PriorTherapyLine]:
    return form_rows_for_user(user=user, model=PriorTherapyLine)


def io_cycle_list_for_user(*, user) -> QuerySet[IOCycle]:
    return form_rows_for_user(user=user, model=IOCycle)


def end_of_treatment_list_for_user(*, user) -> QuerySet[EndOfTreatment]:
    return form_rows_for_user(user=user, model=EndOfTreatment)


def hsct_list_for_user(*, user) -> QuerySet[AlloHsct]:
    return form_rows_for_user(user=user, model=AlloHsct)
