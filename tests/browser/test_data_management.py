"""Issue 6 in chromium, on the data-management pages: a monitor raises a query on a field,
the coordinator answers it (the correction itself is made through the CRF service: the
casebook pages are issue 3's), the monitor closes it, verifies and locks the form; the
coordinator can no longer change it; the investigator signs with the password; a later
unlock and change voids the signature."""

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from playwright.sync_api import expect

from outcomes.models import FollowUp
from patients.models import CasebookSignature, DataQuery, FormState, QueryState
from patients.services import FormLockedError, crf_row_save
from tests.patients.casebooks import full_casebook

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def signed_in_page(new_page, live_server, user):
    """A page whose browser context carries the user's session (the login page is issue 3's)."""
    client = Client()
    client.force_login(user)
    page = new_page()
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
          "url": live_server.url}]
    )
    return page


def test_query_verify_lock_sign_and_void(live_server, new_page, screenshot, center, coordinator, investigator,
                                         monitor):
    base = live_server.url
    patient = full_casebook(center)
    follow_up = FollowUp.objects.get(patient=patient)
    row = f"{ContentType.objects.get_for_model(FollowUp).pk}-{follow_up.pk}"

    # The monitor raises a query on the last-contact date of the follow-up.
    monitor_page = signed_in_page(new_page, live_server, monitor)
    monitor_page.goto(f"{base}/data-management/casebooks/{patient.study_id}/queries/new/"
                      f"?form=follow_up&row={row}&field_name=last_contact_date")
    expect(monitor_page.get_by_label("Question of the form")).to_have_value("last_contact_date")
    monitor_page.get_by_label("Your question").fill("The chart says the last visit was on 2020-02-01.")
    monitor_page.get_by_role("button", name="Raise the query").click()
    query = DataQuery.objects.get()
    assert (query.field_name, query.row_id, query.state) == ("last_contact_date", follow_up.pk, QueryState.OPEN)

    # The coordinator sees it in the list, corrects the value with a reason, and answers.
    coordinator_page = signed_in_page(new_page, live_server, coordinator)
    coordinator_page.goto(f"{base}/data-management/queries/")
    expect(coordinator_page.locator("#query-table")).to_contain_text("Date of last contact")
    coordinator_page.get_by_role("link", name=f"Q{query.pk}").click()
    expect(coordinator_page.get_by_test_id("current-value")).to_have_text("2020-01-15")
    follow_up.last_contact_date = dt.date(2020, 2, 1)
    crf_row_save(user=coordinator, row=follow_up, reason=f"Query Q{query.pk}: chart checked", expected_version=1)
    coordinator_page.reload()
    expect(coordinator_page.get_by_test_id("current-value")).to_have_text("2020-02-01")
    coordinator_page.get_by_label("Your answer", exact=False).fill("Corrected to 2020-02-01 from the chart.")
    coordinator_page.get_by_role("button", name="Answer").click()
    expect(coordinator_page.get_by_test_id("query-state")).to_have_text("Answered")
    expect(coordinator_page.get_by_role("button", name="Verify")).to_have_count(0)

    # The monitor closes the query, then verifies and locks the form.
    monitor_page.goto(f"{base}/data-management/queries/{query.pk}/")
    expect(monitor_page.get_by_test_id("thread")).to_contain_text("Corrected to 2020-02-01")
    monitor_page.get_by_role("button", name="Close the query").click()
    expect(monitor_page.get_by_test_id("query-state")).to_have_text("Closed")
    monitor_page.goto(f"{base}/data-management/queries/{query.pk}/")
    monitor_page.get_by_test_id("verify-follow_up").click()
    monitor_page.goto(f"{base}/data-management/queries/{query.pk}/")
    monitor_page.get_by_test_id("lock-follow_up").click()
    assert FormState.objects.get(patient=patient, form="follow_up").status == "locked"
    screenshot(monitor_page, "dm-locked")

    # The coordinator can no longer change it.
    follow_up.refresh_from_db()
    follow_up.last_contact_date = dt.date(2020, 3, 1)
    with pytest.raises(FormLockedError):
        crf_row_save(user=coordinator, row=follow_up, reason="late change", expected_version=follow_up.version)

    # The investigator signs with the password: a wrong one first.
    investigator_page = signed_in_page(new_page, live_server, investigator)
    investigator_page.goto(f"{base}/data-management/casebooks/{patient.study_id}/sign/")
    expect(investigator_page.get_by_test_id("signature-meaning")).to_contain_text("complete and accurate")
    investigator_page.get_by_label("Enter your password again", exact=False).fill("wrong password")
    investigator_page.get_by_role("button", name="Sign the casebook").click()
    expect(investigator_page.locator(".errorlist")).to_contain_text("The password is not correct.")
    assert not CasebookSignature.objects.exists()
    investigator_page.get_by_label("Enter your password again", exact=False).fill("pw-for-tests")
    investigator_page.get_by_role("button", name="Sign the casebook").click()
    expect(investigator_page.get_by_test_id("signature-status")).to_contain_text(f"Signed by {investigator.username} on")
    screenshot(investigator_page, "dm-signed")

    # The monitor unlocks with a reason; a change then voids the signature.
    monitor_page.goto(f"{base}/data-management/queries/{query.pk}/")
    monitor_page.get_by_placeholder("Reason for unlocking").fill("New follow-up visit")
    monitor_page.get_by_test_id("unlock-follow_up").click()
    assert FormState.objects.get(patient=patient, form="follow_up").status == "verified"
    follow_up.refresh_from_db()
    follow_up.last_contact_date = dt.date(2020, 3, 1)
    saved = crf_row_save(user=coordinator, row=follow_up, reason="Visit of March", expected_version=follow_up.version)
    assert any("signature" in notice for notice in saved.change_notices)
    investigator_page.reload()
    expect(investigator_page.get_by_test_id("signature-status")).to_contain_text("Not signed")
    expect(investigator_page.locator("#signature-history")).to_contain_text("Visit of March")
