"""Bodies an attacker or a broken client sends to the API: each is a 400 with a message,
never a 500."""

import pytest

from tests.api.conftest import FORM_ENDPOINTS
from tests.factories import EndOfTreatmentFactory

READ_ONLY = ("id", "version", "created_at", "updated_at", "form_states", "study_id")
_OWN_REASON_FIELD = {part for part, (factory, _repeats) in FORM_ENDPOINTS.items() if factory is EndOfTreatmentFactory}


def _body_of(client, url: str) -> dict:
    data = client.get(url).json()
    return {name: value for name, value in data.items() if name not in READ_ONLY and value is not None}


@pytest.mark.parametrize("endpoint", ["patients", *sorted(set(FORM_ENDPOINTS) - _OWN_REASON_FIELD)])
def test_a_reason_for_change_given_twice_is_refused_on_the_field(coordinator, api_as, casebooks, endpoint):
    client = api_as(coordinator)
    patient, rows = casebooks["own"]
    key = patient.study_id if endpoint == "patients" else rows[endpoint].pk
    body = {**_body_of(client, f"/api/{endpoint}/{key}/"), "reason": "Source document", "change_reason": "Typo"}
    created = client.post(f"/api/{endpoint}/", body, format="json")
    assert created.status_code == 400 and "change_reason" in created.json()
    changed = client.patch(f"/api/{endpoint}/{key}/", {"version": 1, "reason": "a", "change_reason": "b"},
                           format="json")
    assert changed.status_code == 400 and "change_reason" in changed.json()


def _json_endpoints(patient, rows) -> list[tuple[str, str]]:
    """(method, URL) of every JSON endpoint that takes a body."""
    return [
        ("post", "/api/auth/token/"),
        ("post", "/api/patients/"), ("patch", f"/api/patients/{patient.study_id}/"),
        ("post", f"/api/patients/{patient.study_id}/form-status/"),
        *[("post", f"/api/{endpoint}/") for endpoint in FORM_ENDPOINTS],
        *[("patch", f"/api/{endpoint}/{row.pk}/") for endpoint, row in rows.items()],
    ]


@pytest.mark.parametrize("body", [
    '{"sex": "\\ud800", "form": "\\ud800", "status": "\\ud800", "username": "\\ud800", "password": "x"}',
    '{"\\udfff": 1, "version": 1}',
    '{"a": ' * 1000 + "1" + "}" * 1000,
    "[" * 100_000 + "]" * 100_000,
], ids=["lone-surrogate-value", "lone-surrogate-key", "nested-1000", "nested-100000"])
def test_unencodable_or_deeply_nested_json_is_a_400_on_every_endpoint(client, coordinator, api_as, casebooks, body):
    from rest_framework.test import APIClient

    patient, rows = casebooks["own"]
    for authenticated in (False, True):
        api = api_as(coordinator) if authenticated else APIClient()
        for method, url in _json_endpoints(patient, rows):
            response = getattr(api, method)(url, body, content_type="application/json")
            expected = 400 if authenticated or url == "/api/auth/token/" else 401
            assert (method, url, response.status_code) == (method, url, expected)
            if expected == 400:
                assert "detail" in response.json()


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "9999-12-31"])
def test_an_implausible_date_is_refused_through_the_api(coordinator, api_as, casebooks, day):
    client = api_as(coordinator)
    patient, rows = casebooks["own"]
    response = client.patch(f"/api/patients/{patient.study_id}/", {"version": 1, "withdrawal_date": day},
                            format="json")
    assert response.status_code == 400 and list(response.json()) == ["withdrawal_date"]
    response = client.patch(f"/api/baseline/{rows['baseline'].pk}/", {"version": 1, "diagnosis_date": day},
                            format="json")
    assert response.status_code == 400 and list(response.json()) == ["diagnosis_date"]
