"""Reports on a real Celery worker and a real broker (CELERY_BROKER_URL; CI sets Redis)."""

import contextlib
import datetime as dt
import os
import signal
import subprocess
import time

import psycopg
import pytest
from rest_framework.test import APIClient

from analytics.models import Report, ReportStatus
from analytics.services import jobs_reap, report_enqueue, report_start
from tests.analytics.celery_worker import worker_database_url, worker_start, worker_stop
from tests.analytics.cohort import small_cohort

# Committed rows: the worker is another process. (The flush between transactional tests
# makes the role groups again: sites.apps.)
pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]
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


# --- A worker killed in the middle of a report (kill -9 of the main process and its children) --

# Faults are found in seconds rather than minutes: unacknowledged messages go back to the queue
# after 5 s (the sweep looks every second), and a running report beats every second.
FAST_RECOVERY = {"CELERY_VISIBILITY_TIMEOUT": "5", "CELERY_UNACKED_RESTORE_INTERVAL": "1",
                 "ANALYTICS_REPORT_HEARTBEAT_SECONDS": "1"}
RECOVERY_DEADLINE = 90


@contextlib.contextmanager
def patients_locked():
    """The patients table locked from another session: a report waits in its dataset load,
    'running', for as long as this lasts."""
    with psycopg.connect(worker_database_url()) as session:
        session.execute("LOCK TABLE patients_patient IN ACCESS EXCLUSIVE MODE")
        yield
        session.rollback()


def wait_for(predicate, *, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.1)
    return value


def started_and_killed(settings, queue, log_path, statistician) -> tuple[Report, subprocess.Popen]:
    """A report started on a fresh worker, which is killed (every process) while it runs."""
    worker = worker_start(settings, queue, log_path, **FAST_RECOVERY)
    try:
        with patients_locked():
            report = report_start(user=statistician, cutoff=dt.date(2024, 1, 1))
            wait_for(lambda: Report.objects.get(pk=report.pk).status == ReportStatus.RUNNING, seconds=30,
                     what="the worker runs the report")
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
    return report, worker


def test_a_report_whose_worker_was_killed_runs_again_when_a_worker_restarts(
        worker_queue, settings, tmp_path, statistician, center):
    small_cohort(center)
    report, _killed = started_and_killed(settings, worker_queue, tmp_path / "killed.log", statistician)
    assert Report.objects.get(pk=report.pk).status == ReportStatus.RUNNING
    restarted = worker_start(settings, worker_queue, tmp_path / "restarted.log", **FAST_RECOVERY)
    try:
        report = wait_for(lambda: (r := Report.objects.get(pk=report.pk)).is_finished and r, seconds=RECOVERY_DEADLINE,
                          what="the report is taken again from the queue and ends")
    finally:
        worker_stop(restarted)
    assert report.status == ReportStatus.SUCCEEDED, report.error
    assert report.results["n_patients"] == 12


def test_a_report_whose_worker_died_is_failed_by_the_reaper_and_a_live_one_is_not(
        worker_queue, settings, tmp_path, statistician, center):
    small_cohort(center)
    settings.ANALYTICS_REPORT_STALE_AFTER = 3
    worker = worker_start(settings, worker_queue, tmp_path / "worker.log", **FAST_RECOVERY)
    try:
        with patients_locked():
            report = report_start(user=statistician, cutoff=dt.date(2024, 1, 1))
            wait_for(lambda: Report.objects.get(pk=report.pk).status == ReportStatus.RUNNING, seconds=30,
                     what="the worker runs the report")
            alive_until = time.monotonic() + 5  # longer than STALE_AFTER: only the heartbeat keeps it
            while time.monotonic() < alive_until:
                assert jobs_reap()["reports"] == 0
                time.sleep(0.5)
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
    wait_for(lambda: jobs_reap()["reports"], seconds=20, what="the reaper fails the report")
    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED and report.finished_at
    assert "worker running this report stopped" in report.error
