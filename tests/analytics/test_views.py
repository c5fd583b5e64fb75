"""Browser pages: start a report, list with progress, read, download; others get 403."""

import datetime as dt
import json
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.models import Report, ReportStatus
from analytics.services import report_run, report_start
from tests.analytics.cohort import small_cohort

CUTOFF = dt.date(2024, 1, 1)


@pytest.fixture
def done_report(statistician, center):
    patients = small_cohort(center)
    report = report_run(report_id=report_start(user=statistician, cutoff=CUTOFF, enqueue=False).pk)
    assert report.status == ReportStatus.SUCCEEDED, report.error
    report.patients = patients
    return report


def test_a_statistician_starts_a_report_and_reads_it(client, statistician, center,
                                                      django_capture_on_commit_callbacks):
    small_cohort(center)
    client.force_login(statistician)
    page = client.get(reverse("analytics:report-new"))
    assert page.status_code == 200 and b"RM01" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("analytics:report-new"), {
            "cutoff": "2024-01-01", "centers": ["RM01"], "ci_method": "log", "hsct_censors_dor": "on"})
    report = Report.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("analytics:report-detail",
                                                                            args=[report.pk])
    assert (report.ci_method, report.hsct_censors_dor, report.center_codes) == ("log", True, ["RM01"])
    page = client.get(response["Location"]).content.decode()
    assert report.dataset_sha256 in page
    for text in ("Best response on IO before allo-HSCT", "ORR (CR + CRi)", "Overall survival by subgroup",
                 "Grade ≥ 3 non-haematologic", "Download SVG", "Download the PDF"):
        assert text in page


def test_bad_input_is_shown_on_the_field(client, statistician, center):
    client.force_login(statistician)
    future = (timezone.localdate() + dt.timedelta(days=3)).isoformat()
    response = client.post(reverse("analytics:report-new"), {"cutoff": future, "ci_method": "log-log"})
    assert response.status_code == 200
    assert "cannot be in the future" in response.content.decode()
    assert not Report.objects.exists()


def test_the_list_shows_a_polling_progress_bar_until_done(client, statistician, center):
    client.force_login(statistician)
    queued = report_start(user=statistician, cutoff=CUTOFF, enqueue=False)
    Report.objects.filter(pk=queued.pk).update(status=ReportStatus.RUNNING, progress=45, step="Duration of response")
    page = client.get(reverse("analytics:report-list")).content.decode()
    assert 'hx-trigger="every 1s"' in page and 'value="45"' in page and "Duration of response" in page
    assert "htmx" in page  # the script, served locally
    partial = client.get(reverse("analytics:report-progress", args=[queued.pk]) + "?reload=1")
    assert "HX-Refresh" not in partial and 'hx-get="' in partial.content.decode()
    Report.objects.filter(pk=queued.pk).update(status=ReportStatus.FAILED, progress=45, error="Boom explained")
    partial = client.get(reverse("analytics:report-progress", args=[queued.pk]) + "?reload=1")
    assert partial["HX-Refresh"] == "true"
    assert "hx-get" not in partial.content.decode() and "Boom explained" in partial.content.decode()


def test_downloads_svg_csv_json_pdf(client, statistician, done_report):
    client.force_login(statistician)
    pk = done_report.pk
    svg = client.get(reverse("analytics:report-figure", args=[pk, "os"]) + "?download=1")
    assert svg["Content-Type"] == "image/svg+xml" and "attachment" in svg["Content-Disposition"]
    assert b"<svg" in svg.content
    csv_ = client.get(reverse("analytics:report-table", args=[pk, "response"]))
    lines = csv_.content.decode().splitlines()
    assert lines[0] == "Response,n,% (95% CI)" and lines[1].startswith("ORR (CR + CRi),9,")
    results = json.loads(client.get(reverse("analytics:report-json", args=[pk])).content)
    assert results == done_report.results
    pdf = client.get(reverse("analytics:report-pdf", args=[pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.get(reverse("analytics:report-figure", args=[pk, "nope"])).status_code == 404
    assert client.get(reverse("analytics:report-table", args=[pk, "nope"])).status_code == 404


def test_no_identifier_on_the_report_page_or_in_downloads(client, statistician, done_report):
    client.force_login(statistician)
    pk = done_report.pk
    texts = [client.get(reverse("analytics:report-detail", args=[pk])).content.decode(),
             client.get(reverse("analytics:report-json", args=[pk])).content.decode()]
    texts += [client.get(reverse("analytics:report-figure", args=[pk, name])).content.decode()
              for name in done_report.figures]
    for patient in done_report.patients:
        for text in texts:
            assert patient.local_hospital_id not in text
            assert patient.date_of_birth.isoformat() not in text


def test_the_report_page_speaks_the_users_language_and_the_downloads_stay_english(client, statistician, done_report):
    client.force_login(statistician)
    pk = done_report.pk
    english = client.get(reverse("analytics:report-detail", args=[pk])).content.decode()
    assert "12 patients from 1 center." in english
    assert '<th scope="col" class="num">% (95% CI)</th>' in english  # the figures' columns align right
    italian = client.get(reverse("analytics:report-detail", args=[pk]), HTTP_ACCEPT_LANGUAGE="it").content.decode()
    for text in ("12 pazienti da 1 centro.", "Flusso dei pazienti", "Caratteristiche alla baseline (N = 12)",
                 "Sopravvivenza globale a 12 mesi, % (IC 95%)", "Sopravvivenza globale per sottogruppo",
                 "Eventi avversi non ematologici di grado ≥ 3", '<th scope="col">Risposta</th>', "Tabelle"):
        assert text in italian, text
    assert "Patient flow" not in italian and "Overall survival at" not in italian
    csv_ = client.get(reverse("analytics:report-table", args=[pk, "response"]), HTTP_ACCEPT_LANGUAGE="it")
    assert csv_.content.decode().splitlines()[0] == "Response,n,% (95% CI)"


@pytest.mark.parametrize("role_fixture", ["coordinator", "investigator", "monitor"])
def test_other_roles_get_403(client, request, role_fixture, done_report):
    client.force_login(request.getfixturevalue(role_fixture))
    for url in (reverse("analytics:report-list"), reverse("analytics:report-new"),
                reverse("analytics:report-detail", args=[done_report.pk]),
                reverse("analytics:report-pdf", args=[done_report.pk]),
                reverse("analytics:report-figure", args=[done_report.pk, "os"])):
        assert client.get(url).status_code == 403, url


def test_anonymous_users_are_sent_to_sign_in(db, client):
    response = client.get(reverse("analytics:report-list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_administrators_see_reports_and_unknown_reports_are_404(client, administrator, done_report):
    client.force_login(administrator)
    assert client.get(reverse("analytics:report-detail", args=[done_report.pk])).status_code == 200
    assert client.get(reverse("analytics:report-detail", args=[done_report.pk + 1000])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_starting_a_report_on_the_page_with_the_broker_down_says_so_at_once(broker_down, client, statistician,
                                                                            center):
    client.force_login(statistician)
    started = time.monotonic()
    response = client.post(reverse("analytics:report-new"), {"cutoff": "2024-01-01", "ci_method": "log-log"})
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert "The job queue is unavailable" in response.content.decode()
    assert Report.objects.get().status == ReportStatus.FAILED
