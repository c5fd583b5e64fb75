"""Celery tasks of analysis reports: thin, they take the report's ID and call the service."""

from __future__ import annotations

from celery import Task, shared_task
from django.conf import settings

import analytics.figures  # noqa: F401 (matplotlib loads once, when the worker starts, not in a report's time)
from analytics.services import TRANSIENT_DB_ERRORS, jobs_reap, readable_error, report_mark_failed, report_run


class ReportTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """Retries exhausted, or the worker hit the time limit: say so on the report."""
        report_id = args[0] if args else kwargs.get("report_id")
        if report_id is not None:
            report_mark_failed(report_id=report_id, error=readable_error(exc))


@shared_task(
    bind=True,
    base=ReportTask,
    name="analytics.report_run",
    acks_late=True,  # redelivered if the worker dies; report_run is safe to run twice
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_DB_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=settings.ANALYTICS_REPORT_SOFT_TIME_LIMIT,
    time_limit=settings.ANALYTICS_REPORT_TIME_LIMIT,
)
def report_run_task(self, report_id: int) -> str:
    return report_run(report_id=report_id).status


@shared_task(name="analytics.jobs_reap", ignore_result=True)
def jobs_reap_task() -> dict[str, int]:
    """Every minute (beat): fail the reports and check runs whose worker died."""
    return jobs_reap()
