"""python manage.py run_report: the same service, synchronously, results written as JSON."""

import json

import pytest
from django.core.management import CommandError, call_command

from analytics.models import Report, ReportStatus
from tests.analytics.cohort import small_cohort


def test_run_report_writes_the_results_json(center, other_center, tmp_path):
    small_cohort(center, other_center)
    path = tmp_path / "results.json"
    call_command("run_report", "--cutoff", "2024-01-01", "--centers", "RM01", "--ci", "log", "--json", str(path))
    results = json.loads(path.read_text())
    assert (results["n_patients"], results["centers"], results["ci_method"]) == (12, ["RM01"], "log")
    report = Report.objects.get()
    assert report.status == ReportStatus.SUCCEEDED and report.requested_by.username == "system-reports"
    assert not report.requested_by.has_usable_password()
    assert results == report.results


def test_run_report_refuses_bad_parameters(center, tmp_path):
    with pytest.raises(CommandError, match="ZZ99"):
        call_command("run_report", "--centers", "ZZ99", "--json", str(tmp_path / "x.json"))
    with pytest.raises(CommandError, match="No patient"):
        call_command("run_report", "--json", str(tmp_path / "x.json"))


def test_the_missing_data_codes_are_in_the_json_the_page_the_csv_and_the_pdf(client, statistician, center, tmp_path,
                                                                              monkeypatch):
    import weasyprint
    from django.urls import reverse

    from patients.models import BaselineDisease

    patients = small_cohort(center)
    BaselineDisease.objects.filter(patient__in=patients[:2]).update(cd22_expression_pct=None,
                                                                   missing_codes={"cd22_expression_pct": "UNK"})
    path = tmp_path / "results.json"
    call_command("run_report", "--cutoff", "2024-01-01", "--json", str(path))
    entry = {"form": "Baseline disease", "variable": "cd22_expression_pct", "label": "CD22 expression (% of blasts)",
             "counted_in": "patients", "UNK": 2, "ND": 0, "NA": 0, "patients": 2}
    results = json.loads(path.read_text())
    assert results["missing_codes"] == [entry]
    assert "missing_data" in results  # the list of patients with missing data stays

    report = Report.objects.get()
    client.force_login(statistician)
    page = client.get(reverse("analytics:report-detail", args=[report.pk])).content.decode()
    section = page[page.index('id="table-missing_codes"'):]
    assert "CD22 expression (% of blasts)" in section[:section.index("</section>")]
    assert 'id="table-missing_data"' in page
    csv = client.get(reverse("analytics:report-table", args=[report.pk, "missing_codes"])).content.decode()
    assert "Baseline disease,CD22 expression (% of blasts),patients,2,0,0,2" in csv
    printed = []
    real_html = weasyprint.HTML
    monkeypatch.setattr(weasyprint, "HTML", lambda *, string: printed.append(string) or real_html(string=string))
    assert client.get(reverse("analytics:report-pdf", args=[report.pk])).content.startswith(b"%PDF")
    assert "Missing-data codes per question" in printed[0] and "CD22 expression (% of blasts)" in printed[0]
