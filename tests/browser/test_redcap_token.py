"""The REDCap token on the "API tokens" page, in chromium: made, shown once with the API's
address, replaced, and working with a REDCap client's request."""

import re

import pytest
import requests
from playwright.sync_api import expect

from sites.models import ApiToken, ApiTokenKind
from tests.browser.test_account import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_redcap_token_made_and_replaced_on_the_page(live_server, new_page, coordinator):
    page = new_page()
    sign_in(page, live_server.url, coordinator.username)
    page.goto(f"{live_server.url}/accounts/tokens/")
    expect(page.get_by_test_id("no-redcap-token")).to_be_visible()
    expect(page.get_by_test_id("redcap-token")).to_contain_text(f"{live_server.url}/redcap/api/")
    page.get_by_role("button", name="Create a REDCap token").click()
    secret = page.get_by_test_id("new-token-secret")
    expect(secret).to_have_text(re.compile(r"^[0-9A-F]{32}$"))
    first = secret.inner_text()
    answer = requests.post(f"{live_server.url}/redcap/api/", data={"token": first, "content": "version"}, timeout=30)
    assert answer.status_code == 200 and answer.text == "14.0.0"
    page.get_by_role("button", name="Replace the REDCap token").click()
    second = page.get_by_test_id("new-token-secret").inner_text()
    assert second != first
    assert ApiToken.objects.filter(kind=ApiTokenKind.REDCAP, revoked_at__isnull=True).count() == 1
    assert requests.post(f"{live_server.url}/redcap/api/", data={"token": first, "content": "version"},
                         timeout=30).status_code == 403
