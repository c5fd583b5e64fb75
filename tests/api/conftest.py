import datetime as dt

import pytest
from rest_framework.test import APIClient

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

# Endpoint (router prefix) → factory of one row of a casebook, and whether the form repeats.
FORM_ENDPOINTS = {
    "baseline": (BaselineFactory, False),
    "prior-lines": (PriorLineFactory, True),
    "io-cycles": (IOCycleFactory, True),
    "end-of-treatment": (EndOfTreatmentFactory, False),
    "hsct": (HsctFactory, False),
    "responses": (ResponseFactory, True),
    "adverse-events": (AdverseEventFactory, True),
    "vod-sos": (VodFactory, True),
    "follow-up": (FollowUpFactory, False),
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
