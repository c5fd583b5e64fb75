"""The import of site spreadsheets: the demo's casebooks written out in the REDCap flat format
and imported into an empty registry give the same analysis; planted errors are all reported
by the dry run, which writes nothing; a second import changes nothing."""

import csv
import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from analytics.dataset import analysis_dataset_load
from patients.models import Patient
from redcap_api.project import instruments, project_fields
from redcap_api.selectors import record_export_for_user
from redcap_api.site_import import file_rows, site_import
from sites.models import Center
from sites.roles import Role
from tests.factories import UserFactory

CUTOFF = dt.date(2025, 1, 1)


def flat_csv(user) -> bytes:
    """Every casebook the user may see in the import format: the REDCap flat export."""
    export = record_export_for_user(user=user, records=None, fields=list(project_fields()),
                                    complete=list(instruments()), data_access_groups=True)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=export.columns)
    writer.writeheader()
    writer.writerows(export.rows)
    return out.getvalue().encode()


def history_count() -> int:
    from patients.registry import casebook

    return sum(part.model.history.count() for part in casebook.parts())


def registry_emptied() -> None:
    """Every casebook gone (in the test's transaction), the centers' numbering back to zero."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred check left on the rows truncated
        cursor.execute(f"TRUNCATE {Patient._meta.db_table} CASCADE")
    Center.objects.update(last_sequence=0)


@pytest.mark.django_db
def test_the_demo_round_trips_through_the_import(tmp_path):
    call_command("seed_demo", verbosity=0)
    statistician = UserFactory(username="stat", role=Role.STATISTICIAN)
    coordinator = UserFactory(username="coord-all", role=Role.COORDINATOR, centers=list(Center.objects.all()))
    before = analysis_dataset_load(user=statistician, cutoff=CUTOFF).sha256()
    call_command("run_report", "--cutoff", CUTOFF.isoformat(), "--json", str(tmp_path / "before.json"))
    content = flat_csv(coordinator)
    patients = Patient.objects.count()
    registry_emptied()

    rows = file_rows(file_name="demo.csv", content=content)
    dry = site_import(user=coordinator, file_name="demo.csv", rows=rows, dry_run=True)
    assert [problem.line() for problem in dry.problems] == []
    assert Patient.objects.count() == 0
    outcome = site_import(user=coordinator, file_name="demo.csv", rows=rows, dry_run=False)
    assert outcome.problems == []
    assert Patient.objects.count() == patients == outcome.patients_enrolled

    statistician = type(statistician).objects.get(pk=statistician.pk)
    assert analysis_dataset_load(user=statistician, cutoff=CUTOFF).sha256() == before
    call_command("run_report", "--cutoff", CUTOFF.isoformat(), "--json", str(tmp_path / "after.json"))
    assert json.loads((tmp_path / "after.json").read_text()) == json.loads((tmp_path / "before.json").read_text())

    written = history_count()
    again = site_import(user=coordinator, file_name="demo.csv", rows=rows, dry_run=False)
    assert again.problems == [] and again.patients_enrolled == 0
    assert history_count() == written
