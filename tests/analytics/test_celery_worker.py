"""Reports on a real Celery worker and a real broker (CELERY_BROKER_URL; CI sets Redis)."""

import datetime as dt
import time

import pytest
from rest_framework.test import APIClient

from analytics.models import Report, ReportStatus
from analytics.services import report_enqueue
from tests.analytics.cohort import small_cohort

# Committed rows (the worker is another process); serialized rollback brings back the
# role groups of the data migrations that the flush between transactional tests removes.
pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
TIMEOUT = 120


def observe(report_id: int, first: tuple[str, int]) -> list[tuple[str, int]]:
    """Every distinct (status, progress) the report shows until it finishes, after ``first``."""
    seen = [first]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        report = Report.objects.get(pk=report_id)
        state = (report.status, report.progress)
        if not seen or seen[-1] != state:
            seen.append(state)
        if report.is_finished:
            return seen
        time.sleep(0.02)
    pytest.fail(f"report {report_id} not finished after {TIMEOUT} s; seen {seen}")


def test_a_report_started_through_the_api_runs_on_the_worker(celery_worker, statistician, center):
    small_cohort(center)
    api = APIClient()
    api.force_authenticate(statistician)
    response = api.post("/api/reports/", {"cutoff": "2024-01-01"}, format="json")
    assert response.status_code == 202
    report_id = response.json()["id"]
    assert response.json()["status"] == "queued"  # not run in this process
    seen = observe(report_id, ("queued", response.json()["progress"]))
    statuses = [status for status, _ in seen]
    assert statuses[0] == ReportStatus.QUEUED and statuses[-1] == ReportStatus.SUCCEEDED, seen
    assert ReportStatus.RUNNING in statuses, seen
    assert any(status == ReportStatus.RUNNING and 0 < progress < 100 for status, progress in seen), seen
    body = api.get(f"/api/reports/{report_id}/").json()
    assert body["progress"] == 100 and body["results"]["n_patients"] == 12
    task_id = Report.objects.get(pk=report_id).task_id
    assert task_id
    deadline = time.monotonic() + 10  # the worker's log reaches the file a moment later
    while f"analytics.report_run[{task_id}] succeeded" not in celery_worker.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the worker's log does not show the task"
        time.sleep(0.1)
    # the prefork child is daemonic: the time-dependent Cox model still got its own process
    assert "cannot fork" not in celery_worker.read_text(errors="replace")


def test_a_report_whose_task_fails_is_marked_failed_with_the_error(celery_worker, statistician, center):
    small_cohort(center)
    report = Report.objects.create(requested_by=statistician, cutoff=dt.date(2024, 1, 1), ci_method="bogus")
    report_enqueue(report_id=report.pk)
    seen = observe(report.pk, (report.status, report.progress))
    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED, seen
    assert "Unknown confidence interval method 'bogus'" in report.error
    assert ReportStatus.RUNNING in [status for status, _ in seen]
