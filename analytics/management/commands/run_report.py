"""run_report: the analysis report, synchronously, with its results written as JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from analytics.models import CiMethod, ReportStatus
from analytics.services import readable_error, report_run, report_start, system_user_get


class Command(BaseCommand):
    help = "Run the analysis report now (no Celery) and write its results JSON."

    def add_arguments(self, parser):
        parser.add_argument("--cutoff", type=dt.date.fromisoformat, help="data cut-off YYYY-MM-DD (default: today)")
        parser.add_argument("--centers", default="", help="comma-separated center codes (default: every center)")
        parser.add_argument("--ci", dest="ci_method", choices=CiMethod.values, default=CiMethod.LOG_LOG)
        parser.add_argument("--hsct-censors-dor", action="store_true", help="censor the duration of response at HSCT")
        parser.add_argument("--json", dest="json_path", required=True, help="where to write the results JSON")
        parser.add_argument("--user", help="run as this statistician or administrator (default: the system account)")

    def handle(self, *args, cutoff, centers, ci_method, hsct_censors_dor, json_path, user, **options):
        if user:
            try:
                user = get_user_model().objects.get(username=user)
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user {user!r}.") from None
        else:
            user = system_user_get()
        codes = [code for code in centers.split(",") if code.strip()]
        try:
            report = report_start(user=user, cutoff=cutoff, center_codes=codes, ci_method=ci_method,
                                  hsct_censors_dor=hsct_censors_dor, enqueue=False)
        except ValidationError as error:
            raise CommandError(readable_error(error)) from error
        report = report_run(report_id=report.pk)
        if report.status != ReportStatus.SUCCEEDED:
            raise CommandError(f"Report {report.pk} failed: {report.error}")
        Path(json_path).write_text(json.dumps(report.results, indent=2, ensure_ascii=False) + "\n")
        results = report.results
        os_ = results["overall_survival"]
        self.stdout.write(self.style.SUCCESS(
            f"Report {report.pk}: {results['n_patients']} patients, {results['n_centers']} centers, "
            f"cut-off {results['cutoff']}; median OS {os_['median_months']:.1f} months. "
            f"Dataset SHA-256 {report.dataset_sha256[:12]}…; results written to {json_path}."
        ))
