"""The casebook, its forms and the report page at a phone's width (390 px) and a laptop's (1366 px),
in English and Italian: the page never scrolls sideways (a wide table scrolls inside its own
box), and every row action of the casebook's tables is on screen at 1366 px."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from analytics.models import ReportStatus
from analytics.services import report_run, report_start
from tests.analytics.cohort import small_cohort
from tests.browser.pages import NARROW, WIDE, form_page_paths, overflowing_elements, page_overflow, sign_in
from tests.patients.casebooks import full_casebook

# Committed rows: the live server answers from another thread (the role groups: conftest.role_groups).
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LOCALES = {"en": "en-GB", "it": "it-IT"}
# The forms whose pages are photographed (every form page is measured).
PHOTOGRAPHED_FORMS = ("baseline", "adverse-events-edit")


def row_actions_off_screen(page) -> list[str]:
    """The row actions (buttons and links in the tables' action cells) not wholly inside the
    window and their table's box, each brought into view by scrolling the page only."""
    return page.evaluate("""() => {
      const hidden = [];
      for (const action of document.querySelectorAll("table td.actions .btn")) {
        const box = action.getBoundingClientRect();
        window.scrollTo(0, window.scrollY + box.top - 100);
        const rect = action.getBoundingClientRect();
        const wrap = action.closest(".table-wrap");
        const right = Math.min(window.innerWidth, wrap ? wrap.getBoundingClientRect().right : Infinity);
        const left = Math.max(0, wrap ? wrap.getBoundingClientRect().left : 0);
        if (rect.width === 0 || rect.right > right + 0.5 || rect.left < left - 0.5) {
          hidden.push(`${action.textContent.trim()} in #${action.closest("section").id}: ${Math.round(rect.left)}-${Math.round(rect.right)} px, visible ${Math.round(left)}-${Math.round(right)} px`);
        }
      }
      window.scrollTo(0, 0);
      return hidden;
    }""")


def test_the_casebook_and_its_forms_fit_a_phone_and_show_every_row_action(
    live_server, new_page, screenshot, center, coordinator
):
    patient = full_casebook(center)
    casebook = f"/patients/{patient.study_id}/"
    forms = form_page_paths(patient)
    assert len(forms) >= 12
    problems = []
    for language, locale in LOCALES.items():
        page = new_page(locale=locale)
        sign_in(page, live_server.url, coordinator.username)
        for width, viewport in (("1366", WIDE), ("390", NARROW)):
            page.set_viewport_size(viewport)
            page.goto(live_server.url + casebook)
            expect(page.locator("#form-adverse_events td.actions .btn-danger")).to_have_count(1)
            screenshot(page, f"layout-casebook-{language}-{width}")
            if overflow := page_overflow(page):
                problems.append(f"{language} {width} px casebook: {overflow} px too wide: {overflowing_elements(page)}")
            if viewport is WIDE:
                # Every Delete (Elimina) of the IO-cycle and AE tables, and every other row action.
                assert page.locator("#form-io_cycles td.actions .btn-danger").count() == 2
                problems += [f"{language} 1366 px: {action} off screen" for action in row_actions_off_screen(page)]
            for name, path in forms:
                page.goto(live_server.url + path)
                expect(page.locator("form.crf")).to_be_visible()
                if name in PHOTOGRAPHED_FORMS:
                    screenshot(page, f"layout-form-{name}-{language}-{width}")
                if overflow := page_overflow(page):
                    problems.append(f"{language} {width} px {path}: {overflow} px too wide: {overflowing_elements(page)}")
    assert not problems, "\n".join(problems)


def test_the_report_page_reads_like_the_pdf(live_server, new_page, screenshot, center, statistician):
    small_cohort(center)
    report = report_run(report_id=report_start(user=statistician, cutoff=dt.date(2024, 1, 1), enqueue=False).pk)
    assert report.status == ReportStatus.SUCCEEDED, report.error
    for language, locale in LOCALES.items():
        page = new_page(locale=locale)
        sign_in(page, live_server.url, statistician.username)
        page.goto(f"{live_server.url}/reports/{report.pk}/")
        response = page.locator("#table-response table")
        expect(response).to_be_visible()
        # Numbers right-aligned in tabular figures, labels left; ruled cells, as in the PDF.
        first_row = response.locator("tbody tr").first
        label, number = first_row.locator("td").nth(0), first_row.locator("td").nth(1)
        expect(label).to_have_css("text-align", "left")
        expect(number).to_have_css("text-align", "right")
        expect(number).to_have_css("font-variant-numeric", "tabular-nums")
        expect(number).not_to_have_css("border-bottom-style", "none")
        # The figures are drawn in the page, not only linked.
        expect(page.locator("#figure-os img")).to_be_visible()
        assert page.locator("#figure-os img").evaluate("image => image.naturalWidth") > 0
        # The cut-off, centers and settings as a compact header, the download a styled button.
        expect(page.locator(".report-parameters")).to_be_visible()
        expect(page.locator("a.btn-primary[href$='report.pdf']")).to_be_visible()
        if language == "it":
            expect(page.locator("#table-response h3")).to_contain_text("Migliore risposta")
            expect(response.locator("thead")).to_contain_text("Risposta")
            expect(page.locator("main")).to_contain_text("12 pazienti da 1 centro.")
        else:
            expect(page.locator("main")).to_contain_text("12 patients from 1 center.")
        for width, viewport in (("1366", WIDE), ("390", NARROW)):
            page.set_viewport_size(viewport)
            screenshot(page, f"layout-report-{language}-{width}")
            assert page_overflow(page) == 0, f"{language} {width} px: too wide: {overflowing_elements(page)}"
