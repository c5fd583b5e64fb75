"""Browser pages of analysis reports: start, list with live progress, read, download."""

from __future__ import annotations

import csv
import io
import json
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from analytics.figures import FIGURE_TITLES
from analytics.forms import ReportStartForm
from analytics.models import ReportStatus
from analytics.pdf import report_pdf
from analytics.report import report_tables
from analytics.selectors import report_get_for_user, report_list_for_user
from analytics.services import report_start
from sites.jobs import QueueUnavailable
from sites.roles import can_run_analyses


def analyst_required(view):
    """Signed in (else the login page) and a statistician or administrator (else 403)."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not can_run_analyses(request.user):
            raise PermissionDenied(_("Only statisticians and administrators see analysis reports."))
        return view(request, *args, **kwargs)

    return wrapped


def _succeeded_report(request, report_id: int):
    report = report_get_for_user(user=request.user, report_id=report_id)
    if report.status != ReportStatus.SUCCEEDED:
        raise Http404(_("This report has no results yet."))
    return report


@analyst_required
@require_GET
def report_list(request):
    reports = report_list_for_user(user=request.user)[:100]
    return render(request, "analytics/report_list.html", {"reports": reports})


@analyst_required
@require_http_methods(["GET", "POST"])
def report_new(request):
    form = ReportStartForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            report = report_start(
                user=request.user,
                cutoff=form.cleaned_data["cutoff"],
                center_codes=form.cleaned_data["centers"],
                ci_method=form.cleaned_data["ci_method"],
                hsct_censors_dor=form.cleaned_data["hsct_censors_dor"],
            )
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                target = {"center_codes": "centers"}.get(field, field)
                form.add_error(target if target in form.fields else None, messages)
        except QueueUnavailable as error:
            form.add_error(None, str(error))
            return render(request, "analytics/report_new.html", {"form": form}, status=503)
        else:
            return redirect("analytics:report-detail", report_id=report.pk)
    return render(request, "analytics/report_new.html", {"form": form})


@analyst_required
@require_GET
def report_detail(request, report_id: int):
    report = report_get_for_user(user=request.user, report_id=report_id)
    context = {"report": report}
    if report.status == ReportStatus.SUCCEEDED:
        context["tables"] = report_tables(report.results)
        context["figures"] = [
            {"name": name, "title": _(title)} for name, title in FIGURE_TITLES.items() if name in report.figures
        ]
        context["results"] = report.results
        context["summary"] = _report_summary(report.results)
    return render(request, "analytics/report_detail.html", context)


def _report_summary(results: dict) -> str:
    """The sentence "12 patients from 1 center.", each count with its own plural."""
    n_patients, n_centers = results["n_patients"], results["n_centers"]
    return _("%(patients)s from %(centers)s.") % {
        "patients": ngettext("%(n)d patient", "%(n)d patients", n_patients) % {"n": n_patients},
        "centers": ngettext("%(n)d center", "%(n)d centers", n_centers) % {"n": n_centers},
    }


@analyst_required
@require_GET
def report_progress(request, report_id: int):
    """The progress bar alone, polled by htmx; the report page reloads itself once done."""
    report = report_get_for_user(user=request.user, report_id=report_id)
    reload_page = request.GET.get("reload") == "1"
    response = render(request, "analytics/_progress.html", {"report": report, "reload_page": reload_page})
    if reload_page and report.is_finished:
        response["HX-Refresh"] = "true"
    return response


@analyst_required
@require_GET
def report_figure(request, report_id: int, name: str):
    report = _succeeded_report(request, report_id)
    if name not in report.figures:
        raise Http404
    response = HttpResponse(report.figures[name], content_type="image/svg+xml")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="report-{report.pk}-{name}.svg"'
    return response


@analyst_required
@require_GET
def report_pdf_download(request, report_id: int):
    report = _succeeded_report(request, report_id)
    response = HttpResponse(report_pdf(report), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="report-{report.pk}.pdf"'
    return response


@analyst_required
@require_GET
def report_table_csv(request, report_id: int, name: str):
    report = _succeeded_report(request, report_id)
    with translation.override("en"):  # a data file: the same column names whatever the page's language
        table = next((table for table in report_tables(report.results) if table.name == name), None)
    if table is None:
        raise Http404
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="report-{report.pk}-{name}.csv"'
    return response


@analyst_required
@require_GET
def report_json(request, report_id: int):
    report = _succeeded_report(request, report_id)
    response = HttpResponse(json.dumps(report.results, indent=2, ensure_ascii=False),
                            content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="report-{report.pk}.json"'
    return response


def report_urls(report) -> dict:
    """Links of a report, for the API."""
    urls = {"page": reverse("analytics:report-detail", args=[report.pk])}
    if report.status == ReportStatus.SUCCEEDED:
        urls["pdf"] = reverse("analytics:report-pdf", args=[report.pk])
        urls["json"] = reverse("analytics:report-json", args=[report.pk])
        urls["figures"] = {name: reverse("analytics:report-figure", args=[report.pk, name]) for name in report.figures}
        urls["tables"] = {table.name: reverse("analytics:report-table", args=[report.pk, table.name])
                          for table in report_tables(report.results)}
    return urls
