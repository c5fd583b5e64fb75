"""Role by endpoint: every endpoint, every role, a row of the user's own center and one of
another center. Site staff never read another center's row through any endpoint (404, and
absent from every list); only site staff write; only statisticians and administrators export;
only administrators read the export log; only monitors raise, close, verify, lock and unlock,
only site staff answer queries, and statisticians see no query."""

import json

import pytest

from patients.models import DataQuery, FormState, FormStatus
from sites.roles import Role
from tests.api.conftest import FORM_ENDPOINTS
from tests.factories import UserFactory

ROLES = ["coordinator", "investigator", "monitor", "statistician", "administrator"]
SITE_ROLES = {"coordinator", "investigator"}
EXPORTERS = {"statistician", "administrator"}


def row_url(endpoint, row):
    if endpoint == "patients":
        return f"/api/patients/{row.study_id}/"
    return f"/api/{endpoint}/{row.pk}/"


def all_rows(casebooks, side):
    patient, rows = casebooks[side]
    return [("patients", patient), *rows.items()]


def list_everything(client, endpoint):
    """Every page of a list endpoint."""
    found, url = [], f"/api/{endpoint}/?limit=50"
    while url:
        response = client.get(url)
        assert response.status_code == 200, (endpoint, response.status_code, response.content[:300])
        found.extend(response.json()["results"])
        url = response.json()["next"]
    return found


@pytest.mark.parametrize("role", ROLES)
def test_reads(role, request, casebooks, api_as, db):
    user = request.getfixturevalue(role)
    client = api_as(user)
    sees_other = role not in SITE_ROLES
    own_patient, _rows = casebooks["own"]
    other_patient, _rows = casebooks["other"]
    for side in ("own", "other"):
        for endpoint, row in all_rows(casebooks, side):
            response = client.get(row_url(endpoint, row))
            expected = 200 if side == "own" or sees_other else 404
            assert response.status_code == expected, (role, side, endpoint, response.status_code)
    for endpoint in ["patients", *FORM_ENDPOINTS]:
        listed = list_everything(client, endpoint)
        keys = {item.get("study_id") or item.get("patient") for item in listed}
        assert own_patient.study_id in keys, (role, endpoint)
        assert (other_patient.study_id in keys) == sees_other, (role, endpoint)
        text = json.dumps(listed)
        assert (other_patient.study_id in text) == sees_other
        # Filtering by the other center's code never reveals its rows to site staff.
        filtered = client.get(f"/api/{endpoint}/?center=MI02").json()
        assert (filtered["count"] > 0) == sees_other, (role, endpoint)
    centers = {item["code"] for item in list_everything(client, "centers")}
    assert centers == ({"RM01", "MI02"} if sees_other else {"RM01"})
    assert client.get("/api/centers/MI02/").status_code == (200 if sees_other else 404)
    assert client.get("/api/centers/RM01/").status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_writes(role, request, casebooks, api_as, db):
    user = request.getfixturevalue(role)
    client = api_as(user)
    writes = role in SITE_ROLES
    for side in ("own", "other"):
        for endpoint, row in all_rows(casebooks, side):
            row.refresh_from_db()
            response = client.patch(row_url(endpoint, row), {"version": row.version}, format="json")
            expected = 403 if not writes else 200 if side == "own" else 404
            assert response.status_code == expected, (role, side, endpoint, response.status_code, response.content)
            if expected == 200:
                assert response.json()["version"] == row.version + 1
            if endpoint != "patients" and FORM_ENDPOINTS[endpoint][1] and side == "other":
                deleted = client.delete(row_url(endpoint, row) + f"?version={row.version}")
                assert deleted.status_code == (404 if writes else 403), (role, endpoint)
    other_patient, _rows = casebooks["other"]
    created = client.post("/api/prior-lines/", {
        "patient": other_patient.study_id, "line_number": 2, "category": "blinatumomab",
        "start_date": "2016-01-01", "best_response": "nr"}, format="json")
    # Site staff cannot even name another center's patient; the others may not write at all.
    assert created.status_code == (400 if writes else 403)
    if writes:
        # The same answer as for a study ID that does not exist: its existence is not revealed.
        missing = client.post("/api/prior-lines/", {
            "patient": "ZZ99-999", "line_number": 2, "category": "blinatumomab",
            "start_date": "2016-01-01", "best_response": "nr"}, format="json")
        assert json.dumps(created.json()).replace(other_patient.study_id, "X") == json.dumps(
            missing.json()).replace("ZZ99-999", "X")
    enrolled = client.post("/api/patients/", {"center": "MI02", "sex": "F", "local_hospital_id": "X1",
                                              "initials": "AB", "date_of_birth": "1970-01-01"}, format="json")
    assert enrolled.status_code == (400 if writes else 403)


@pytest.mark.parametrize("role", ROLES)
def test_exports_dictionary_and_log(role, request, casebooks, api_as, db):
    user = request.getfixturevalue(role)
    client = api_as(user)
    response = client.get("/api/exports/dataset/?file_format=json")
    assert response.status_code == (200 if role in EXPORTERS else 403)
    if role in EXPORTERS:
        document = json.loads(b"".join(response.streaming_content))
        # Statisticians and administrators export every center.
        assert {row["center"] for row in document["tables"]["patients"]} == {"RM01", "MI02"}
    assert client.get("/api/dictionary/").status_code == 200
    logs = client.get("/api/exports/logs/")
    assert logs.status_code == (200 if role == "administrator" else 403)
    if role == "administrator":
        assert logs.json()["count"] == 1
    page = client.get("/exports/")  # token clients are not logged in to the browser pages
    assert page.status_code == 302


