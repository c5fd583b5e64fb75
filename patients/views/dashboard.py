"""The monitoring dashboard page and its CSV file."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone

from patients.dashboard import dashboard_csv_rows, monitoring_dashboard, progress_chart
from patients.queries import QUERY_AGE_ALERT_DAYS
from patients.registry import casebook
from patients.spreadsheet import csv_response
from sites.roles import can_see_monitoring_dashboard


def _require_dashboard(request) -> None:
    if not can_see_monitoring_dashboard(request.user):
        raise PermissionDenied


@login_required
def dashboard(request):
    _require_dashboard(request)
    rows = monitoring_dashboard(user=request.user)
    return render(request, "data_management/dashboard.html", {"rows": rows, "chart": progress_chart(rows),
                                                              "alert_days": QUERY_AGE_ALERT_DAYS, "form_count": len(casebook)})


@login_required
def dashboard_csv(request):
    _require_dashboard(request)
    rows = dashboard_csv_rows(monitoring_dashboard(user=request.user))
    return csv_response(rows, filename=f"monitoring-{timezone.localdate():%Y%m%d}.csv", stream=False)
