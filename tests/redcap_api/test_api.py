"""The REDCap-compatible API's answers: REDCap's errors and statuses, its parameters, the
user's access, form status, missing data codes, import through the casebook's services."""

import csv
import datetime as dt
import io
import json

import pytest
from django.test import Client
from django.utils import timezone

from patients.models import BaselineDisease, FormState, FormStatus
from sites.models import ApiToken, ApiTokenKind
from sites.services import api_token_create
from tests.factories import BaselineFactory, IOCycleFactory, UserFactory
from treatments.models import IOCycle

URL = "/redcap/api/"


def post(token: str, **body):
    return Client().post(URL, {"token": token, **body})


def redcap_token(user) -> str:
    return api_token_create(user=user, kind=ApiTokenKind.REDCAP)[1]


def body(response) -> bytes:
    """The whole answer, streamed (the record export) or not."""
    return b"".join(response.streaming_content) if response.streaming else response.content


def rows(response) -> list[dict]:
    assert response.status_code == 200, body(response)
    return json.loads(body(response))


@pytest.fixture
def coordinator_token(coordinator):
    return redcap_token(coordinator)


@pytest.fixture
def casebooks(patient, other_patient):
    BaselineFactory(patient=patient)
    BaselineFactory(patient=other_patient)
    IOCycleFactory(patient=patient)
    IOCycleFactory(patient=patient, cycle_number=2, start_date=patient.c1d1_date + dt.timedelta(days=28))
    return patient, other_patient


@pytest.mark.parametrize("token", ["", "0" * 32, "not a token", "A" * 31])
def test_a_missing_or_unknown_token_is_403_with_redcap_s_error(db, token):
    response = post(token, content="version")
    assert response.status_code == 403
    assert response.json() == {"error": "You do not have permissions to use the API"}


def test_a_rest_token_a_revoked_or_expired_token_or_a_user_without_role_is_403(coordinator):
    rest_secret = api_token_create(user=coordinator)[1]
    assert post(rest_secret, content="version").status_code == 403
    token, secret = api_token_create(user=coordinator, kind=ApiTokenKind.REDCAP)
    assert post(secret, content="version").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert post(secret, content="version").status_code == 403
    assert post(redcap_token(UserFactory(username="no-role")), content="version").status_code == 403


def test_bad_parameters_are_400_with_redcap_s_error(coordinator_token):
    for body, message in [
        ({"content": "nonsense"}, 'The value of the parameter "content" is not valid'),
        ({}, 'The value of the parameter "content" is not valid'),
        ({"content": "formEventMapping", "format": "json"}, "You cannot export form/event mappings for classic projects"),
        ({"content": "metadata", "format": "xml"}, 'The value of the parameter "format" is not valid'),
        ({"content": "record", "format": "json", "fields[0]": "no_such_field"}, "no_such_field"),
        ({"content": "record", "format": "json", "forms": "no_such_form"}, "no_such_form"),
        ({"content": "record", "format": "json", "type": "eav"}, 'parameter "type"'),
        ({"content": "record", "format": "json", "filterLogic": "[ecog] = 1"}, '"filterLogic" is not supported'),
        ({"content": "record", "format": "json", "dateRangeBegin": "2020-01-01 00:00:00"}, '"dateRangeBegin"'),
    ]:
        response = post(coordinator_token, **body)
        assert response.status_code == 400, body
        assert message in response.json()["error"]
    assert Client().get(URL).status_code == 405


def test_a_coordinator_exports_only_their_centers_records(coordinator_token, casebooks):
    patient, other = casebooks
    exported = rows(post(coordinator_token, content="record", format="json", exportDataAccessGroups="true"))
    assert {row["study_id"] for row in exported} == {patient.study_id}
    assert {row["redcap_data_access_group"] for row in exported} == {patient.center.code.lower()}
    assert [(row["redcap_repeat_instrument"], row["redcap_repeat_instance"]) for row in exported] == [
        ("", ""), ("io_cycles", 1), ("io_cycles", 2)]
    assert rows(post(coordinator_token, content="record", format="json", records=other.study_id)) == []
    assert [dag["unique_group_name"] for dag in rows(post(coordinator_token, content="dag", format="json"))] == [
        patient.center.code.lower()]


def test_records_fields_and_forms_as_arrays_or_comma_joined_strings(coordinator_token, casebooks):
    patient, _other = casebooks
    as_array = rows(post(coordinator_token, content="record", format="json", **{
        "records[0]": patient.study_id, "fields[0]": "study_id", "fields[1]": "ecog", "forms[0]": "io_cycles"}))
    as_string = rows(post(coordinator_token, content="record", format="json", records=patient.study_id,
                          fields="study_id,ecog", forms="io_cycles"))
    assert as_array == as_string
    assert list(as_array[0]) == ["study_id", "redcap_repeat_instrument", "redcap_repeat_instance", "ecog",
                                 "cycle_number", "io_cycles_start_date", "dose_day1", "dose_day8", "dose_day15",
                                 "delayed", "dose_reduced", "modification_reason", "total_dose", "io_cycles_complete"]
    assert as_array[0]["ecog"] == "1" and as_array[1]["cycle_number"] == "1"
    cycle = IOCycle.objects.get(patient=patient, cycle_number=1)
    assert as_array[1]["total_dose"] == str(cycle.dose_day1 + cycle.dose_day8 + cycle.dose_day15)  # derived


