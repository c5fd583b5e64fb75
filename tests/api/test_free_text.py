"""Free text (regimens, reasons, 'other' text, reasons for change) reaches the users who may
see identifiers only: statisticians see it neither on the API nor on the casebook pages, as
the exports give them none."""

import pytest
from django.urls import reverse

from patients.clinical import FREE_TEXT_MASK, is_free_text
from patients.services import crf_row_save
from tests.api.conftest import FORM_ENDPOINTS

SECRET = "HOSPIDZQX4417"


@pytest.fixture
def planted(coordinator, casebooks):
    """Every free-text field of the casebook, and a reason for change, holding SECRET."""
    patient, rows = casebooks["own"]
    for row in [patient, *rows.values()]:
        changed = False
        for model_field in type(row)._meta.concrete_fields:
            if is_free_text(model_field):
                setattr(row, model_field.name, f"{SECRET} {model_field.name}"[:model_field.max_length])
                changed = True
        if changed:
            type(row).objects.filter(pk=row.pk).update(
                **{f.name: getattr(row, f.name) for f in type(row)._meta.concrete_fields if is_free_text(f)})
    baseline = rows["baseline"]
    baseline.refresh_from_db()
    baseline.ecog = 1
    crf_row_save(user=coordinator, row=baseline, reason=f"Source document {SECRET}")
    return patient, rows


def test_free_text_fields_exist_on_the_forms_the_issue_names(planted):
    patient, rows = planted
    names = {f.name for row in [patient, *rows.values()] for f in type(row)._meta.concrete_fields if is_free_text(f)}
    assert {"regimen", "exclusion_reason", "withdrawal_reason", "reason_other", "modification_reason"} <= names
    assert "study_id" not in names


def test_the_api_gives_statisticians_no_free_text(planted, statistician, coordinator, api_as):
    patient, rows = planted
    urls = ["/api/patients/", f"/api/patients/{patient.study_id}/",
            *[f"/api/{endpoint}/" for endpoint in FORM_ENDPOINTS],
            *[f"/api/{endpoint}/{row.pk}/" for endpoint, row in rows.items()]]
    statistician_api, coordinator_api = api_as(statistician), api_as(coordinator)
    for url in urls:
        response = statistician_api.get(url)
        assert response.status_code == 200 and SECRET not in response.content.decode(), url
    assert SECRET in coordinator_api.get(f"/api/prior-lines/{rows['prior-lines'].pk}/").content.decode()
    assert SECRET in coordinator_api.get(f"/api/patients/{patient.study_id}/").content.decode()


def test_the_casebook_and_its_audit_trail_give_statisticians_no_free_text(planted, client, statistician,
                                                                          coordinator):
    patient, _rows = planted
    pages = [reverse("casebook:detail", args=[patient.study_id]), reverse("casebook:audit", args=[patient.study_id])]
    client.force_login(statistician)
    for page in pages:
        content = client.get(page).content.decode()
        assert SECRET not in content and FREE_TEXT_MASK in content, page
    client.force_login(coordinator)
    for page in pages:
        assert SECRET in client.get(page).content.decode(), page
