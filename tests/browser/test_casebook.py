"""A coordinator enters a whole casebook in chromium; a coordinator of another center
cannot open it; the Italian pages speak Italian."""

import re

import pytest
from playwright.sync_api import expect

from outcomes.models import AdverseEvent, FollowUp, ResponseAssessment, VodSosEvent
from patients.models import BaselineDisease, FormState, Patient
from treatments.models import AlloHsct, EndOfTreatment, IOCycle, PriorTherapyLine

# Committed rows: the live server answers from another thread (the role groups: conftest.role_groups).
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, base_url, username):
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw-for-tests")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")


def save(page):
    """The form's first button: Save (Save and next form, Save and add another follow it)."""
    page.get_by_role("button", name=re.compile("^Save")).first.click()


def saved(page, text):
    expect(page.locator(".messages")).to_contain_text(text)


def check(page, name, value):
    page.locator(f'input[name="{name}"][value="{value}"]').check()


def pick_term(page, typed, term, *, shoot=None):
    """Type into the CTCAE picker and choose `term` with the keyboard (`shoot(page)`: a
    screenshot of the open list)."""
    box = page.get_by_role("combobox", name=re.compile("CTCAE v5 term"))
    box.press_sequentially(typed)
    first = page.get_by_role("listbox", name="CTCAE v5 terms").get_by_role("option").first
    expect(first).to_have_text(re.compile(f"^{re.escape(term)}"))
    box.press("Escape")
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(first).to_be_hidden()
    box.press("ArrowDown")  # opens the list again on its first option
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", first.get_attribute("id"))
    if shoot:
        shoot(page)
    box.press("Enter")
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).to_have_value(term)


