"""POST /api/reports/ → 202; GET /api/reports/<id>/ → status, progress, results."""

import datetime as dt
import time

import pytest
from rest_framework.test import APIClient

from analytics.models import Report, ReportStatus
from sites.services import api_token_create
from tests.analytics.cohort import small_cohort


@pytest.fixture
def api(statistician):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=statistician)[1]}")
    return client


def test_post_answers_202_with_id_and_url_then_get_gives_results(api, center, django_capture_on_commit_callbacks):
    small_cohort(center)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/reports/", {"cutoff": "2024-01-01", "centers": ["RM01"], "ci_method": "log"},
                            format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["url"].endswith(f"/api/reports/{body['id']}/") and response["Location"] == body["url"]
    detail = api.get(f"/api/reports/{body['id']}/").json()
    assert detail["status"] == "succeeded" and detail["progress"] == 100
    assert detail["results"]["n_patients"] == 12 and detail["results"]["ci_method"] == "log"
    assert detail["links"]["pdf"].endswith("/report.pdf") and "os" in detail["links"]["figures"]
    assert api.get("/api/reports/").json()["results"][0]["id"] == body["id"]


def test_results_are_absent_until_the_report_succeeds(api, statistician):
    report = Report.objects.create(requested_by=statistician, cutoff=dt.date(2024, 1, 1),
                                   status=ReportStatus.RUNNING, progress=35, step="Overall survival")
    body = api.get(f"/api/reports/{report.pk}/").json()
    assert (body["status"], body["progress"], body["step"], body["results"]) == (
        "running", 35, "Overall survival", None)


@pytest.mark.parametrize(("payload", "field"), [
    ({"cutoff": "2999-01-01"}, "cutoff"),
    ({"cutoff": "yesterday"}, "cutoff"),
    ({"centers": ["ZZ99"]}, "centers"),
    ({"ci_method": "plain"}, "ci_method"),
])
def test_bad_parameters_give_400_on_the_field(api, center, payload, field):
    response = api.post("/api/reports/", payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Report.objects.exists()


@pytest.mark.parametrize("role_fixture", ["coordinator", "monitor"])
def test_other_roles_get_403(db, role_fixture, request, statistician):
    report = Report.objects.create(requested_by=statistician, cutoff=dt.date(2024, 1, 1))
    client = APIClient()
    client.force_authenticate(request.getfixturevalue(role_fixture))
    assert client.post("/api/reports/", {}, format="json").status_code == 403
    assert client.get(f"/api/reports/{report.pk}/").status_code == 403
    assert APIClient().get("/api/reports/").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_starting_a_report_with_the_broker_down_is_a_503_at_once_and_leaves_no_queued_report(
        broker_down, statistician, center):
    api = APIClient()
    api.force_authenticate(statistician)
    started = time.monotonic()
    response = api.post("/api/reports/", {"cutoff": "2024-01-01"}, format="json")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert "job queue is unavailable" in response.json()["detail"]
    report = Report.objects.get()
    assert report.status == ReportStatus.FAILED and "job queue is unavailable" in report.error
