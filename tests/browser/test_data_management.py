"""Data management in chromium, from the pages people use: a monitor raises a query on a field of the
casebook; the coordinator sees it on the field (and in the form), corrects the value with a
reason for change and answers; the monitor closes the query, verifies and locks the form from
the casebook; the coordinator can no longer change it, not even by its URL; the investigator
signs with the password; the monitor unlocks with a reason, and the coordinator's next change
voids the signature."""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from outcomes.models import FollowUp
from patients.models import CasebookSignature, DataQuery, FormState, QueryState
from tests.patients.casebooks import full_casebook

# Committed rows: the live server answers from another thread (the role groups: conftest.role_groups).
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"


def signed_in_page(new_page, base_url, username):
    page = new_page()
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    return page


def messages(page):
    return page.locator(".messages")


def follow_up_state(patient) -> str:
    return FormState.objects.get(patient=patient, form="follow_up").status


def test_query_correct_verify_lock_sign_unlock_and_void_from_the_casebook(
    live_server, new_page, screenshot, center, coordinator, investigator, monitor
):
    base = live_server.url
    patient = full_casebook(center)
    casebook = f"{base}/patients/{patient.study_id}/"
    edit_url = f"{base}/patients/{patient.study_id}/forms/follow-up/"

    # The monitor opens the casebook and raises a query from the field's own link.
    monitor_page = signed_in_page(new_page, base, monitor.username)
    expect(monitor_page.get_by_role("navigation", name="Main")).to_contain_text("Monitoring")
    monitor_page.goto(casebook)
    follow_up = monitor_page.locator("#form-follow_up")
    expect(follow_up.get_by_role("link", name=re.compile("^Edit"))).to_have_count(0)  # monitors enter no data
    follow_up.get_by_test_id("raise-query-follow_up-last_contact_date").click()
    expect(monitor_page.get_by_label("Question of the form")).to_have_value("last_contact_date")
    expect(monitor_page.get_by_label("Row").locator("option:checked")).to_have_text("Follow-up & outcome")
    monitor_page.get_by_label("Your question").fill("The chart says the last visit was on 2020-02-01.")
    screenshot(monitor_page, "dm-query-raise")
    monitor_page.get_by_role("button", name="Raise the query").click()
    # The click returns before the server has answered: the page's message says the query is saved.
    expect(messages(monitor_page)).to_contain_text(re.compile(r"Query \d+ raised\."))
    query = DataQuery.objects.get()
    assert (query.form, query.field_name, query.state) == ("follow_up", "last_contact_date", QueryState.OPEN)
    expect(messages(monitor_page)).to_contain_text(f"Query {query.pk} raised.")
    assert monitor_page.url.startswith(casebook)
    expect(monitor_page.locator("#form-follow_up [data-field=last_contact_date]")).to_contain_text(f"Q{query.pk} · Open")
    screenshot(monitor_page, "dm-monitor-casebook")

    # The coordinator sees it on the field and as the form's count.
    coordinator_page = signed_in_page(new_page, base, coordinator.username)
    expect(coordinator_page.get_by_test_id("query-summary")).to_contain_text("1 open query to answer")
    expect(coordinator_page.get_by_test_id("open-queries-RM01")).to_have_text("1")
    screenshot(coordinator_page, "dm-home")
    coordinator_page.goto(casebook)
    follow_up = coordinator_page.locator("#form-follow_up")
    expect(follow_up.get_by_test_id("query-count-follow_up")).to_have_text("1 open query")
    field = follow_up.locator("[data-field=last_contact_date]")
    expect(field).to_contain_text("The chart says the last visit was on 2020-02-01.")
    expect(field.get_by_test_id("raise-query-follow_up-last_contact_date")).to_have_count(0)
    field.scroll_into_view_if_needed()
    screenshot(coordinator_page, "dm-casebook-query")

    # ... and in the form, on the question being corrected: the value is corrected with a reason.
    follow_up.get_by_role("link", name="Edit · Follow-up & outcome").click()
    last_contact = coordinator_page.locator(".field", has=coordinator_page.get_by_label("Date of last contact"))
    expect(last_contact).to_contain_text(f"Q{query.pk} · Open")
    expect(last_contact).to_contain_text("The chart says the last visit was on 2020-02-01.")
    screenshot(coordinator_page, "dm-row-form-query")
    coordinator_page.get_by_label("Date of last contact").fill("2020-02-01")
    coordinator_page.get_by_label("Reason for change").fill(f"Query Q{query.pk}: chart checked")
    coordinator_page.get_by_role("button", name=re.compile("^Save")).click()
    expect(messages(coordinator_page)).to_contain_text("Follow-up & outcome saved.")
    assert FollowUp.objects.get(patient=patient).last_contact_date == dt.date(2020, 2, 1)

    # The coordinator answers from the query's flag on the field.
    coordinator_page.locator("#form-follow_up [data-field=last_contact_date] a.query-flag").click()
    expect(coordinator_page.get_by_test_id("query-row")).to_have_text("Follow-up & outcome")
    expect(coordinator_page.get_by_test_id("current-value")).to_have_text("2020-02-01")
    coordinator_page.get_by_label("Your answer", exact=False).fill("Corrected to 2020-02-01 from the chart.")
    screenshot(coordinator_page, "dm-query-answer")
    coordinator_page.get_by_role("button", name="Answer").click()
    expect(coordinator_page.get_by_test_id("query-state")).to_have_text("Answered")

    # The monitor closes it, then verifies and locks the form from the casebook.
    monitor_page.goto(casebook)
    expect(monitor_page.get_by_test_id("verify-follow_up-blocked")).to_be_disabled()  # its query is not closed
    monitor_page.locator("#form-follow_up [data-field=last_contact_date] a.query-flag", has_text="Answered").click()
    expect(monitor_page.get_by_test_id("thread")).to_contain_text("Corrected to 2020-02-01")
    monitor_page.get_by_role("button", name="Close the query").click()
    expect(monitor_page.get_by_test_id("query-state")).to_have_text("Closed")
    monitor_page.get_by_role("link", name="Open the casebook").click()
    expect(monitor_page.get_by_test_id("query-count-follow_up")).to_have_count(0)
    monitor_page.get_by_test_id("verify-follow_up").click()
    expect(monitor_page.get_by_test_id("state-follow_up")).to_have_text("Verified")
    monitor_page.get_by_test_id("lock-follow_up").click()
    expect(monitor_page.get_by_test_id("state-follow_up")).to_have_text("Locked")
    assert follow_up_state(patient) == "locked"
    expect(monitor_page.get_by_test_id("unlock-follow_up")).to_be_visible()
    screenshot(monitor_page, "dm-monitor-locked")

    # The coordinator has no control left on the locked form, and its URL refuses.
    coordinator_page.goto(casebook)
    follow_up = coordinator_page.locator("#form-follow_up")
    expect(follow_up.get_by_test_id("state-follow_up")).to_have_text("Locked")
    expect(follow_up).to_contain_text("This form is locked")
    expect(follow_up.get_by_role("link")).to_have_count(0)
    expect(follow_up.get_by_role("button")).to_have_count(0)
    expect(coordinator_page.locator("#form-baseline").get_by_role("link", name=re.compile("^Edit"))).to_have_count(1)
    follow_up.scroll_into_view_if_needed()
    screenshot(coordinator_page, "dm-locked")
    saved = FollowUp.objects.get(patient=patient)
    coordinator_page.goto(edit_url)
    assert coordinator_page.url.startswith(casebook)
    expect(messages(coordinator_page)).to_contain_text("This form is locked: a monitor must unlock it first.")
    csrf = next(c["value"] for c in coordinator_page.context.cookies() if c["name"] == "csrftoken")
    response = coordinator_page.request.post(
        edit_url,
        form={"csrfmiddlewaretoken": csrf, "version": str(saved.version), "relapsed": "False", "vital_status": "alive",
              "last_contact_date": "2020-05-05", "change_reason": "late change"},
        headers={"Referer": edit_url},
    )
    assert response.ok and response.url.startswith(casebook)
    assert "This form is locked: a monitor must unlock it first." in response.text()
    after = FollowUp.objects.get(patient=patient)
    assert (after.last_contact_date, after.version) == (saved.last_contact_date, saved.version)

    # The investigator signs the casebook with the password; a wrong one first.
    investigator_page = signed_in_page(new_page, base, investigator.username)
    investigator_page.goto(casebook)
    expect(investigator_page.get_by_test_id("signature-status")).to_contain_text("Not signed")
    investigator_page.get_by_role("link", name="Sign the casebook").click()
    expect(investigator_page.get_by_test_id("signature-meaning")).to_contain_text("complete and accurate")
    investigator_page.get_by_label("Enter your password again", exact=False).fill("wrong password")
    investigator_page.get_by_role("button", name="Sign the casebook").click()
    expect(investigator_page.locator(".errorlist")).to_contain_text("The password is not correct.")
    assert not CasebookSignature.objects.exists()
    investigator_page.get_by_label("Enter your password again", exact=False).fill(PASSWORD)
    investigator_page.get_by_role("button", name="Sign the casebook").click()
    expect(messages(investigator_page)).to_contain_text("The casebook is signed.")
    investigator_page.get_by_role("link", name=patient.study_id).last.click()
    expect(investigator_page.get_by_test_id("signature-status")).to_contain_text(f"Signed by {investigator.username} on")
    expect(investigator_page.get_by_test_id("signature-history")).to_have_count(0)  # nothing else to show yet
    screenshot(investigator_page, "dm-signed")
    assert CasebookSignature.objects.get().signer == investigator

    # The monitor unlocks the form with a reason.
    monitor_page.goto(casebook)
    monitor_page.get_by_test_id("unlock-follow_up").click()  # no reason: the browser asks for one
    assert follow_up_state(patient) == "locked"
    monitor_page.get_by_placeholder("Reason for unlocking").fill("New follow-up visit")
    monitor_page.get_by_test_id("unlock-follow_up").click()
    expect(monitor_page.get_by_test_id("state-follow_up")).to_have_text("Verified")
    assert follow_up_state(patient) == "verified"

    # The coordinator's change, with its reason, voids the signature, and says so.
    coordinator_page.goto(casebook)
    coordinator_page.locator("#form-follow_up").get_by_role("link", name="Edit · Follow-up & outcome").click()
    coordinator_page.get_by_label("Date of last contact").fill("2020-03-01")
    coordinator_page.get_by_label("Reason for change").fill("Visit of March")
    coordinator_page.get_by_role("button", name=re.compile("^Save")).click()
    expect(messages(coordinator_page)).to_contain_text("The investigator's signature of this casebook is void")
    expect(coordinator_page.get_by_test_id("signature-status")).to_contain_text("Not signed")
    expect(coordinator_page.get_by_test_id("signature-history")).to_contain_text("Visit of March")
    expect(coordinator_page.get_by_test_id("state-follow_up")).to_have_text("Complete")
    screenshot(coordinator_page, "dm-signature-void")
    signature = CasebookSignature.objects.get()
    assert signature.is_void and "Visit of March" in signature.void_reason


