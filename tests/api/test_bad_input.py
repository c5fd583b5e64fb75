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
