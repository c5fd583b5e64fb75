import datetime as dt

import pytest
from rest_framework.test import APIClient

from patients.registry import casebook
from sites.services import api_token_create
from tests.factories import (
    AdverseEventFactory,
    BaselineFactory,
    EndOfTreatmentFactory,
    FollowUpFactory,
    HsctFactory,
    IOCycleFactory,
    PriorLineFactory,
    ResponseFactory,
    VodFactory,
)

FACTORIES = {factory._meta.model: factory for factory in (
    BaselineFactory, PriorLineFactory, IOCycleFactory, EndOfTreatmentFactory, HsctFactory, ResponseFactory,
    AdverseEventFactory, VodFactory, FollowUpFactory,
)}
# Endpoint (router prefix) → factory of one row of a casebook, and whether the form repeats: every
# part of the registry but the patient's own (the patients endpoint).
FORM_ENDPOINTS = {
    part.slug: (FACTORIES[part.model], part.repeating) for part in casebook.parts() if not part.is_patient
}


def casebook_fill(patient) -> dict:
    """Every form of a valid casebook; returns endpoint → row."""
    rows = {endpoint: factory(patient=patient) for endpoint, (factory, _repeats) in FORM_ENDPOINTS.items()}
    IOCycleFactory(patient=patient, cycle_number=2, start_date=dt.date(2017, 3, 29))
    return rows


@pytest.fixture
def casebooks(patient, other_patient):
    return {"own": (patient, casebook_fill(patient)), "other": (other_patient, casebook_fill(other_patient))}


def token_client(user) -> APIClient:
    client = APIClient()
    _token, secret = api_token_create(user=user, name="tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


@pytest.fixture
def api_as():
    return token_client
