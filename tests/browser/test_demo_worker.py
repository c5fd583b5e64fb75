"""`make demo` as a newcomer runs it: the embedded SQLite database, DEBUG off, and jobs
through the in-memory broker to a worker thread of the web process. A report started in the
browser runs off the request: its page comes back at once, shows its progress, and turns to
'Succeeded' when the worker is done."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = 20  # a small demo: its report takes a few seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def demo_environment(database: Path) -> dict:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")}
    # What the Makefile's demo target sets, on a database of the test's own.
    return {**environment, "DJANGO_SETTINGS_MODULE": "inocd22.settings.local", "DATABASE_URL": f"sqlite:///{database}",
            "DEBUG": "false", "CELERY_WORKER_IN_PROCESS": "true"}


@pytest.fixture
def demo_server(tmp_path):
    environment = demo_environment(tmp_path / "demo.sqlite3")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=environment, cwd=ROOT, check=True, timeout=600)
    subprocess.run([*manage, "seed_demo", "--patients", str(PATIENTS), "--centers", "4"], env=environment, cwd=ROOT,
                   check=True, timeout=600, stdout=subprocess.DEVNULL)
    port = free_port()
    server = subprocess.Popen([*manage, "runserver", f"127.0.0.1:{port}", "--noreload"], env=environment, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:  # polling with a deadline until the server answers
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("The demo server did not start.")
            time.sleep(0.5)
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_a_report_started_in_the_demo_runs_off_the_request_and_shows_its_progress(demo_server, new_page):
    page = new_page()
    page.goto(f"{demo_server}/accounts/login/")
    page.fill("input[name=username]", "statistician")
    page.fill("input[name=password]", settings.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{demo_server}/reports/new/")
    page.get_by_role("button", name="Start the report").click()
    progress = page.locator(".report-progress")
    # The page answers before the report has run: the job is the worker's, not the request's.
    expect(progress).to_have_attribute("data-status", re.compile(r"^(queued|running)$"))
    expect(page.locator("progress")).to_be_visible()
    expect(page.locator(".report-progress")).to_have_attribute("data-status", "succeeded", timeout=180_000)
