"""schemathesis against /api/schema/, through the Django WSGI application, authenticated with
API tokens: a bounded number of generated requests per operation, no 5xx, and every response
conforms to the schema (status code, content type, body).

The analysis-report endpoints (/api/reports/) are left out: each accepted POST runs a
whole report. Revoking the token would end the run early, so the two revoking operations are left out too.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sites.services import api_token_create
from tests.api.conftest import casebook_fill

MAX_EXAMPLES = 5


# Loaded at collection, through the WSGI application (serving the schema needs no database).
schema = (
    schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    .exclude(path_regex=r"^/api/reports/")
    .exclude(path="/api/auth/token/revoke/")
    .exclude(path="/api/auth/tokens/{id}/", method="DELETE")
)


@pytest.fixture(autouse=True)
def keep_the_test_connection_open():
    """Requests through the WSGI application close the database connection when they end, as
    in production; inside a test that would close its transaction (PostgreSQL). Django's test
    client does the same as this fixture."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def token_for(user, patient, other_patient) -> str:
    casebook_fill(patient)
    casebook_fill(other_patient)
    return api_token_create(user=user, name="schemathesis")[1]


@pytest.fixture
def coordinator_token(coordinator, patient, other_patient):
    return token_for(coordinator, patient, other_patient)


@pytest.fixture
def statistician_token(statistician, patient, other_patient):
    return token_for(statistician, patient, other_patient)


@pytest.fixture
def monitor_token(monitor, patient, other_patient):
    return token_for(monitor, patient, other_patient)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HYPOTHESIS = settings(max_examples=MAX_EXAMPLES, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                             HealthCheck.filter_too_much])


@schema.parametrize()
@HYPOTHESIS
def test_api_conforms_to_its_schema_as_coordinator(case, coordinator_token):
    """A coordinator: writes go through the services (and fail cleanly on generated data)."""
    case.call_and_validate(headers={"Authorization": f"Token {coordinator_token}"}, checks=CHECKS)


@schema.parametrize()
@HYPOTHESIS
def test_api_conforms_to_its_schema_as_statistician(case, statistician_token):
    """A statistician: reads every center, exports datasets, may not write."""
    case.call_and_validate(headers={"Authorization": f"Token {statistician_token}"}, checks=CHECKS)


@schema.parametrize()
@HYPOTHESIS
def test_api_conforms_to_its_schema_as_monitor(case, monitor_token):
    """A monitor: raises and closes queries, verifies, locks and unlocks forms; may not write clinical data."""
    case.call_and_validate(headers={"Authorization": f"Token {monitor_token}"}, checks=CHECKS)
