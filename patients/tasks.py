"""Celery tasks of the automatic checks: thin wrappers around `patients.checks`."""

from celery import shared_task
from django.conf import settings

from patients.checks import casebook_checks_run, check_run_execute, system_checks_user


@shared_task(time_limit=settings.DATA_CHECKS_TIME_LIMIT)  # a run still 'running' later has lost its worker
def casebook_checks_run_task(*, run_id: int) -> int:
    """Execute a recorded run of the automatic checks (started from the monitors' page)."""
    return check_run_execute(run_id=run_id).pk


@shared_task
def casebook_checks_nightly() -> int:
    """The nightly run over every casebook, raising queries as the 'system-checks' user."""
    return casebook_checks_run(user=system_checks_user()).pk
