"""The import of a site's file in chromium: from the patient list, upload, the dry run's
verdict, confirm, imported."""

import pytest
from playwright.sync_api import expect

from patients.models import Patient
from tests.browser.test_account import sign_in
from tests.redcap_api.test_site_import import csv_bytes, full_casebook, template_rows  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_file_is_checked_then_imported_on_confirm(live_server, new_page, coordinator, full_casebook,  # noqa: F811
                                                    tmp_path):
    rows = [dict(row, study_id="RM01-020") for row in template_rows(coordinator, full_casebook.study_id)]
    rows[0]["local_hospital_id"] = "H-BROWSER"
    path = tmp_path / "rm01-site.csv"
    path.write_bytes(csv_bytes(rows))

    page = new_page()
    sign_in(page, live_server.url, coordinator.username)
    page.goto(f"{live_server.url}/patients/")
    page.get_by_role("link", name="Import a site's file").click()
    page.get_by_label("File").set_input_files(str(path))
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_text("The dry run found no problem in 1 casebooks (1 new patients).")).to_be_visible()
    assert not Patient.objects.filter(study_id="RM01-020").exists()
    page.get_by_role("button", name="Confirm the import").click()
    expect(page.locator("#import-done")).to_have_text("Imported: 1 casebooks, 1 new patients.")
    assert Patient.objects.filter(study_id="RM01-020").exists()