def test_a_coordinator_enters_a_whole_casebook(live_server, new_page, screenshot, coordinator, other_coordinator):
    base = live_server.url
    page = new_page()
    page.goto(f"{base}/accounts/login/")
    screenshot(page, "01-sign-in")
    sign_in(page, base, "coord-rm01")

    # Enrollment: eligibility first, the study ID generated on save.
    page.get_by_role("link", name="Enroll a patient").first.click()
    page.get_by_label("date of birth").fill("1964-06-15")
    for question in ("has_rr_b_all", "is_cd22_positive", "received_io"):
        check(page, question, "True")
    page.get_by_label("Date of IO cycle 1 day 1").fill("2017-03-01")
    page.get_by_label("local hospital ID").fill("H-0042")
    page.get_by_label("initials").fill("MR")
    page.get_by_label("Male", exact=True).check()
    page.get_by_label("Enrolled").check()
    expect(page.get_by_label("reason for exclusion")).to_be_hidden()
    screenshot(page, "02-enrollment")
    save(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Casebook RM01-001")
    screenshot(page, "03-casebook-new")

    # Baseline disease.
    page.get_by_role("link", name="Fill in · Baseline disease").click()
    page.get_by_label("Date of B-ALL diagnosis").fill("2015-01-10")
    page.get_by_label("Ph−").check()
    page.get_by_label("CD22 expression (% of blasts)").fill("85")
    page.get_by_label("Disease status at IO start").select_option("first_relapse")
    page.get_by_label("Bone marrow blasts at IO start (%)").fill("60")
    check(page, "extramedullary_disease", "False")
    check(page, "cns_disease", "False")
    page.get_by_label("ECOG performance status").fill("1")
    check(page, "prior_allo_hsct", "False")
    expect(page.get_by_label("Date of the allogeneic HSCT before IO")).to_be_hidden()
    save(page)
    saved(page, "Baseline disease saved")

    # One prior line.
    page.get_by_role("link", name="Add a prior line").click()
    page.get_by_label("Line number").fill("1")
    page.get_by_label("Category").select_option("induction_chemo")
    page.get_by_label("Regimen").fill("hyper-CVAD")
    page.get_by_label("Start date").fill("2015-01-20")
    page.get_by_label("End date").fill("2015-07-01")
    page.get_by_label("Best response to this line").select_option("cr")
    save(page)
    saved(page, "Prior therapy lines saved")

    # Three IO cycles.
    for number, start, doses in ((1, "2017-03-01", ("0.8", "0.5", "0.5")), (2, "2017-03-29", ("0.5", "0.5", "0.5")),
                                 (3, "2017-04-26", ("0.5", "0.5", "0.5"))):
        page.get_by_role("link", name="Add a cycle").click()
        page.get_by_label("Cycle number").fill(str(number))
        page.get_by_label("Cycle start date (day 1)").fill(start)
        for day, dose in zip(("1", "8", "15"), doses, strict=True):
            page.get_by_label(f"Dose on day {day} (mg/m²)").fill(dose)
        check(page, "delayed", "False")
        check(page, "dose_reduced", "False")
        if number == 2:
            expect(page.get_by_label("Reason for delay or reduction")).to_be_hidden()
            check(page, "dose_reduced", "True")
            expect(page.get_by_label("Reason for delay or reduction")).to_be_visible()
            page.get_by_label("Reason for delay or reduction").fill("CR reached: 1.5 mg/m² per cycle")
        save(page)
        saved(page, "IO cycles saved")
    expect(page.locator("#form-io_cycles tbody tr")).to_have_count(3)
    expect(page.locator("#form-io_cycles")).to_contain_text("1.8")  # the derived total dose of cycle 1

    # Two response assessments; the second trips an edit check first.
    page.get_by_role("link", name="Add an assessment").click()
    page.get_by_label("Date of assessment").fill("2017-03-25")
    page.get_by_label("Bone marrow blasts (%)").fill("8")
    page.locator('select[name="response"]').select_option("pr")
    page.get_by_label("Not done").check()
    save(page)
    saved(page, "Response assessments saved")
    page.get_by_role("link", name="Add an assessment").click()
    page.get_by_label("Date of assessment").fill("2017-04-20")
    page.get_by_label("Bone marrow blasts (%)").fill("12")
    page.locator('select[name="response"]').select_option("cr")
    page.get_by_label("Negative", exact=True).check()
    expect(page.get_by_label("PCR")).to_be_visible()
    page.get_by_label("Flow cytometry").check()
    save(page)
    blasts_field = page.locator(".field.has-error")
    expect(blasts_field).to_contain_text("CR and CRi need marrow blasts below 5%")
    expect(page.get_by_label("Date of assessment")).to_have_value("2017-04-20")  # what was typed is kept
    screenshot(page, "04-edit-check-on-the-field")
    assert ResponseAssessment.objects.count() == 1
    page.get_by_label("Bone marrow blasts (%)").fill("2")
    save(page)
    saved(page, "Response assessments saved")
    expect(page.locator("#form-responses tbody tr")).to_have_count(2)

    # Allogeneic HSCT: its details appear only once it happened.
    page.get_by_role("link", name="Fill in · Allogeneic HSCT after IO").click()
    expect(page.get_by_label("Date of HSCT")).to_be_hidden()
    check(page, "performed", "True")
    expect(page.get_by_label("Date of HSCT")).to_be_visible()
    page.get_by_label("Date of HSCT").fill("2017-06-01")
    page.get_by_label("Donor").select_option("matched_unrelated")
    page.get_by_label("Conditioning").select_option("mac")
    check(page, "tbi", "False")
    page.get_by_label("Disease status at HSCT").select_option("cr_mrd_neg")
    page.get_by_label("IO cycles before HSCT").fill("3")
    screenshot(page, "05-hsct-form")
    save(page)
    saved(page, "Allogeneic HSCT after IO saved")

    page.get_by_role("link", name="Fill in · End of IO treatment").click()
    page.get_by_label("Proceeded to HSCT").check()
    save(page)
    saved(page, "End of IO treatment saved")

    # An adverse event and a VOD/SOS after the HSCT.
    page.get_by_role("link", name="Add an adverse event").click()
    pick_term(page, "alanine", "Alanine aminotransferase increased")
    page.locator('input[name="grade"][value="3"]').check()
    page.get_by_label("Onset date").fill("2017-03-10")
    page.get_by_label("Resolution date").fill("2017-03-20")
    check(page, "serious", "False")
    page.get_by_label("Relation to IO").select_option("related")
    save(page)
    saved(page, "Adverse events saved")
    page.get_by_role("link", name="Add a VOD/SOS event").click()
    page.get_by_label("Date of VOD/SOS diagnosis").fill("2017-06-20")
    page.get_by_label("Diagnostic criteria").select_option("ebmt_2016")
    page.get_by_label("EBMT severity").select_option("severe")
    page.get_by_label("After HSCT").check()
    check(page, "defibrotide", "True")
    page.get_by_label("Resolved").check()
    save(page)
    saved(page, "VOD/SOS saved")

    # Follow-up: the death questions only for a patient who died.
    page.get_by_role("link", name="Fill in · Follow-up & outcome").click()
    check(page, "relapsed", "False")
    page.get_by_label("Alive").check()
    expect(page.get_by_label("Date of death")).to_be_hidden()
    page.get_by_label("Dead").check()
    expect(page.get_by_label("Date of death")).to_be_visible()
    page.get_by_label("Alive").check()
    page.get_by_label("Date of last contact").fill("2020-01-15")
    save(page)
    saved(page, "Follow-up & outcome saved")

    # Every form marked complete.
    for _ in range(9):
        page.get_by_role("button", name=re.compile("complete$")).first.click()
        expect(page.locator(".messages")).to_contain_text("Complete")
    expect(page.get_by_role("button", name=re.compile("complete$"))).to_have_count(0)
    expect(page.locator(".facts")).to_contain_text("9 / 9")
    expect(page.locator(".facts")).to_contain_text("Complete remission (CR)")  # best response on IO
    screenshot(page, "06-casebook-complete")
    patient = Patient.objects.get(study_id="RM01-001")
    assert FormState.objects.filter(patient=patient, status="complete").count() == 9
    assert (BaselineDisease.objects.count(), PriorTherapyLine.objects.count(), IOCycle.objects.count(),
            EndOfTreatment.objects.count(), ResponseAssessment.objects.count(), AlloHsct.objects.count(),
            AdverseEvent.objects.count(), VodSosEvent.objects.count(), FollowUp.objects.count()) == (1, 1, 3, 1, 2, 1, 1, 1, 1)

    # A change to a complete form needs a reason, which the audit trail shows.
    page.get_by_role("link", name="Edit · Baseline disease").click()
    page.get_by_label("ECOG performance status").fill("2")
    save(page)
    expect(page.locator(".reason-box")).to_contain_text("give the reason for the change")
    page.get_by_label("Reason for change").fill("Corrected from the clinic letter")
    save(page)
    saved(page, "Baseline disease saved")
    page.get_by_role("link", name="Audit trail").click()
    page.get_by_label("Form").select_option("baseline")
    page.get_by_role("button", name="Filter").click()
    row = page.locator("tbody tr", has_text="Corrected from the clinic letter")
    expect(row).to_contain_text("ECOG performance status: 1 → 2")
    expect(row).to_contain_text("coord-rm01")
    screenshot(page, "07-audit-trail")

    # The coordinator of another center: the patient does not exist for them.
    other = new_page()
    sign_in(other, base, "coord-mi02")
    expect(other.locator("body")).not_to_contain_text("RM01-001")
    response = other.goto(f"{base}/patients/RM01-001/")
    assert response.status == 404
    assert other.goto(f"{base}/patients/RM01-001/audit/").status == 404
    screenshot(other, "08-other-center-404")

    # The Italian pages.
    page.goto(f"{base}/patients/RM01-001/")
    page.get_by_label("Language").select_option("it")
    page.get_by_role("button", name="Change").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Scheda RM01-001")
    expect(page.locator("#form-baseline")).to_contain_text("Data della diagnosi di LLA-B")
    expect(page.locator(".facts")).to_contain_text("01/03/2017")
    screenshot(page, "09-casebook-italian")
    page.get_by_role("link", name="Modifica · Malattia alla baseline").click()
    expect(page.get_by_label("Data della diagnosi di LLA-B")).to_have_value("10/01/2015")
    screenshot(page, "10-form-italian")


def test_save_and_next_form_and_save_and_add_another(live_server, new_page, screenshot, center, coordinator):
    from tests import factories

    patient = factories.PatientFactory(center=center)
    base = live_server.url
    page = new_page()
    sign_in(page, base, "coord-rm01")
    page.goto(f"{base}/patients/{patient.study_id}/forms/prior-lines/new/")
    expect(page.get_by_text("Next form: IO cycles")).to_be_visible()
    page.get_by_label("Line number").fill("1")
    page.get_by_label("Category").select_option("induction_chemo")
    page.get_by_label("Regimen").fill("hyper-CVAD")
    page.get_by_label("Start date").fill("2015-01-20")
    page.get_by_label("End date").fill("2015-07-01")
    page.get_by_label("Best response").select_option("cr")
    screenshot(page, "flow-save-buttons")
    page.get_by_role("button", name="Save and add another").click()
    saved(page, "Prior therapy lines saved.")
    expect(page).to_have_url(re.compile(r"/forms/prior-lines/new/$"))
    expect(page.get_by_label("Line number")).to_have_value("")
    page.get_by_label("Line number").fill("2")
    page.get_by_label("Category").select_option("induction_chemo")
    page.get_by_label("Regimen").fill("FLAG-Ida")
    page.get_by_label("Start date").fill("2015-09-01")
    page.get_by_label("End date").fill("2015-11-01")
    page.get_by_label("Best response").select_option("pd")
    page.get_by_role("button", name="Save and next form").click()
    saved(page, "Prior therapy lines saved.")
    expect(page).to_have_url(re.compile(r"/forms/io-cycles/new/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("IO cycles")
    assert PriorTherapyLine.objects.filter(patient=patient).count() == 2


def test_an_unchanged_complete_form_saves_nothing_and_asks_no_reason(live_server, new_page, screenshot, center,
                                                                    coordinator):
    from patients.workflow import form_status_set
    from tests import factories

    patient = factories.PatientFactory(center=center)
    baseline = factories.BaselineFactory(patient=patient)
    form_status_set(user=coordinator, patient=patient, form="baseline", status="complete")
    base = live_server.url
    page = new_page("it-IT")
    sign_in_it(page, base, "coord-rm01")
    page.goto(f"{base}/patients/{patient.study_id}/forms/baseline/")
    expect(page.get_by_role("button", name="Salva e vai alla scheda successiva")).to_be_visible()
    page.get_by_role("button", name="Salva e vai alla scheda successiva").click()
    expect(page.locator(".messages")).to_contain_text("nessuna modifica")
    expect(page).to_have_url(re.compile(r"/forms/prior-lines/new/$"))
    screenshot(page, "flow-nothing-changed-it")
    baseline.refresh_from_db()
    assert baseline.version == 1 and baseline.history.count() == 1


def sign_in_it(page, base_url, username):
    page.goto(f"{base_url}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill("pw-for-tests")
    page.locator("form button[type=submit]").last.click()
    expect(page.locator(".usernav")).to_contain_text(username)


def test_the_site_says_not_found_in_its_own_page_in_both_languages(live_server, new_page, screenshot, coordinator):
    base = live_server.url
    for locale, heading, home in (("en-GB", "Not found", "Home"), ("it-IT", "Non trovato", "Home")):
        page = new_page(locale)
        response = page.goto(f"{base}/no-such-page/")
        assert response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.locator("link[rel=stylesheet]").first).to_have_attribute("href", re.compile("/static/"))
        expect(page.get_by_role("link", name=home).last).to_be_visible()
        screenshot(page, f"404-{locale}")
