"""An import of a site's file on a real Celery worker and a real broker (CELERY_BROKER_URL;
CI sets Redis): the upload's dry run and the confirmed import both run on the worker."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from patients.models import Patient
from redcap_api.models import ImportRun, ImportStatus
from tests.redcap_api.test_site_import import csv_bytes, full_casebook  # noqa: F401  (fixture)
from tests.redcap_api.test_site_import_entry_points import new_casebook_rows

# Committed rows: the worker is another process.
pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]
TIMEOUT = 120


def finished(run_id: int) -> ImportRun:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        run = ImportRun.objects.defer("content").get(pk=run_id)
        if not run.is_running:
            return run
        time.sleep(0.05)
    pytest.fail(f"import run {run_id} still {run.status} after {TIMEOUT} s")


def task_runs(log_path) -> int:
    return log_path.read_text(errors="replace").count("redcap_api.tasks.import_run_task[")


def test_an_uploaded_file_is_checked_then_imported_on_the_worker(celery_worker, coordinator,
                                                                  full_casebook):  # noqa: F811
    rows = [row for number in (21, 22, 23)
            for row in new_casebook_rows(coordinator, full_casebook, f"RM01-{number:03d}")]
    client = Client()
    client.force_login(coordinator)
    response = client.post("/patients/import/", {"file": SimpleUploadedFile("rm01.csv", csv_bytes(rows))})
    run = ImportRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/patients/import/{run.pk}/"

    run = finished(run.pk)
    assert (run.status, run.problems, run.casebooks_total, run.casebooks_done) == (ImportStatus.CHECKED, [], 3, 3)
    assert not Patient.objects.filter(study_id__in=["RM01-021", "RM01-022", "RM01-023"]).exists()
    deadline = time.monotonic() + 10  # the worker's log reaches the file a moment later
    while "succeeded" not in celery_worker.read_text(errors="replace") or task_runs(celery_worker) < 2:
        assert time.monotonic() < deadline, "the worker's log does not show the dry run"
        time.sleep(0.1)

    client.post(f"/patients/import/{run.pk}/confirm/")
    run = finished(run.pk)
    assert (run.status, run.casebooks_written, run.patients_enrolled) == (ImportStatus.DONE, 3, 3)
    patient = Patient.objects.get(study_id="RM01-022")
    assert patient.history.get().history_change_reason.startswith("Imported from rm01.csv (row ")
    assert patient.history.get().history_user == coordinator
    while task_runs(celery_worker) < 4:  # received and succeeded, for each of the two runs
        assert time.monotonic() < deadline + 10, "the worker's log does not show the import"
        time.sleep(0.1)
