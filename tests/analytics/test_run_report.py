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
