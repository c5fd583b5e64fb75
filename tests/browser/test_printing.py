"""The casebook page printed from chromium: the data only, each form from a new page; and
its link to the filled casebook PDF."""

import io
import re

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from patients.registry import casebook
from tests.browser.test_casebook import sign_in
from tests.patients.casebooks import full_casebook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_casebook_page_prints_its_forms_without_the_screens_controls(live_server, new_page, center, coordinator):
    patient = full_casebook(center)
    page = new_page()
    sign_in(page, live_server.url, coordinator.username)
    page.goto(f"{live_server.url}/patients/{patient.study_id}/")

    pdf_link = page.get_by_test_id("casebook-pdf")
    answer = page.request.get(live_server.url + pdf_link.get_attribute("href"))
    assert answer.ok and answer.headers["content-type"] == "application/pdf"
    assert patient.study_id in PdfReader(io.BytesIO(answer.body())).pages[0].extract_text()

    page.emulate_media(media="print")
    for hidden in (page.locator(".topbar"), page.locator("nav.toc"), pdf_link,
                   page.get_by_role("button", name=re.compile("Mark .* complete")).first):
        expect(hidden).to_be_hidden()
    sections = page.locator("section.section")
    expect(sections).to_have_count(len(casebook))
    assert sections.nth(1).evaluate("element => getComputedStyle(element).breakBefore") == "page"
    assert page.locator(".table-wrap").first.evaluate("element => getComputedStyle(element).overflowX") == "visible"

    printed = PdfReader(io.BytesIO(page.pdf(format="A4")))
    text = "\n".join(p.extract_text() for p in printed.pages)
    assert len(printed.pages) >= len(casebook)  # a page (at least) per form
    for form in casebook.forms():
        assert str(form.label) in text
    assert "Sign out" not in text and "Mark complete" not in text and "Audit trail" not in text


def test_the_patient_list_offers_the_blank_and_the_annotated_crf_in_the_users_language(live_server, new_page,
                                                                                      coordinator):
    page = new_page()
    sign_in(page, live_server.url, coordinator.username)
    page.goto(f"{live_server.url}/patients/")
    page.locator("#language").select_option("it")
    page.get_by_role("button", name="Change").click()
    expect(page.get_by_test_id("blank-crf")).to_have_text("Scheda raccolta dati in bianco (PDF)")
    for test_id, title in (("blank-crf", "Registro INO-CD22 · scheda raccolta dati"),
                           ("annotated-crf", "Registro INO-CD22 · scheda raccolta dati annotata")):
        answer = page.request.get(live_server.url + page.get_by_test_id(test_id).get_attribute("href"))
        assert answer.ok and answer.headers["content-type"] == "application/pdf"
        assert title in PdfReader(io.BytesIO(answer.body())).pages[0].extract_text()
