"""The user's account pages in chromium, under the Content-Security-Policy: API tokens (the
secret shown once, revoke) and two-factor enrolment with its QR code; the CSP check of every
browser test (conftest.new_page) catches a violation."""

import re

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from sites.models import ApiToken

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, base_url, username):
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw-for-tests")
    page.get_by_role("button", name="Sign in").click()


def test_api_tokens_page_creates_shows_once_and_revokes(live_server, new_page, screenshot, coordinator, patient):
    page = new_page()
    sign_in(page, live_server.url, coordinator.username)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_test_id("no-tokens")).to_be_visible()
    page.get_by_label("Name").fill("R export script")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_test_id("new-token-secret")
    expect(secret).to_have_text(re.compile(r"^[0-9a-f]{40}$"))
    value = secret.inner_text()
    expect(page.get_by_test_id("token-list")).to_contain_text("R export script")
    screenshot(page, "api-tokens")
    # The patient list (with its completeness bars) under the policy too.
    page.goto(f"{live_server.url}/patients/")
    expect(page.get_by_role("link", name=patient.study_id)).to_be_visible()
    page.goto(f"{live_server.url}/accounts/tokens/")
    expect(page.get_by_test_id("token-list")).to_contain_text(value[:6])
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    assert value not in page.content()
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator(".messages")).to_contain_text("The token is revoked.")
    expect(page.get_by_test_id("no-tokens")).to_be_visible()
    assert ApiToken.objects.get().revoked_at is not None


def test_two_factor_enrolment_then_sign_in_with_the_code(live_server, new_page, settings, coordinator):
    settings.TWO_FACTOR_REQUIRED = True
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    page = new_page()
    sign_in(page, live_server.url, coordinator.username)
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor sign-in")
    qr = page.get_by_test_id("qr-code")
    expect(qr).to_be_visible()
    assert page.evaluate("el => el.naturalWidth", qr.element_handle()) > 0
    device = TOTPDevice.objects.get(user=coordinator)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    page.get_by_label("Code from your authenticator app").fill(f"{totp.token():06d}")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".messages")).to_contain_text("Two-factor sign-in is set up")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    sign_in(page, live_server.url, coordinator.username)
    expect(page.get_by_label("Code from your authenticator app")).to_be_visible()
    device.refresh_from_db()
    totp.drift = device.drift
    # The code of the next time step: the one just used is accepted once only.
    totp.time = totp.time + device.step
    page.get_by_label("Code from your authenticator app").fill(f"{totp.token():06d}")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")


def test_the_csp_check_catches_a_violation(live_server, new_page, csp_violations, coordinator):
    page = new_page()
    sign_in(page, live_server.url, coordinator.username)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    assert csp_violations == []
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        page.evaluate("""document.body.insertAdjacentHTML("beforeend", '<p style="color: red">inline</p>');
                         const script = document.createElement("script"); script.textContent = "window.ran = 1";
                         document.body.appendChild(script);""")
    expect(page.locator("body")).to_contain_text("inline")
    assert csp_violations, "the check saw nothing"
    assert page.evaluate("window.ran") is None
    csp_violations.clear()  # expected here: the other tests must report none


def test_the_api_documentation_renders_under_the_policy(live_server, new_page, statistician):
    page = new_page()
    sign_in(page, live_server.url, statistician.username)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    page.goto(f"{live_server.url}/api/docs/")
    # A large schema: Swagger UI takes its time on a busy machine.
    expect(page.locator(".swagger-ui .info").first).to_contain_text("INO-CD22 registry API", timeout=60_000)
