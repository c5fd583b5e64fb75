"""Background jobs: a row that records the job, and a Celery task on the queue that runs it.

The row is committed first (the worker reads it), then its task is sent. A broker that
cannot be reached answers at once (short connection timeout, one retry; settings
``CELERY_BROKER_*``) and the row is marked failed with the reason, so that no job is left
'queued' with no task to run it; the caller gets ``QueueUnavailable`` to tell the user.

Every app's jobs go through here (analysis reports, runs of the automatic checks): it sits
in ``sites``, below every app that starts a job.
"""

from __future__ import annotations

import logging

from celery import Task
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

JOB_FAILED = "failed"  # the failed status of every job model


class QueueUnavailable(Exception):
    """The job queue (the broker) did not take the job."""

    def __init__(self) -> None:
        super().__init__(_("The job queue is unavailable: the job was not started. Try again in a few minutes."))


def job_enqueue(task: Task, *, row: models.Model, kwargs: dict, queue: str | None = None) -> str:
    """Send ``task(**kwargs)``, the job of ``row`` (already committed), and return the task's ID.

    When the broker cannot take it, marks ``row`` failed (its ``status``, ``error`` and
    ``finished_at``) and raises QueueUnavailable."""
    options = {"queue": queue} if queue else {}
    try:
        return task.apply_async(kwargs=kwargs, **options).id or ""
    except (BrokerError, OSError) as error:
        logger.warning("Job %s of %s %s not sent: %s", task.name, type(row).__name__, row.pk, error)
        unavailable = QueueUnavailable()
        type(row).objects.filter(pk=row.pk).update(status=JOB_FAILED, error=str(unavailable),
                                                   finished_at=timezone.now())
        raise unavailable from error
