"""A coordinator records what the chart lacks (missing-data codes, Unknown), adverse events
picked from CTCAE v5.0 with the keyboard, and sees every error of a form in one submit."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from outcomes.models import AdverseEvent
from patients.models import BaselineDisease, FormState
from patients.registry import casebook
from tests import factories
from tests.browser.test_casebook import check, pick_term, save, saved, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def field(page, name):
    return page.locator(f'.field[data-field="{name}"]')


def test_a_coordinator_records_gaps_and_ctcae_events_and_sees_every_error_at_once(
        live_server, new_page, screenshot, coordinator, center):
    patient = factories.PatientFactory(center=center)  # C1D1 2017-03-01
    for make in (factories.PriorLineFactory, factories.IOCycleFactory, factories.EndOfTreatmentFactory,
                 factories.ResponseFactory, factories.HsctFactory, factories.VodFactory, factories.FollowUpFactory):
        make(patient=patient)
    # The forms entered so far are in progress, as saving them in the browser leaves them.
    for key in casebook.form_keys():
        if key not in ("baseline", "adverse_events"):
            FormState.objects.create(patient=patient, form=key, status="in_progress", changed_by=coordinator)
    base = live_server.url
    page = new_page()
    sign_in(page, base, "coord-rm01")
    page.goto(f"{base}/patients/{patient.study_id}/")

    # A baseline with a decimal typo, ECOG 7 and a diagnosis after C1D1: three errors, one submit.
    page.get_by_role("link", name="Fill in · Baseline disease").click()
    expect(page.get_by_text("Format: yyyy-mm-dd").first).to_be_visible()
    page.get_by_label("Date of B-ALL diagnosis").fill("2017-04-01")
    page.get_by_label("Ph−").check()
    page.get_by_label("CD22 expression (% of blasts)").fill("8,5x")
    page.get_by_label("Disease status at IO start").select_option("first_relapse")
    page.get_by_label("Bone marrow blasts at IO start (%)").fill("60")
    check(page, "extramedullary_disease", "False")
    check(page, "cns_disease", "False")
    page.get_by_label("ECOG performance status").fill("7")
    check(page, "prior_allo_hsct", "False")
    save(page)
    expect(page.locator(".form-errors")).to_contain_text("Nothing was saved")
    expect(field(page, "cd22_expression_pct").locator(".errorlist")).to_contain_text("Enter a number.")
    expect(field(page, "ecog").locator(".errorlist")).to_contain_text("less than or equal to 4")
    expect(field(page, "diagnosis_date").locator(".errorlist")).to_contain_text("on or before IO cycle 1 day 1")
    expect(page.locator(".field.has-error")).to_have_count(3)
    screenshot(page, "20-baseline-every-error")
    assert not BaselineDisease.objects.exists()

    # The chart lacks the CD22 %, the ECOG was not done, CNS disease is unknown.
    page.get_by_label("Date of B-ALL diagnosis").fill("2015-01-10")
    page.get_by_label("CD22 expression (% of blasts)").fill("")
    field(page, "cd22_expression_pct").get_by_label("or missing-data code").select_option("UNK")
    page.get_by_label("ECOG performance status").fill("")
    field(page, "ecog").get_by_label("or missing-data code").select_option("ND")
    field(page, "cns_disease").get_by_label("Unknown").check()
    screenshot(page, "21-baseline-codes")
    save(page)
    saved(page, "Baseline disease saved")
    baseline = BaselineDisease.objects.get(patient=patient)
    assert baseline.missing_codes == {"cd22_expression_pct": "UNK", "ecog": "ND", "cns_disease": "UNK"}
    answers = page.locator("#form-baseline")
    expect(answers.locator('[data-field="cd22_expression_pct"]')).to_contain_text("UNK")
    expect(answers.locator('[data-field="ecog"] abbr')).to_have_attribute("title", "Not done")
    expect(answers.locator('[data-field="cns_disease"]')).to_contain_text("UNK")

    # Febrile neutropenia, found by typing "febr" and chosen with the keyboard; it has no grade 1.
    page.get_by_role("link", name="Add an adverse event").click()
    pick_term(page, "febr", "Febrile neutropenia", shoot=lambda page: screenshot(page, "22a-ctcae-picker-open"))
    expect(page.locator(".ctcae-chosen")).to_contain_text("Blood and lymphatic system disorders")
    expect(page.locator('.grade-desc[data-grade="1"]')).to_have_text("not defined for this term in CTCAE v5.0")
    expect(page.locator('.grade-desc[data-grade="3"]')).to_contain_text("ANC <1000/mm3")
    expect(page.get_by_label("Specified term")).to_be_hidden()
    page.locator('input[name="grade"][value="1"]').check()
    page.get_by_label("Onset date").fill("2017-03-10")
    page.get_by_label("Resolution date").fill("2017-03-16")
    check(page, "serious", "True")
    page.get_by_label("Relation to IO").select_option("related")
    save(page)
    expect(field(page, "grade").locator(".errorlist")).to_have_text(
        "Febrile neutropenia has no grade 1 in CTCAE v5.0: its grades are 3, 4, 5.")
    expect(page.get_by_role("combobox", name=re.compile("CTCAE v5 term"))).to_have_value("Febrile neutropenia")
    screenshot(page, "22-adverse-event-grade-refused")
    page.locator('input[name="grade"][value="3"]').check()
    save(page)
    saved(page, "Adverse events saved")

    # An "Other, specify" event takes a specified term.
    page.get_by_role("link", name="Add an adverse event").click()
    pick_term(page, "investigations other", "Investigations - Other, specify")
    expect(page.get_by_label("Specified term")).to_be_visible()
    page.get_by_label("Specified term").fill("Ferritin increased")
    page.locator('input[name="grade"][value="2"]').check()
    page.get_by_label("Onset date").fill("2017-03-12")
    field(page, "resolution_date").get_by_label("or missing-data code").select_option("UNK")
    check(page, "serious", "False")
    page.get_by_label("Relation to IO").select_option("unrelated")
    screenshot(page, "23-adverse-event-other-specify")
    save(page)
    saved(page, "Adverse events saved")
    events = page.locator("#form-adverse_events tbody")
    expect(events).to_contain_text("Febrile neutropenia")
    expect(events).to_contain_text("Blood and lymphatic system disorders")
    expect(events).to_contain_text("Investigations - Other, specify: Ferritin increased")
    expect(events.locator("abbr.missing-code-value")).to_have_text("UNK")
    assert sorted(AdverseEvent.objects.values_list("ctcae_term_id", "grade")) == [("10016288", 3), ("10022891", 2)]

    # Every form marked complete, as the site does.
    for _ in range(9):
        page.get_by_role("button", name=re.compile("complete$")).first.click()
        expect(page.locator(".messages")).to_contain_text("Complete")
    expect(page.get_by_role("button", name=re.compile("complete$"))).to_have_count(0)
    expect(page.locator(".facts")).to_contain_text("9 / 9")
    screenshot(page, "24-casebook-with-codes")


def test_the_calendar_writes_the_chosen_day_in_the_languages_format(live_server, new_page, coordinator, center):
    patient = factories.PatientFactory(center=center)
    base = live_server.url
    page = new_page()
    sign_in(page, base, "coord-rm01")
    page.get_by_label("Language").select_option("it")
    page.get_by_role("button", name="Change").click()
    page.goto(base + reverse("casebook:form", args=[patient.study_id, "baseline"]))
    diagnosis = field(page, "diagnosis_date")
    expect(diagnosis).to_contain_text("Formato: gg/mm/aaaa")
    diagnosis.get_by_role("button", name="Scegli il giorno su un calendario").click()
    diagnosis.locator(".date-picker").fill("2015-01-10")  # what the browser's picker sets
    expect(page.get_by_label("Data della diagnosi di LLA-B")).to_have_value("10/01/2015")
    expect(field(page, "cns_disease").get_by_label("Non noto")).not_to_be_checked()
