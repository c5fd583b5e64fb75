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
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred check left on the rows truncated
            cursor.execute(f"TRUNCATE {Patient._meta.db_table} CASCADE")
        else:  # SQLite: the tables TRUNCATE ... CASCADE would empty (its foreign keys are checked at commit)
            for model in _pointing_at(Patient):
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
    Center.objects.update(last_sequence=0)


def _pointing_at(model) -> list:
    """The model and every model whose foreign keys lead to it, however indirectly."""
    found, pending = [], [model]
    while pending:
        current = pending.pop()
        if current not in found:
            found.append(current)
            pending += [relation.related_model for relation in current._meta.related_objects]
    return found


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


def template_rows(user, study_id: str) -> list[dict]:
    """The flat rows of one casebook, as strings."""
    export = record_export_for_user(user=user, records=[study_id], fields=list(project_fields()),
                                    complete=list(instruments()), data_access_groups=True)
    return [{key: str(value) for key, value in row.items()} for row in export.rows]


def csv_bytes(rows: list[dict]) -> bytes:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def full_casebook(center):
    """RM01-001: every form, two IO cycles and an adverse event; its baseline locked by a monitor."""
    from patients.models import FormState, FormStatus
    from tests.analytics.cohort import casebook
    from tests.factories import EndOfTreatmentFactory, IOCycleFactory
    from treatments.models import AlloHsct

    patient = casebook(center, sequence=1, adverse_events=(("alt_increased", 2, 10),), hsct_day=90)
    IOCycleFactory(patient=patient, cycle_number=2, start_date=dt.date(2017, 3, 29))
    EndOfTreatmentFactory(patient=patient)
    AlloHsct.objects.filter(patient=patient).update(io_cycles_before=1)
    FormState.objects.create(patient=patient, form="baseline", status=FormStatus.LOCKED)
    Center.objects.filter(pk=center.pk).update(last_sequence=1)
    return patient


def copy_of(rows: list[dict], study_id: str, number: int) -> list[dict]:
    """The casebook's rows for a new patient `study_id` (another hospital ID)."""
    copied = [dict(row, study_id=study_id) for row in rows]
    copied[0]["local_hospital_id"] = f"H-COPY-{number}"
    return copied


def instance(rows: list[dict], instrument: str, number: int) -> dict:
    return next(row for row in rows if row["redcap_repeat_instrument"] == instrument
                and row["redcap_repeat_instance"] == str(number))


# Each plants one error in a copy of the full casebook, as a new patient: (field, value, where).
PLANTED = [
    ("sex", "X", None),  # a bad code (enrollment)
    ("date_of_birth", "1964-02-30", None),  # not a date
    ("ph_status", "bogus", None),  # a bad code (baseline)
    ("cd22_expression_pct", "eighty", None),  # text in a number
    ("cd22_expression_pct", "150", None),  # out of range
    ("ecog", "9", None),  # out of range
    ("end_date", "2015-10-17", ("prior_lines", 1)),  # dates out of order: before its start
    ("cycle_number", "1", ("io_cycles", 2)),  # a duplicate cycle number
    ("dose_day1", "abc", ("io_cycles", 2)),  # text in a number
    ("delayed", "maybe", ("io_cycles", 2)),  # not yes/no
    ("ctcae_term", "99999999", ("adverse_events", 1)),  # not a CTCAE term
    ("onset_date", "2017-13-40", ("adverse_events", 1)),  # not a date
    ("response", "xx", ("responses", 1)),  # a bad code
    ("donor", "alien", None),  # a bad code (HSCT)
    ("vital_status", "zombie", None),  # a bad code (follow-up)
    ("cns_disease", "UNK-ish", None),  # not yes/no, nor a missing data code
]


@pytest.mark.django_db
def test_every_planted_error_is_in_the_dry_run_and_nothing_is_written(coordinator, full_casebook, other_patient):
    base = template_rows(coordinator, full_casebook.study_id)
    rows: list[dict] = []
    for number, (field, value, where) in enumerate(PLANTED, start=2):
        copied = copy_of(base, f"RM01-{number:03d}", number)
        target = copied[0] if where is None else instance(copied, *where)
        target[field] = value
        rows += copied
    locked = [dict(row) for row in base]
    locked[0]["cd22_expression_pct"] = "70"  # the locked baseline
    rows += locked
    rows += [dict(base[0], study_id=other_patient.study_id, redcap_data_access_group="")]  # another center's
    rows += [dict(base[0], study_id="MI02-050", redcap_data_access_group="")]  # another center's, not enrolled
    rows += [dict(row, study_id="RM01-030", redcap_data_access_group="mi02") for row in base[:1]]  # another group
    assert len(PLANTED) + 4 == 20

    sheet_rows = file_rows(file_name="planted.csv", content=csv_bytes(rows))
    patients, written = Patient.objects.count(), history_count()
    outcome = site_import(user=coordinator, file_name="planted.csv", rows=sheet_rows, dry_run=True)
    lines = [problem.line() for problem in outcome.problems]
    # one problem per planted error; the duplicate cycle number also breaks its start date rule
    assert len({(problem.record, problem.row) for problem in outcome.problems}) == 20, "\n".join(lines)
    assert len(outcome.problems) == 21, "\n".join(lines)
    assert {problem.record for problem in outcome.problems} == (
        {f"RM01-{n:03d}" for n in range(2, 2 + len(PLANTED))} | {"RM01-001", other_patient.study_id, "MI02-050",
                                                                   "RM01-030"})
    by_record = {problem.record: problem for problem in outcome.problems}
    assert by_record[other_patient.study_id].message == by_record["MI02-050"].message == (
        "This study ID is not one of your centers.")
    assert "locked" in by_record["RM01-001"].message
    for number, (field, value, _where) in enumerate(PLANTED, start=2):
        found = [problem for problem in outcome.problems if problem.record == f"RM01-{number:03d}"]
        assert found[0].field == field and found[0].value == value and found[0].row > 1, found
    assert (Patient.objects.count(), history_count()) == (patients, written)
    assert Center.objects.get(code="RM01").last_sequence == 1


@pytest.mark.django_db
def test_a_casebook_the_database_refuses_does_not_take_down_the_others_of_its_batch(coordinator, full_casebook,
                                                                                      monkeypatch):
    from django.db import IntegrityError

    from redcap_api import site_import as module

    base = template_rows(coordinator, full_casebook.study_id)
    rows = [row for number in (2, 3, 4) for row in copy_of(base, f"RM01-{number:03d}", number)]
    batch_write = module._batch_write

    def refusing(*, user, casebooks):
        batch_write(user=user, casebooks=casebooks)
        if any(casebook.record == "RM01-003" for casebook in casebooks):
            raise IntegrityError("refused")  # after the writes: their rollback is part of the test

    monkeypatch.setattr(module, "_batch_write", refusing)
    outcome = site_import(user=coordinator, file_name="three.csv", rows=file_rows(file_name="three.csv",
                                                                                  content=csv_bytes(rows)),
                          dry_run=False)

    assert [(problem.record, problem.message) for problem in outcome.problems] == [
        ("RM01-003", "This casebook could not be written (it changed meanwhile, or the database refused it): refused")]
    assert (outcome.casebooks_written, outcome.patients_enrolled) == (2, 2)
    assert set(Patient.objects.values_list("study_id", flat=True)) == {"RM01-001", "RM01-002", "RM01-004"}
    written = Patient.objects.get(study_id="RM01-004")
    assert written.history.get().history_change_reason.startswith("Imported from three.csv (row ")
    assert written.baseline.history.get().history_user == coordinator
    assert Center.objects.get(code="RM01").last_sequence == 4
