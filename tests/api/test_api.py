"""The REST API's behaviour: tokens, schema and docs without CDN, the same services as the
browser (edit checks, reason for change, locking, history), errors as JSON, filters."""

import datetime as dt
import hashlib
import io
import json
import zipfile

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.models import ExportLog, ExportStatus
from patients.models import FormState, FormStatus, Patient
from tests.factories import IOCycleFactory, PatientFactory, PriorLineFactory
from treatments.models import PriorTherapyLine


def test_token_obtain_use_and_revoke(coordinator, patient):
    client = APIClient()
    wrong = client.post("/api/auth/token/", {"username": "coord-rm01", "password": "nope"}, format="json")
    assert wrong.status_code == 400 and "non_field_errors" in wrong.json()
    response = client.post("/api/auth/token/", {"username": "coord-rm01", "password": "pw-for-tests"}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/patients/").json()["count"] == 1
    assert client.post("/api/auth/token/revoke/").status_code == 204
    assert client.get("/api/patients/").status_code == 401


def test_session_authentication(client, coordinator, patient):
    client.force_login(coordinator)
    assert client.get("/api/patients/").json()["count"] == 1


def test_schema_and_docs_without_cdn(client, statistician):
    client.force_login(statistician)
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    document = json.loads(schema.content)
    assert document["openapi"].startswith("3.")
    for path in ["/api/patients/", "/api/baseline/", "/api/prior-lines/", "/api/io-cycles/", "/api/end-of-treatment/",
                 "/api/hsct/", "/api/responses/", "/api/adverse-events/", "/api/vod-sos/", "/api/follow-up/",
                 "/api/centers/", "/api/exports/dataset/", "/api/dictionary/", "/api/exports/logs/",
                 "/api/auth/token/"]:
        assert path in document["paths"], path
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "drf_spectacular_sidecar" in html or "/static/" in html
    for cdn in ("cdn.", "unpkg", "jsdelivr", "cdnjs", "https://"):
        assert cdn not in html, cdn


@pytest.fixture
def coordinator_api(coordinator, api_as):
    return api_as(coordinator)


def test_create_through_the_service_with_history(coordinator_api, patient):
    response = coordinator_api.post("/api/prior-lines/", {
        "patient": patient.study_id, "line_number": 1, "category": "blinatumomab", "regimen": "blina",
        "start_date": "2016-01-01", "end_date": "2016-03-01", "best_response": "cr"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 1 and body["patient"] == patient.study_id
    line = PriorTherapyLine.objects.get(pk=body["id"])
    assert line.history.first().history_user.username == "coord-rm01"


def test_edit_checks_are_the_browsers_as_400_by_field(coordinator_api, patient):
    future = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    response = coordinator_api.post("/api/prior-lines/", {
        "patient": patient.study_id, "line_number": 1, "category": "blinatumomab",
        "start_date": future, "best_response": "cr"}, format="json")
    assert response.status_code == 400
    assert "start_date" in response.json()
    bad = coordinator_api.post("/api/io-cycles/", {
        "patient": patient.study_id, "cycle_number": 9, "start_date": "not a date", "dose_day1": "7",
        "dose_day8": "x", "dose_day15": None}, format="json")
    assert bad.status_code == 400
    assert {"cycle_number", "start_date", "dose_day1", "dose_day8", "dose_day15"} <= set(bad.json())
    assert coordinator_api.post("/api/io-cycles/", "{not json", content_type="application/json").status_code == 400
    assert coordinator_api.post("/api/io-cycles/", [1, 2], format="json").status_code == 400


def test_stale_version_is_409_with_the_current_row(coordinator_api, patient):
    line = PriorLineFactory(patient=patient)
    first = coordinator_api.patch(f"/api/prior-lines/{line.pk}/", {"version": 1, "best_response": "pr"},
                                  format="json")
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = coordinator_api.patch(f"/api/prior-lines/{line.pk}/", {"version": 1, "best_response": "nr"},
                                  format="json")
    assert stale.status_code == 409
    assert stale.json()["version"] == 2 and stale.json()["current"]["best_response"] == "pr"
    line.refresh_from_db()
    assert line.best_response == "pr"
    missing = coordinator_api.patch(f"/api/prior-lines/{line.pk}/", {"best_response": "nr"}, format="json")
    assert missing.status_code == 400 and "version" in missing.json()


def test_reason_for_change_once_complete_and_locked_forms(coordinator_api, patient):
    line = PriorLineFactory(patient=patient)
    state = FormState.objects.create(patient=patient, form="prior_lines", status=FormStatus.COMPLETE)
    no_reason = coordinator_api.patch(f"/api/prior-lines/{line.pk}/", {"version": 1, "best_response": "pr"},
                                      format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    with_reason = coordinator_api.patch(f"/api/prior-lines/{line.pk}/",
                                        {"version": 1, "best_response": "pr", "reason": "Source document"},
                                        format="json")
    assert with_reason.status_code == 200
    assert PriorTherapyLine.objects.get(pk=line.pk).history.first().history_change_reason == "Source document"
    by_header = coordinator_api.patch(f"/api/prior-lines/{line.pk}/", {"version": 2, "best_response": "nr"},
                                      format="json", HTTP_X_REASON_FOR_CHANGE="Typo in the CRF")
    assert by_header.status_code == 200
    assert PriorTherapyLine.objects.get(pk=line.pk).history.first().history_change_reason == "Typo in the CRF"
    state.status = FormStatus.LOCKED
    state.save()
    locked = coordinator_api.patch(f"/api/prior-lines/{line.pk}/", {"version": 3, "reason": "x"}, format="json")
    assert locked.status_code == 403
    deleted = coordinator_api.delete(f"/api/prior-lines/{line.pk}/?version=3&reason=x")
    assert deleted.status_code == 403


def test_delete_a_repeating_row_keeps_it_marked(coordinator_api, patient):
    line = PriorLineFactory(patient=patient)
    assert coordinator_api.delete(f"/api/prior-lines/{line.pk}/").status_code == 400  # no version
    assert coordinator_api.delete(f"/api/prior-lines/{line.pk}/?version=7").status_code == 409
    assert coordinator_api.delete(f"/api/prior-lines/{line.pk}/?version=1").status_code == 204
    assert PriorTherapyLine.objects.get(pk=line.pk).is_deleted
    assert coordinator_api.get(f"/api/prior-lines/{line.pk}/").status_code == 404
    assert coordinator_api.delete(f"/api/baseline/{line.pk}/?version=1").status_code == 405


def test_enroll_and_form_status(coordinator_api, center):
    response = coordinator_api.post("/api/patients/", {
        "center": "RM01", "local_hospital_id": "H-9", "initials": "CD", "date_of_birth": "1970-05-05", "sex": "M",
        "has_rr_b_all": True, "is_cd22_positive": True, "received_io": True, "c1d1_date": "2018-02-02"},
        format="json")
    assert response.status_code == 201, response.content
    study_id = response.json()["study_id"]
    assert study_id.startswith("RM01-")
    assert Patient.objects.get(study_id=study_id).history.count() == 1
    status = coordinator_api.post(f"/api/patients/{study_id}/form-status/", {"form": "enrollment",
                                                                             "status": "complete"}, format="json")
    assert status.status_code == 200 and status.json()["status"] == "complete"
    assert coordinator_api.post(f"/api/patients/{study_id}/form-status/", {"form": "enrollment",
                                                                           "status": "locked"}).status_code == 400
    empty = coordinator_api.post(f"/api/patients/{study_id}/form-status/", {"form": "baseline", "status": "complete"},
                                 format="json")
    assert empty.status_code == 400 and empty.json() == {"status": ["Fill in this form before marking it complete."]}
    no_dob = coordinator_api.post("/api/patients/", {"center": "RM01", "local_hospital_id": "H-10",
                                                     "initials": "CD", "sex": "M"}, format="json")
    assert no_dob.status_code == 400 and "date_of_birth" in no_dob.json()


def test_identifiers_only_for_roles_that_may_see_them(api_as, patient, coordinator, monitor, statistician):
    for user, sees in ((coordinator, True), (monitor, True), (statistician, False)):
        body = api_as(user).get(f"/api/patients/{patient.study_id}/").json()
        assert ("local_hospital_id" in body) == sees
        assert ("initials" in body) == sees and ("date_of_birth" in body) == sees
        listed = json.dumps(api_as(user).get("/api/patients/").json())
        assert (patient.local_hospital_id in listed) == sees


def test_filters_and_pagination(api_as, statistician, center, other_center):
    for _n in range(3):
        IOCycleFactory(patient=PatientFactory(center=center))
    IOCycleFactory(patient=PatientFactory(center=other_center))
    client = api_as(statistician)
    assert client.get("/api/io-cycles/?center=RM01").json()["count"] == 3
    assert client.get("/api/patients/?center=MI02").json()["count"] == 1
    page = client.get("/api/patients/?limit=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    later = (timezone.now() + dt.timedelta(minutes=5)).isoformat()
    assert client.get("/api/patients/", {"updated_since": later}).json()["count"] == 0
    earlier = (timezone.now() - dt.timedelta(minutes=5)).isoformat()
    assert client.get("/api/io-cycles/", {"updated_since": earlier}).json()["count"] == 4
    bad = client.get("/api/io-cycles/?updated_since=yesterday")
    assert bad.status_code == 400 and "updated_since" in bad.json()


def test_export_endpoint_streams_the_file_and_logs_it(api_as, statistician, administrator, patient):
    IOCycleFactory(patient=patient)
    client = api_as(statistician)
    response = client.get("/api/exports/dataset/?file_format=csv&dates=shifted&values=labels",
                          HTTP_ACCEPT="application/zip")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    assert "io_cycles.csv" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    log = ExportLog.objects.get()
    assert log.user == statistician and log.status == ExportStatus.COMPLETED
    assert log.parameters == {"file_format": "csv", "dates": "shifted", "values": "labels"}
    assert log.rows["patients"] == 1 and log.rows["io_cycles"] == 1
    assert log.sha256 == hashlib.sha256(data).hexdigest()
    listed = api_as(administrator).get("/api/exports/logs/").json()["results"]
    assert listed[0]["sha256"] == log.sha256 and listed[0]["user"] == "statistician"
    bad = client.get("/api/exports/dataset/?file_format=xls&dates=sometimes")
    assert bad.status_code == 400 and {"file_format", "dates"} <= set(bad.json())
    assert ExportLog.objects.count() == 1


def test_export_log_in_the_admin_site(client, administrator, statistician, patient, api_as):
    administrator.is_staff = administrator.is_superuser = True
    administrator.save()
    b"".join(api_as(statistician).get("/api/exports/dataset/").streaming_content)
    client.force_login(administrator)
    page = client.get("/admin/analytics/exportlog/")
    assert page.status_code == 200 and b"statistician" in page.content


def test_dictionary_endpoint(api_as, coordinator):
    entries = api_as(coordinator).get("/api/dictionary/").json()
    by_key = {(entry["form"], entry["variable"]): entry for entry in entries}
    assert by_key[("patients", "local_hospital_id")]["is_identifier"] is True
    assert by_key[("patients", "local_hospital_id")]["exported"] is False
    assert by_key[("prior_lines", "regimen")]["exported"] is False
    assert by_key[("responses", "response")]["code_list"][0] == {
        "code": "cr", "label": "Complete remission (CR)", "numeric_code": 1}
    assert by_key[("io_cycles", "dose_day1")]["unit"] == "mg/m²"
    assert {"variable", "form", "label", "type", "unit", "code_list", "is_identifier"} <= set(entries[0])


@pytest.mark.parametrize("since", ["1133-07-16T08:21:52.719972+16:36", "8659-02-26T09:54:38+19:04",
                                   "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_updated_since_with_any_valid_offset_is_never_a_500(api_as, statistician, patient, since):
    response = api_as(statistician).get("/api/follow-up/", {"updated_since": since})
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert "updated_since" in response.json()


def test_nul_characters_are_a_400_not_a_500(coordinator_api, patient):
    response = coordinator_api.post("/api/io-cycles/", {
        "patient": "RM01\x00-001", "cycle_number": 1, "start_date": "2017-03-01", "dose_day1": "0.8",
        "dose_day8": "0.5", "dose_day15": "0.5"}, format="json")
    assert response.status_code == 400 and "patient" in response.json()
    enrolled = coordinator_api.post("/api/patients/", {"center": "RM\x0001", "sex": "F"}, format="json")
    assert enrolled.status_code == 400 and "center" in enrolled.json()
    assert coordinator_api.get("/api/io-cycles/", {"patient": "RM01\x00"}).status_code in (200, 400)


@pytest.mark.parametrize("path", ["/api/patients/%0A_%C3%86/", "/api/no-such-resource/"])
def test_a_path_no_route_matches_is_a_json_404(api_as, statistician, path, client):
    response = api_as(statistician).get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}
    # Outside the API the site's own page is kept.
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