def test_form_status_maps_to_redcap_s_complete_codes(coordinator, coordinator_token, casebooks):
    patient, _other = casebooks
    FormState.objects.create(patient=patient, form="baseline", status=FormStatus.VERIFIED, changed_by=coordinator)
    FormState.objects.create(patient=patient, form="io_cycles", status=FormStatus.COMPLETE, changed_by=coordinator)
    FormState.objects.create(patient=patient, form="follow_up", status=FormStatus.LOCKED, changed_by=coordinator)
    FormState.objects.create(patient=patient, form="hsct", status=FormStatus.IN_PROGRESS, changed_by=coordinator)
    base = rows(post(coordinator_token, content="record", format="json"))[0]
    assert (base["baseline_complete"], base["follow_up_complete"], base["hsct_complete"],
            base["end_of_treatment_complete"], base["vod_sos_complete"]) == ("2", "2", "0", "1", "")
    assert base["enrollment_complete"] == "0"  # no state: Incomplete
    gray = rows(post(coordinator_token, content="record", format="json", exportBlankForGrayFormStatus="true"))[0]
    assert gray["enrollment_complete"] == ""


def test_labels_and_label_headers(coordinator_token, casebooks):
    patient, _other = casebooks
    text = body(post(coordinator_token, content="record", format="csv", rawOrLabel="label", rawOrLabelHeaders="label",
                     fields="study_id,sex,extramedullary_disease,baseline_complete")).decode()
    header, first = list(csv.reader(io.StringIO(text)))[:2]
    assert header == ["Study ID", "Repeat Instrument", "Repeat Instance", "Sex", "Extramedullary disease?",
                      "Complete?"]
    assert first == [patient.study_id, "", "", "Female", "No", "Incomplete"]


def test_missing_data_codes_travel_as_the_code_in_both_directions(coordinator_token, casebooks):
    patient, _other = casebooks
    answer = post(coordinator_token, content="record", format="json", data=(
        f'[{{"study_id": "{patient.study_id}", "ecog": "ND", "cd22_expression_pct": "UNK", "ph_status": ""}}]'))
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"count": 1}
    baseline = BaselineDisease.objects.get(patient=patient)
    assert baseline.ecog is None and baseline.missing_codes == {"ecog": "ND", "cd22_expression_pct": "UNK"}
    assert baseline.ph_status == "negative"  # a blank value leaves the stored one
    assert baseline.history.first().history_change_reason == "REDCap API import"
    exported = rows(post(coordinator_token, content="record", format="json", fields="ecog,cd22_expression_pct"))[0]
    assert (exported["ecog"], exported["cd22_expression_pct"]) == ("ND", "UNK")
    # a value replaces the code; a field that takes no code refuses one
    post(coordinator_token, content="record", format="json", data=f'[{{"study_id": "{patient.study_id}", "ecog": "2"}}]')
    baseline.refresh_from_db()
    assert baseline.ecog == 2 and baseline.missing_codes == {"cd22_expression_pct": "UNK"}
    refused = post(coordinator_token, content="record", format="json",
                   data=f'[{{"study_id": "{patient.study_id}", "baseline_diagnosis_date": "UNK"}}]')
    assert refused.status_code == 400 and "baseline_diagnosis_date" in refused.json()["error"]


def test_csv_import_adds_the_next_instance_and_refuses_a_gap(coordinator_token, casebooks):
    patient, _other = casebooks
    start = (patient.c1d1_date + dt.timedelta(days=56)).isoformat()
    data = ("study_id,redcap_repeat_instrument,redcap_repeat_instance,cycle_number,io_cycles_start_date,dose_day1,"
            f"dose_day8,dose_day15,delayed,dose_reduced\n{patient.study_id},io_cycles,5,3,{start},0.5,0.5,0.5,0,0\n")
    gap = post(coordinator_token, content="record", format="csv", data=data)
    assert gap.status_code == 400 and "the next new instance is 3" in gap.json()["error"]
    added = post(coordinator_token, content="record", format="csv", data=data.replace(",io_cycles,5,", ",io_cycles,3,"))
    assert added.status_code == 200, added.content
    cycles = [row for row in rows(post(coordinator_token, content="record", format="json", forms="io_cycles"))
              if row["redcap_repeat_instrument"] == "io_cycles"]
    assert [(row["redcap_repeat_instance"], row["cycle_number"]) for row in cycles] == [(1, "1"), (2, "2"), (3, "3")]


def test_a_coordinator_cannot_import_into_another_center_and_a_statistician_not_at_all(
        coordinator_token, casebooks, statistician):
    _patient, other = casebooks
    data = f'[{{"study_id": "{other.study_id}", "ecog": "3"}}]'
    refused = post(coordinator_token, content="record", format="json", data=data)
    assert refused.status_code == 400 and other.study_id in refused.json()["error"]
    assert BaselineDisease.objects.get(patient=other).ecog == 1
    forbidden = post(redcap_token(statistician), content="record", format="json", data=data)
    assert forbidden.status_code == 403
    assert forbidden.json() == {"error": "You do not have API Import/Update privileges"}


def test_unknown_import_fields_are_refused(coordinator_token, casebooks):
    patient, _other = casebooks
    response = post(coordinator_token, content="record", format="json",
                    data=f'[{{"study_id": "{patient.study_id}", "favourite_colour": "blue"}}]')
    assert response.status_code == 400 and "favourite_colour" in response.json()["error"]
