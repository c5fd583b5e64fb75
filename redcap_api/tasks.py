"""Celery tasks of the import of sites' files: thin wrappers around `redcap_api.site_import`."""

from celery import shared_task

from redcap_api.site_import import import_run_execute


@shared_task
def import_run_task(*, run_id: int) -> int:
    """The dry run or the import of a recorded import run."""
    return import_run_execute(run_id=run_id).pk
