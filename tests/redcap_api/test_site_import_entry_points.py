"""The import's entry points: manage.py import_records, the upload page (dry run, then
confirm), and the XLSX template (its sheets and lists, and a filled template imported)."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from openpyxl import load_workbook

from patients.models import Patient
from redcap_api.models import ImportRun, ImportStatus
from redcap_api.project import instruments
from redcap_api.site_import import LISTS_SHEET, file_rows, site_import
from redcap_api.template import import_template_xlsx
from tests.redcap_api.test_site_import import csv_bytes, full_casebook, history_count, template_rows  # noqa: F401
from treatments.models import IOCycle


def new_casebook_rows(coordinator, patient, study_id: str) -> list[dict]:
    rows = [dict(row, study_id=study_id) for row in template_rows(coordinator, patient.study_id)]
    rows[0]["local_hospital_id"] = "H-NEW-1"
    return rows


@pytest.mark.django_db
def test_the_command_checks_then_imports(coordinator, full_casebook, tmp_path, capsys):  # noqa: F811
    path = tmp_path / "rm01.csv"
    path.write_bytes(csv_bytes(new_casebook_rows(coordinator, full_casebook, "RM01-007")))
    call_command("import_records", str(path), "--user", coordinator.username, "--dry-run")
    assert not Patient.objects.filter(study_id="RM01-007").exists()
    call_command("import_records", str(path), "--user", coordinator.username)
    patient = Patient.objects.get(study_id="RM01-007")
    assert patient.history.get().history_change_reason == "Imported from rm01.csv (row 2)"
    assert patient.center.__class__.objects.get(pk=patient.center_id).last_sequence == 7

    bad = tmp_path / "bad.csv"
    rows = new_casebook_rows(coordinator, full_casebook, "RM01-008")
    rows[0]["ecog"] = "9"
    bad.write_bytes(csv_bytes(rows))
    with pytest.raises(CommandError, match="1 problems"):
        call_command("import_records", str(bad), "--user", coordinator.username)
    assert "RM01-008, ecog: Ensure this value is less than or equal to 4." in capsys.readouterr().out
    assert not Patient.objects.filter(study_id="RM01-008").exists()


@pytest.mark.django_db
def test_the_upload_page_dry_runs_then_imports_on_confirm(coordinator, full_casebook, investigator):  # noqa: F811
    client = Client()
    client.force_login(coordinator)
    assert "/patients/import/" in client.get("/patients/").content.decode()
    content = csv_bytes(new_casebook_rows(coordinator, full_casebook, "RM01-009"))
    response = client.post("/patients/import/", {"file": SimpleUploadedFile("rm01.csv", content)})
    # Celery is eager in tests: the dry run has run by the time the page answers
    run = ImportRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/patients/import/{run.pk}/"
    assert (run.status, run.problems, run.casebooks_total) == (ImportStatus.CHECKED, [], 1)
    page = client.get(response["Location"]).content.decode()
    assert "Confirm the import" in page and not Patient.objects.filter(study_id="RM01-009").exists()
    client.post(f"/patients/import/{run.pk}/confirm/")
    run.refresh_from_db()
    assert (run.status, run.casebooks_written, run.patients_enrolled) == (ImportStatus.DONE, 1, 1)
    assert Patient.objects.filter(study_id="RM01-009").exists()
    assert "Imported: 1 casebooks, 1 new patients." in client.get(f"/patients/import/{run.pk}/").content.decode()
    # a confirmed run is not imported twice; another user does not see the run
    assert client.post(f"/patients/import/{run.pk}/confirm/").status_code == 403
    other = Client()
    other.force_login(investigator)
    assert other.get(f"/patients/import/{run.pk}/").status_code == 404


@pytest.mark.django_db
def test_the_upload_page_lists_the_problems_and_offers_no_confirm(coordinator, full_casebook):  # noqa: F811
    client = Client()
    client.force_login(coordinator)
    rows = new_casebook_rows(coordinator, full_casebook, "RM01-010")
    rows[0]["ph_status"] = "bogus"
    response = client.post("/patients/import/", {"file": SimpleUploadedFile("rm01.csv", csv_bytes(rows))})
    page = client.get(response["Location"]).content.decode()
    assert "The dry run found 1 problem" in page and "bogus" in page and "Confirm the import" not in page


@pytest.mark.django_db
def test_the_page_is_for_those_who_enter_data(monitor, statistician):
    for user in (monitor, statistician):
        client = Client()
        client.force_login(user)
        assert client.get("/patients/import/").status_code == 403
        assert client.get("/patients/import/template.xlsx").status_code == 403


@pytest.mark.django_db
def test_the_template_has_a_sheet_per_instrument_and_its_lists(coordinator):
    client = Client()
    client.force_login(coordinator)
    response = client.get("/patients/import/template.xlsx")
    book = load_workbook(io.BytesIO(response.content))
    names = [instrument.name for instrument in instruments()]
    assert book.sheetnames == [*names, LISTS_SHEET, "data_dictionary"]
    cycles = book["io_cycles"]
    header = [cell.value for cell in cycles[1]]
    assert header[:3] == ["study_id", "redcap_data_access_group", "redcap_repeat_instance"]
    assert header[-1] == "io_cycles_complete" and "total_dose" not in header
    validated = {str(validation.sqref): validation.formula1 for validation in cycles.data_validations.dataValidation}
    delayed = f"{chr(ord('A') + header.index('delayed'))}2:"
    formula = next(formula for ref, formula in validated.items() if ref.startswith(delayed))
    lists = book[LISTS_SHEET]
    column = formula.split("!")[1].split(":")[0].replace("$", "")[:-1]
    values = [cell.value for cell in lists[column][1:] if cell.value is not None]
    assert values == ["1", "0", "UNK", "ND", "NA"]  # yes/no, and the missing data codes
    enrollment = [cell.value for cell in book["enrollment"][1]]
    sex_ref = f"{chr(ord('A') + enrollment.index('sex'))}2:"
    assert any(str(validation.sqref).startswith(sex_ref) for validation in book["enrollment"].data_validations.dataValidation)
    dictionary = book["data_dictionary"]
    assert [cell.value for cell in dictionary[1]][:3] == ["field_name", "form_name", "section_header"]


@pytest.mark.django_db
def test_a_filled_template_imports(coordinator, full_casebook):  # noqa: F811
    rows = new_casebook_rows(coordinator, full_casebook, "RM01-011")
    content = import_template_xlsx(rows)
    sheet_rows = file_rows(file_name="filled.xlsx", content=content)
    assert {row.sheet for row in sheet_rows} >= {"enrollment", "io_cycles", "adverse_events"}
    outcome = site_import(user=coordinator, file_name="filled.xlsx", rows=sheet_rows, dry_run=False)
    assert outcome.problems == [] and outcome.patients_enrolled == 1
    patient = Patient.objects.get(study_id="RM01-011")
    assert IOCycle.objects.filter(patient=patient).count() == 2
    written = history_count()
    again = site_import(user=coordinator, file_name="filled.xlsx", rows=sheet_rows, dry_run=False)
    assert again.problems == [] and history_count() == written
    assert patient.history.get().history_change_reason == "Imported from filled.xlsx (enrollment row 2)"