def test_the_raise_query_lists_follow_the_chosen_form_and_query_links_are_readable(
    live_server, new_page, screenshot, center, monitor
):
    base = live_server.url
    patient = full_casebook(center)
    page = signed_in_page(new_page, base, monitor.username)
    page.goto(f"{base}/patients/{patient.study_id}/")
    link = page.get_by_test_id("raise-query-follow_up-last_contact_date")
    style = link.evaluate("a => { const s = getComputedStyle(a); return [s.fontSize, s.opacity, s.color]; }")
    assert float(style[0].removesuffix("px")) >= 14 and float(style[1]) == 1.0, style
    background = page.locator("#form-follow_up").evaluate("e => getComputedStyle(e).backgroundColor")
    assert contrast(style[2], background) >= 4.5, (style[2], background)

    page.goto(f"{base}/data-management/casebooks/{patient.study_id}/queries/new/?form=follow_up")
    rows, questions = page.get_by_label("Row"), page.get_by_label("Question of the form")
    expect(rows.locator("option")).to_have_count(2)  # the whole form, and its one row
    expect(questions.locator("option", has_text="Date of last contact (now: 2020-01-15)")).to_have_count(1)
    page.get_by_label("Form", exact=True).select_option("io_cycles")
    # The server sends the chosen form's rows and questions: IO cycles only.
    expect(rows.locator("option", has_text="IO cycles · IO cycle 1")).to_have_count(1)
    expect(rows.locator("option", has_text="Follow-up")).to_have_count(0)
    expect(questions.locator("option", has_text="Date of last contact")).to_have_count(0)
    rows.select_option(label="IO cycles · IO cycle 1")
    expect(questions.locator("option", has_text=re.compile(r"Cycle start date \(day 1\) \(now: \d{4}-\d\d-\d\d\)"))
           ).to_have_count(1)
    screenshot(page, "dm-query-raise-dependent")
    questions.select_option("start_date")
    page.get_by_label("Your question").fill("Is day 1 right?")
    page.get_by_role("button", name="Raise the query").click()
    expect(messages(page)).to_contain_text(re.compile(r"Query \d+ raised\."))
    query = DataQuery.objects.get()
    assert (query.form, query.field_name) == ("io_cycles", "start_date")


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two CSS rgb() colours."""
    def luminance(colour: str) -> float:
        channels = [int(part) / 255 for part in re.findall(r"\d+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    if background in ("rgba(0, 0, 0, 0)", "transparent"):
        background = "rgb(255, 255, 255)"
    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
