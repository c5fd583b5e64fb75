"""The data-management API: a query's life (raised by a monitor, answered by the site, closed),
the monitors' verify, lock and unlock with the pages' rules, a casebook's audit trail masked
per role as on its page, its signature; unknown query parameters of any list refused."""

import json

import pytest

from patients.audit import casebook_audit_trail
from patients.clinical import FREE_TEXT_MASK, IDENTIFIER_MASK
from patients.models import DataQuery, FormState, FormStatus, QueryState
from patients.registry import casebook
from tests.api.conftest import casebook_fill

FORM = "io_cycles"
PART = "io-cycles"


@pytest.fixture
def filled(patient, other_patient):
    return {"own": (patient, casebook_fill(patient)), "other": (other_patient, casebook_fill(other_patient))}


def test_a_query_raised_answered_closed_then_the_form_verified_locked_and_unlocked(
        filled, monitor, coordinator, other_coordinator, api_as):
    patient, rows = filled["own"]
    cycle = rows[PART]
    as_monitor, as_coordinator, as_other = api_as(monitor), api_as(coordinator), api_as(other_coordinator)
    completed = as_coordinator.post(f"/api/patients/{patient.study_id}/form-status/",
                                    {"form": FORM, "status": "complete"}, format="json")
    assert completed.status_code == 200, completed.content

    raised = as_monitor.post("/api/queries/", {
        "patient": patient.study_id, "form": FORM, "part": PART, "row_id": cycle.pk, "field_name": "dose_day1",
        "question": "The chart says 0.5 mg/m² on day 1: please check."}, format="json")
    assert raised.status_code == 201, raised.content
    query = raised.json()
    assert query["state"] == "open" and query["part"] == PART and query["row_id"] == cycle.pk
    assert query["raised_by"] == "monitor" and query["automatic"] is False
    assert [message["kind"] for message in query["messages"]] == ["question"]
    url = f"/api/queries/{query['id']}/"

    # As on the pages: a form with a query not closed is neither verified nor locked.
    verify = f"/api/patients/{patient.study_id}/forms/{FORM}/verify/"
    refused = as_monitor.post(verify)
    assert refused.status_code == 400
    assert "not closed" in json.dumps(refused.json())
    assert FormState.objects.get(patient=patient, form=FORM).status == FormStatus.COMPLETE

    # Another center's coordinator cannot tell the query exists.
    assert as_other.get(url).status_code == 404
    assert as_other.post(url + "answer/", {"text": "ok"}, format="json").status_code == 404
    assert query["id"] not in [item["id"] for item in as_other.get("/api/queries/").json()["results"]]
    # The monitor does not answer; the coordinator does not close.
    assert as_monitor.post(url + "answer/", {"text": "ok"}, format="json").status_code == 403
    assert as_coordinator.post(url + "close/").status_code == 403

    listed = as_coordinator.get("/api/queries/?state=open").json()
    assert [item["id"] for item in listed["results"]] == [query["id"]]
    empty = as_coordinator.post(url + "answer/", {"text": "  "}, format="json")
    assert empty.status_code == 400 and "text" in empty.json()
    answered = as_coordinator.post(url + "answer/", {"text": "Checked: 0.8 is right."}, format="json")
    assert answered.status_code == 200, answered.content
    assert answered.json()["state"] == "answered"
    assert answered.json()["messages"][-1] == {**answered.json()["messages"][-1], "kind": "answer",
                                               "text": "Checked: 0.8 is right.", "author": "coord-rm01"}
    assert as_monitor.post(verify).status_code == 400  # answered is not closed yet

    closed = as_monitor.post(url + "close/", {"text": "Thanks."}, format="json")
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    assert closed.json()["closed_by"] == "monitor"
    assert as_monitor.post(url + "close/").status_code == 400  # already closed
    assert as_monitor.get("/api/queries/?unresolved=true").json()["count"] == 0

    assert as_other.post(verify).status_code == 404
    assert as_coordinator.post(verify).status_code == 403
    verified = as_monitor.post(verify)
    assert verified.status_code == 200, verified.content
    assert verified.json()["status"] == "verified" and verified.json()["changed_by"] == "monitor"
    locked = as_monitor.post(f"/api/patients/{patient.study_id}/forms/{FORM}/lock/")
    assert locked.status_code == 200 and locked.json()["status"] == "locked"
    # A locked form takes no change.
    cycle.refresh_from_db()
    change = as_coordinator.patch(f"/api/{PART}/{cycle.pk}/", {"version": cycle.version, "reason": "typo"},
                                  format="json")
    assert change.status_code == 403

    unlock = f"/api/patients/{patient.study_id}/forms/{FORM}/unlock/"
    no_reason = as_monitor.post(unlock, {"reason": " "}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    unlocked = as_monitor.post(unlock, {"reason": "Late lab result"}, format="json")
    assert unlocked.status_code == 200 and unlocked.json()["status"] == "verified"
    state = FormState.objects.get(patient=patient, form=FORM)
    assert state.history.first().history_change_reason == "Unlocked: Late lab result"
    # The reason may come in the header, as for the forms.
    as_monitor.post(f"/api/patients/{patient.study_id}/forms/{FORM}/lock/")
    by_header = as_monitor.post(unlock, HTTP_X_REASON_FOR_CHANGE="Monitor visit")
    assert by_header.status_code == 200

    # The audit trail holds it all, with the reasons.
    audit = as_monitor.get(f"/api/patients/{patient.study_id}/audit/?form={FORM}&limit=200").json()
    reasons = {entry["reason"] for entry in audit["results"]}
    assert {"Unlocked: Late lab result", "Source data verified", "Locked", "Answered", "Closed"} <= reasons
    assert all(entry["form"] == FORM for entry in audit["results"])


def test_a_query_on_a_row_of_another_casebook_or_form_is_refused(filled, monitor, api_as):
    patient, _rows = filled["own"]
    _other, other_rows = filled["other"]
    client = api_as(monitor)
    body = {"patient": patient.study_id, "form": FORM, "part": PART, "question": "?"}
    assert "row_id" in client.post("/api/queries/", {**body, "row_id": other_rows[PART].pk}, format="json").json()
    assert "part" in client.post("/api/queries/", {**body, "part": "follow-up", "row_id": 1}, format="json").json()
    assert "part" in client.post("/api/queries/", {**body, "part": None, "row_id": 1}, format="json").json()
    unknown = client.post("/api/queries/", {**body, "part": PART, "row_id": filled["own"][1][PART].pk,
                                            "field_name": "nothing"}, format="json")
    assert unknown.status_code == 400 and "field_name" in unknown.json()
    whole = client.post("/api/queries/", {"patient": patient.study_id, "form": "baseline",
                                          "question": "Is the Ph status known?"}, format="json")
    assert whole.status_code == 201 and whole.json()["part"] is None
    single = client.post("/api/queries/", {"patient": patient.study_id, "form": "baseline", "field_name": "ph_status",
                                           "row_id": filled["own"][1]["baseline"].pk, "question": "?"}, format="json")
    assert single.status_code == 201 and single.json()["part"] == "baseline"


def test_coordinators_of_another_center_see_nothing_of_it(filled, monitor, other_coordinator, api_as):
    patient, _rows = filled["own"]
    query = DataQuery.objects.create(patient=patient, form=FORM, question="?", raised_by=monitor)
    client = api_as(other_coordinator)
    for url in [f"/api/patients/{patient.study_id}/audit/", f"/api/patients/{patient.study_id}/signature/",
                f"/api/queries/{query.pk}/"]:
        assert client.get(url).status_code == 404, url
    for action in ("verify", "lock", "unlock"):
        assert client.post(f"/api/patients/{patient.study_id}/forms/{FORM}/{action}/",
                           {"reason": "x"}, format="json").status_code == 404
    assert client.get(f"/api/queries/?patient={patient.study_id}").json()["count"] == 0
    assert client.get("/api/queries/?center=RM01").json()["count"] == 0
    # Raising one names no other center's casebook (and coordinators raise none at all).
    assert client.post("/api/queries/", {"patient": patient.study_id, "form": FORM, "question": "?"},
                       format="json").status_code == 403


def test_the_audit_trail_is_masked_per_role_as_on_its_page(filled, monitor, statistician, coordinator, api_as):
    patient, _rows = filled["own"]
    for user in (monitor, statistician, coordinator):
        response = api_as(user).get(f"/api/patients/{patient.study_id}/audit/?limit=1000")
        assert response.status_code == 200
        entries = response.json()["results"]
        page = casebook_audit_trail(patient=patient, user=user)
        assert [(e["record"], e["record_id"], e["action"], e["reason"]) for e in entries] == [
            (e.record, e.record_id, e.action, e.reason) for e in page]
        assert [[(c["field_name"], c["old"], c["new"], c["new_shown"]) for c in e["changes"]] for e in entries] == [
            [(c.field_name, c.old, c.new, c.new_shown) for c in e.changes] for e in page]
        enrolled = next(e for e in entries if e["form"] == "enrollment" and e["action"] == "created")
        hospital_id = next(c for c in enrolled["changes"] if c["field_name"] == "local_hospital_id")
        if user is statistician:
            assert hospital_id["new"] == IDENTIFIER_MASK
            assert patient.local_hospital_id not in response.content.decode()
        else:
            assert hospital_id["new"] == patient.local_hospital_id
    assert FREE_TEXT_MASK  # the masks are the project's own (patients.clinical)
    paged = api_as(monitor).get(f"/api/patients/{patient.study_id}/audit/?limit=2").json()
    assert len(paged["results"]) == 2 and paged["next"]
    assert api_as(monitor).get(f"/api/patients/{patient.study_id}/audit/?form=nope").status_code == 400


def test_signature_status(filled, investigator, statistician, api_as):
    patient, _rows = filled["own"]
    body = api_as(statistician).get(f"/api/patients/{patient.study_id}/signature/").json()
    assert body["signed"] is False and body["signature"] is None and body["history"] == []
    assert body["unsigned_reasons"]  # no form is complete yet


def test_query_filters(filled, monitor, coordinator, api_as):
    patient, _rows = filled["own"]
    other, _rows = filled["other"]
    open_query = DataQuery.objects.create(patient=patient, form=FORM, question="?", raised_by=monitor)
    DataQuery.objects.create(patient=other, form="baseline", question="?", raised_by=monitor,
                             state=QueryState.CLOSED)
    client = api_as(monitor)
    assert client.get("/api/queries/").json()["count"] == 2
    assert [q["id"] for q in client.get("/api/queries/?center=RM01").json()["results"]] == [open_query.pk]
    assert [q["id"] for q in client.get(f"/api/queries/?patient={patient.study_id}").json()["results"]] == [
        open_query.pk]
    assert client.get("/api/queries/?form=baseline&state=closed").json()["count"] == 1
    assert client.get("/api/queries/?unresolved=false").json()["count"] == 1
    assert client.get("/api/queries/?state=nope").status_code == 400
    assert api_as(coordinator).get("/api/queries/").json()["count"] == 1


# --- Unknown query parameters -------------------------------------------------------------


def list_paths(document) -> list[str]:
    """The list operations of the schema (drf-spectacular names them `..._list`), but the data
    dictionary (one document, whose parameters its own serializer reads)."""
    return [path for path, operations in document["paths"].items()
            if operations.get("get", {}).get("operationId", "").endswith("_list")
            and not path.startswith("/api/dictionary/")]


@pytest.fixture
def schema_document(administrator, client):
    client.force_login(administrator)
    return client.get("/api/schema/?format=json").json()


def test_every_list_refuses_an_unknown_query_parameter_naming_it(filled, administrator, api_as, schema_document):
    patient, _rows = filled["own"]
    client = api_as(administrator)
    paths = [path.replace("{study_id}", patient.study_id) for path in list_paths(schema_document)]
    expected = {"/api/patients/", "/api/centers/", "/api/reports/", "/api/exports/logs/", "/api/ctcae-terms/", "/api/queries/",
                "/api/auth/tokens/", f"/api/patients/{patient.study_id}/audit/",
                *(f"/api/{part.slug}/" for part in casebook.parts() if not part.is_patient)}
    assert expected <= set(paths), expected - set(paths)
    for path in paths:
        refused = client.get(f"{path}?study_id=RM01-001")
        assert refused.status_code == 400, (path, refused.status_code)
        assert list(refused.json()) == ["study_id"], path
        assert "study_id" in refused.json()["study_id"][0]
        template = path.replace(patient.study_id, "{study_id}")
        documented = {p["name"] for p in schema_document["paths"][template]["get"].get("parameters", [])}
        paging = "&limit=1&offset=0" if "limit" in documented else ""
        assert client.get(f"{path}?format=json{paging}").status_code == 200, path


def test_every_documented_query_parameter_is_known(filled, administrator, api_as, schema_document):
    """What the schema documents for a list is what the list accepts (the value may be wrong)."""
    patient, _rows = filled["own"]
    client = api_as(administrator)
    for path in list_paths(schema_document):
        names = [p["name"] for p in schema_document["paths"][path]["get"].get("parameters", []) if p["in"] == "query"]
        url = path.replace("{study_id}", patient.study_id)
        for name in names:
            response = client.get(f"{url}?{name}=1")
            assert "Unknown query parameter" not in response.content.decode(), (path, name)


def test_a_search_is_known_to_the_ctcae_terms_and_a_retrieve_keeps_its_parameters(filled, coordinator, api_as):
    client = api_as(coordinator)
    assert client.get("/api/ctcae-terms/?search=febr").status_code == 200
    assert "serach" in client.get("/api/ctcae-terms/?serach=febr").json()
    _patient, rows = filled["own"]
    line = rows["prior-lines"]
    deleted = client.delete(f"/api/prior-lines/{line.pk}/?version={line.version}&reason=duplicate")
    assert deleted.status_code == 204, deleted.content
