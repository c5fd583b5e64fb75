"""Small casebooks for report tests, built with the factories (valid by construction)."""

from __future__ import annotations

import datetime as dt

from outcomes.ctcae import LEGACY_TERMS
from tests.factories import (
    AdverseEventFactory,
    BaselineFactory,
    FollowUpFactory,
    HsctFactory,
    IOCycleFactory,
    PatientFactory,
    PriorLineFactory,
    ResponseFactory,
    VodFactory,
)

C1D1 = dt.date(2017, 3, 1)


def days(n: int, start: dt.date = C1D1) -> dt.date:
    return start + dt.timedelta(days=n)


def casebook(
    center,
    *,
    c1d1: dt.date = C1D1,
    responses: tuple[tuple[int, str], ...] = ((27, "cr"),),
    mrd: str = "negative",
    hsct_day: int | None = None,
    relapse_day: int | None = None,
    death_day: int | None = None,
    last_contact_day: int = 900,
    prior: tuple[str, ...] = ("induction_chemo",),
    ph: str = "negative",
    adverse_events: tuple[tuple[str, int, int], ...] = (),
    vods: tuple[tuple[int, str], ...] = (),
    baseline: bool = True,
    follow_up: bool = True,
    **patient_fields,
):
    """One complete casebook; days are from C1D1. Returns the patient."""
    patient = PatientFactory(center=center, c1d1_date=c1d1, **patient_fields)
    if baseline:
        BaselineFactory(patient=patient, ph_status=ph, diagnosis_date=c1d1 - dt.timedelta(days=700))
    for number, category in enumerate(prior, start=1):
        PriorLineFactory(patient=patient, line_number=number, category=category,
                         start_date=c1d1 - dt.timedelta(days=600 - 100 * number),
                         end_date=c1d1 - dt.timedelta(days=560 - 100 * number))
    IOCycleFactory(patient=patient, cycle_number=1, start_date=c1d1)
    for day, response in responses:
        remission = response in ("cr", "cri")
        ResponseFactory(patient=patient, assessment_date=days(day, c1d1), response=response,
                        marrow_blasts_pct=2 if remission else 40,
                        mrd_status=mrd if remission else "not_done", mrd_method="flow" if remission and mrd != "not_done" else "")
    if hsct_day is not None:
        HsctFactory(patient=patient, hsct_date=days(hsct_day, c1d1))
    for term, grade, day in adverse_events:
        code, specified = LEGACY_TERMS[term]
        AdverseEventFactory(patient=patient, ctcae_term_id=code, other_specify=specified, grade=grade,
                            onset_date=days(day, c1d1),
                            resolution_date=None if grade == 5 else days(day + 5, c1d1))
    for day, setting in vods:
        VodFactory(patient=patient, diagnosis_date=days(day, c1d1), setting=setting)
    if follow_up:
        dead = death_day is not None
        FollowUpFactory(
            patient=patient,
            vital_status="dead" if dead else "alive",
            death_date=days(death_day, c1d1) if dead else None,
            death_cause="disease" if dead else "",
            relapsed=relapse_day is not None,
            relapse_date=days(relapse_day, c1d1) if relapse_day is not None else None,
            last_contact_date=days(death_day if dead else last_contact_day, c1d1),
        )
    return patient


def small_cohort(center, other_center=None) -> list:
    """Twelve patients with every kind of event; two more in ``other_center`` if given."""
    patients = [
        casebook(center, responses=((27, "cr"),), death_day=300, relapse_day=200, prior=("induction_chemo", "blinatumomab")),
        casebook(center, responses=((27, "cri"),), death_day=150, prior=("induction_chemo", "blinatumomab", "tki")),
        casebook(center, responses=((27, "cr"),), hsct_day=90, last_contact_day=1200,
                 vods=((110, "after_hsct"),)),
        casebook(center, responses=((27, "nr"),), death_day=60, adverse_events=(("lung_infection", 5, 60),)),
        casebook(center, responses=((27, "cr"),), relapse_day=400, death_day=500, ph="positive",
                 adverse_events=(("alt_increased", 3, 10), ("alt_increased", 4, 40))),
        casebook(center, responses=((27, "pd"),), death_day=45, vods=((30, "during_io"),)),
        casebook(center, responses=((27, "cr"),), last_contact_day=700, ph="positive",
                 adverse_events=(("febrile_neutropenia", 4, 15),)),
        casebook(center, responses=((27, "cr"),), hsct_day=100, death_day=250, relapse_day=220),
        casebook(center, responses=((27, "pr"), (55, "cr")), death_day=330, relapse_day=300,
                 prior=("induction_chemo", "blinatumomab", "car_t", "other")),
        casebook(center, responses=((27, "nr"),), death_day=90),
        casebook(center, responses=((27, "cr"),), last_contact_day=1500, mrd="positive"),
        casebook(center, responses=((27, "cr"),), death_day=800, relapse_day=600, prior=("blinatumomab",)),
    ]
    if other_center is not None:
        patients += [casebook(other_center, death_day=400), casebook(other_center, responses=((27, "nr"),),
                                                                      death_day=100)]
    return patients
