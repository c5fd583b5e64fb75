"""A real Celery worker for tests marked ``celery_worker``.

It runs as a subprocess (``celery -A inocd22 worker --pool prefork``, the production pool,
whose daemonic child runs the task and forks the report's second process) on the broker of
CELERY_BROKER_URL, against the SAME test database as the test (so the test uses
``transactional_db``: its rows are committed and visible to the worker). Only inside
this fixture do tasks leave the test process; everywhere else they run eagerly.

Without CELERY_BROKER_URL the tests skip, except under CI (env var CI set) where
they fail: CI must exercise the real worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from inocd22.celery import app as celery_app

WORKER_START_TIMEOUT = 90  # seconds: the worker imports Django, pandas, lifelines, matplotlib


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the real-worker tests must run, not skip)")
    pytest.skip(reason)


def worker_database_url() -> str:
    """A DATABASE_URL that opens the test database this test process uses."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        credentials = quote(db["USER"] or "", safe="")
        if db.get("PASSWORD"):
            credentials += ":" + quote(db["PASSWORD"], safe="")
        host = db.get("HOST") or "127.0.0.1"
        port = db.get("PORT") or 5432
        return f"postgres://{credentials}@{host}:{port}/{db['NAME']}"
    if connection.vendor == "sqlite" and not connection.is_in_memory_db():
        return f"sqlite:///{db['NAME']}"
    _unavailable("the real-worker test needs a database another process can open (PostgreSQL, as in CI)")
    return ""


def worker_start(settings, queue: str, log_path: Path, **env_overrides: str) -> subprocess.Popen:
    """A worker on ``queue``, in a session of its own (so that a test can kill it and every
    child at once), logging to ``log_path``; ready when this returns."""
    broker = settings.CELERY_BROKER_URL
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "inocd22.settings.test",
        "DATABASE_URL": worker_database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND or broker,
        **env_overrides,
    }
    command = [sys.executable, "-m", "celery", "-A", "inocd22", "worker", "--pool", "prefork", "--concurrency", "1",
               "--queues", queue,
               "--hostname", f"{queue}@%h", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
               "--without-heartbeat"]
    with open(log_path, "ab") as log:
        worker = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        _wait_until_ready(worker, log_path)
    except BaseException:
        worker_stop(worker)
        raise
    return worker


def worker_stop(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@pytest.fixture
def worker_queue(transactional_db, settings):
    """A queue of this test's own, where the reports and the imports go; tasks leave this process."""
    if not settings.CELERY_BROKER_URL:
        _unavailable("CELERY_BROKER_URL is not set: no broker for a real Celery worker")
    queue = f"inocd22-test-{uuid.uuid4().hex[:10]}"
    settings.ANALYTICS_REPORT_QUEUE = settings.SITE_IMPORT_QUEUE = queue
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        yield queue
    finally:
        celery_app.conf.task_always_eager = eager


@pytest.fixture
def celery_worker(worker_queue, settings, tmp_path):
    """Start a worker on a queue of its own; yield its log path; stop it afterwards."""
    log_path = tmp_path / "worker.log"
    worker = worker_start(settings, worker_queue, log_path)
    try:
        yield log_path
    finally:
        worker_stop(worker)


def _wait_until_ready(worker: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + WORKER_START_TIMEOUT
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if " ready." in text:
            return
        if worker.poll() is not None:
            pytest.fail(f"the Celery worker exited with {worker.returncode}:\n{text[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"the Celery worker was not ready in {WORKER_START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")
