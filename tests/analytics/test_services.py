"""Starting and running reports: one task after commit, progress, failure, retries, idempotence."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import OperationalError
from django.utils import timezone

from analytics import services
from analytics.models import Report, ReportStatus
from analytics.services import report_run, report_start
from tests.analytics.cohort import small_cohort

CUTOFF = dt.date(2024, 1, 1)


def test_starting_enqueues_one_task_after_commit(statistician, center, django_capture_on_commit_callbacks,
                                                 monkeypatch):
    small_cohort(center)
    sent = []
    monkeypatch.setattr("analytics.tasks.report_run_task.apply_async",
                        lambda kwargs, queue: sent.append((kwargs, queue)) or type("R", (), {"id": "t-1"})())
    with django_capture_on_commit_callbacks() as callbacks:
        report = report_start(user=statistician, cutoff=CUTOFF, center_codes=["rm01"], ci_method="log")
        assert sent == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    assert sent == [({"report_id": report.pk}, "celery")]
    report.refresh_from_db()
    assert (report.status, report.progress, report.task_id) == (ReportStatus.QUEUED, 0, "t-1")
    assert (report.center_codes, report.ci_method, report.requested_by) == (["RM01"], "log", statistician)


def test_eager_run_records_results_figures_hash_and_version(statistician, center, django_capture_on_commit_callbacks):
    small_cohort(center)
    with django_capture_on_commit_callbacks(execute=True):
        report = report_start(user=statistician, cutoff=CUTOFF)
    report.refresh_from_db()
    assert report.status == ReportStatus.SUCCEEDED, report.error
    assert (report.progress, report.error) == (100, "")
    assert report.results["n_patients"] == 12
    assert report.results["dataset_sha256"] == report.dataset_sha256 and len(report.dataset_sha256) == 64
    assert "lifelines" in report.software_version
    assert report.figures["os"].lstrip().startswith("<?xml")
    assert report.started_at <= report.finished_at


def test_the_same_parameters_on_the_same_data_give_the_same_results_and_hash(statistician, center):
    small_cohort(center)
    reports = [report_run(report_id=report_start(user=statistician, cutoff=CUTOFF, enqueue=False).pk)
               for _ in range(2)]
    assert reports[0].dataset_sha256 == reports[1].dataset_sha256
    assert reports[0].results == reports[1].results
    assert reports[0].figures == reports[1].figures


def test_progress_is_recorded_step_by_step(statistician, center, monkeypatch):
    small_cohort(center)
    report = report_start(user=statistician, cutoff=CUTOFF, enqueue=False)
    seen = []
    original = services.report_progress_set

    def spy(*, report_id, progress, step):
        original(report_id=report_id, progress=progress, step=step)
        row = Report.objects.get(pk=report_id)
        seen.append((row.status, row.progress, row.step))

    monkeypatch.setattr(services, "report_progress_set", spy)
    report_run(report_id=report.pk)
    assert [progress for _, progress, _ in seen] == sorted(progress for _, progress, _ in seen)
    assert all(status == ReportStatus.RUNNING for status, _, _ in seen)
    assert len(seen) >= 8 and 0 < seen[0][1] < seen[-1][1] < 100
    assert "Drawing the figures" in [step for _, _, step in seen]


def test_a_failing_report_is_marked_failed_with_a_readable_error(statistician, center):
    small_cohort(center)
    report = Report.objects.create(requested_by=statistician, cutoff=CUTOFF, ci_method="bogus")
    report = report_run(report_id=report.pk)
    assert report.status == ReportStatus.FAILED
    assert "Unknown confidence interval method 'bogus'" in report.error
    assert report.results is None and report.finished_at is not None


def test_no_patient_in_the_population_fails_clearly(statistician, center):
    report = report_run(report_id=report_start(user=statistician, cutoff=CUTOFF, enqueue=False).pk)
    assert report.status == ReportStatus.FAILED
    assert "No patient is in the analysis population" in report.error


def test_transient_database_errors_are_retried(statistician, center, monkeypatch,
                                               django_capture_on_commit_callbacks):
    small_cohort(center)
    real_load = services.analysis_dataset_load
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_load(**kwargs)

    monkeypatch.setattr(services, "analysis_dataset_load", flaky)
    with django_capture_on_commit_callbacks(execute=True):
        report = report_start(user=statistician, cutoff=CUTOFF)
    report.refresh_from_db()
    assert len(calls) == 2
    assert report.status == ReportStatus.SUCCEEDED


def test_retries_exhausted_mark_the_report_failed(statistician, center, monkeypatch,
                                                  django_capture_on_commit_callbacks):
    small_cohort(center)

    def down(**kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(services, "analysis_dataset_load", down)
    monkeypatch.setattr("analytics.tasks.report_run_task.max_retries", 1)
    with django_capture_on_commit_callbacks(execute=True):
        report = report_start(user=statistician, cutoff=CUTOFF)
    report.refresh_from_db()
    assert report.status == ReportStatus.FAILED
    assert "could not connect to server" in report.error


def test_a_succeeded_report_is_not_run_again(statistician, center, monkeypatch):
    small_cohort(center)
    report = report_run(report_id=report_start(user=statistician, cutoff=CUTOFF, enqueue=False).pk)
    monkeypatch.setattr(services, "analysis_dataset_load", lambda **kwargs: pytest.fail("ran twice"))
    assert report_run(report_id=report.pk).status == ReportStatus.SUCCEEDED


@pytest.mark.parametrize("role_fixture", ["coordinator", "monitor", "investigator"])
def test_only_statisticians_and_administrators_start_reports(db, role_fixture, request):
    with pytest.raises(PermissionDenied):
        report_start(user=request.getfixturevalue(role_fixture), cutoff=CUTOFF)
    assert not Report.objects.exists()


def test_administrators_may_start_reports(administrator, center):
    small_cohort(center)
    assert report_start(user=administrator, cutoff=CUTOFF, enqueue=False).status == ReportStatus.QUEUED


def test_bad_parameters_are_refused_by_field(statistician, center):
    with pytest.raises(ValidationError) as error:
        report_start(user=statistician, cutoff=timezone.localdate() + dt.timedelta(days=2), center_codes=["ZZ99"],
                     ci_method="plain")
    assert set(error.value.message_dict) == {"cutoff", "center_codes", "ci_method"}
    assert not Report.objects.exists()
