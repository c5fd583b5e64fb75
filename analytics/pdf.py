"""The whole report as a PDF (WeasyPrint): the tables of the analysis plan and every figure."""

from __future__ import annotations

import base64

from django.template.loader import render_to_string
from django.utils import translation

from analytics.figures import FIGURE_TITLES
from analytics.models import Report
from analytics.report import report_tables

# Half-page figures in pairs, full-page ones alone.
PDF_FIGURE_ORDER = ("os", "dor", "os_subgroups", "vod_cif", "consort", "swimmer")


def figure_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def report_pdf(report: Report) -> bytes:
    """PDF of a succeeded report: the tables of the analysis plan, then every figure."""
    from weasyprint import HTML  # heavy, and only needed here

    figures = [
        {"name": name, "title": FIGURE_TITLES[name], "src": figure_data_uri(report.figures[name])}
        for name in PDF_FIGURE_ORDER if name in report.figures
    ]
    with translation.override("en"):  # the PDF is the English record of the analysis
        html = render_to_string(
            "analytics/report_pdf.html",
            {"report": report, "results": report.results, "tables": report_tables(report.results), "figures": figures},
        )
    return HTML(string=html).write_pdf()