@pytest.mark.parametrize("role", ROLES)
def test_export_page_by_role(role, request, client, db):
    user = request.getfixturevalue(role)
    client.force_login(user)
    response = client.get("/exports/")
    assert response.status_code == (200 if role in EXPORTERS else 403)
    if role in EXPORTERS:
        html = response.content.decode()
        for choice in ("csv", "json", "dta", "sav", "xpt", "odm", "relative", "shifted", "codes", "labels"):
            assert f'value="{choice}"' in html
        assert 'action="/api/exports/dataset/"' in html


def test_anonymous_gets_401_everywhere(casebooks, client):
    from rest_framework.test import APIClient

    anonymous = APIClient()
    patient, _rows = casebooks["own"]
    for url in ["/api/patients/", f"/api/patients/{patient.study_id}/", "/api/baseline/", "/api/centers/",
                "/api/exports/dataset/", "/api/dictionary/", "/api/exports/logs/"]:
        assert anonymous.get(url).status_code == 401, url


# --- Data management: every route × role × own/other center ---------------------------------

DM_FORM = "follow_up"
MONITOR_ONLY = {"monitor"}
QUERY_READERS = SITE_ROLES | {"monitor", "administrator"}


def _dm_expected(route, role, side):
    """The answer a role gets on a data-management route, for a casebook of its own center or
    of another. Routes are tried in this table's order: the monitor's query is closed before
    the form is verified and locked."""
    hidden = side == "other" and role in SITE_ROLES
    method, template = route
    if template.startswith("/api/queries/"):
        if role not in QUERY_READERS:
            return 403  # statisticians see no query at all
        if template == "/api/queries/" and method == "GET":
            return 200
        if template == "/api/queries/":
            return 201 if role in MONITOR_ONLY else 403  # raising names the casebook in the body
        if hidden:
            return 404
        return {
            ("GET", "/api/queries/{id}/"): 200,
            ("POST", "/api/queries/{id}/answer/"): 200 if role in SITE_ROLES else 403,
            ("POST", "/api/queries/{id}/reopen/"): 400 if role in MONITOR_ONLY else 403,  # not closed
            ("POST", "/api/queries/{id}/close/"): 200 if role in MONITOR_ONLY else 403,
        }[route]
    if hidden:
        return 404
    if method == "GET":
        return 200
    return 200 if role in MONITOR_ONLY else 403


DM_ROUTES = [
    ("GET", "/api/queries/"),
    ("POST", "/api/queries/"),
    ("GET", "/api/queries/{id}/"),
    ("POST", "/api/queries/{id}/answer/"),
    ("POST", "/api/queries/{id}/reopen/"),
    ("POST", "/api/queries/{id}/close/"),
    ("POST", "/api/patients/{study_id}/forms/{form}/verify/"),
    ("POST", "/api/patients/{study_id}/forms/{form}/lock/"),
    ("POST", "/api/patients/{study_id}/forms/{form}/unlock/"),
    ("GET", "/api/patients/{study_id}/audit/"),
    ("GET", "/api/patients/{study_id}/signature/"),
]


def test_every_data_management_route_is_in_the_table(client, administrator):
    client.force_login(administrator)
    paths = client.get("/api/schema/?format=json").json()["paths"]
    documented = {(method.upper(), path) for path, operations in paths.items() for method in operations
                  if method in ("get", "post", "put", "patch", "delete")
                  and (path.startswith("/api/queries/") or "/forms/" in path or path.endswith(("/audit/",
                                                                                               "/signature/")))}
    assert documented == set(DM_ROUTES)


@pytest.mark.parametrize("role", ROLES)
def test_data_management_routes(role, request, casebooks, api_as, db):
    raiser = UserFactory(username="monitor-who-raised", role=Role.MONITOR)
    user = request.getfixturevalue(role)
    client = api_as(user)
    own_patient, _rows = casebooks["own"]
    other_patient, _rows = casebooks["other"]
    sides = {}
    for side, patient in (("own", own_patient), ("other", other_patient)):
        FormState.objects.create(patient=patient, form=DM_FORM, status=FormStatus.COMPLETE)
        query = DataQuery.objects.create(patient=patient, form=DM_FORM, question="?", raised_by=raiser)
        sides[side] = (patient, query)
    for side, (patient, query) in sides.items():
        for route in DM_ROUTES:
            method, template = route
            url = template.format(id=query.pk, study_id=patient.study_id, form=DM_FORM)
            # A query raised here is on another form: it leaves the form's workflow free.
            body = {"text": "Checked.", "reason": "Late lab result", "question": "Which dose?",
                    "patient": patient.study_id, "form": "baseline"}
            response = client.get(url) if method == "GET" else client.post(url, body, format="json")
            expected = _dm_expected(route, role, side)
            assert response.status_code == expected, (role, side, route, response.status_code, response.content[:300])
        if role in QUERY_READERS:
            listed = json.dumps(client.get("/api/queries/?limit=1000").json())
            assert (patient.study_id in listed) == (side == "own" or role not in SITE_ROLES), (role, side)
