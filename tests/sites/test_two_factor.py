"""Two-factor sign-in: off by default, on in production; enrolment with a QR code drawn on the
server; the code asked after the password; API tokens and the e-signature need the code too."""

import pytest
from django.core.exceptions import ValidationError
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from patients.models import CasebookSignature
from patients.signatures import casebook_sign
from sites.auth import credentials_confirm
from tests.patients.casebooks import full_casebook
from tests.test_settings import manage

PASSWORD = "pw-for-tests"


def current_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    return f"{(int(current_code(device)) + 1) % 10 ** device.digits:0{device.digits}d}"


@pytest.fixture(autouse=True)
def no_throttling(settings):
    """A wrong code delays the next try (1 s, then doubling): the tests try a right code at once."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


@pytest.fixture
def required(settings):
    settings.TWO_FACTOR_REQUIRED = True


@pytest.fixture
def device(coordinator):
    return TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)


def test_off_by_default_and_on_in_production(settings):
    assert settings.TWO_FACTOR_REQUIRED is False
    result = manage("shell", "-c", "from django.conf import settings; print(settings.TWO_FACTOR_REQUIRED)",
                    DJANGO_SETTINGS_MODULE="inocd22.settings.production", DJANGO_SECRET_KEY="x" * 50,
                    ALLOWED_HOSTS="registry.example.org")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_off_the_password_alone_signs_in(client, coordinator, device):
    response = client.post("/accounts/login/", {"username": "coord-rm01", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_user_without_a_device_is_sent_to_enrol_with_a_server_drawn_qr_code(required, client, coordinator):
    response = client.post("/accounts/login/", {"username": "coord-rm01", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/two-factor/setup/")
    html = response.content.decode()
    assert 'src="data:image/svg+xml' in html
    # The API by the session is closed too until the code is given.
    assert client.get("/api/patients/").status_code == 403
    device = TOTPDevice.objects.get(user=coordinator, confirmed=False)
    assert device.config_url.startswith("otpauth://totp/")
    # Reloading keeps the same key.
    client.get("/accounts/two-factor/setup/")
    assert TOTPDevice.objects.filter(user=coordinator).count() == 1
    refused = client.post("/accounts/two-factor/setup/", {"otp_code": wrong_code(device)})
    assert refused.status_code == 200 and "not correct" in refused.content.decode()
    response = client.post("/accounts/two-factor/setup/", {"otp_code": current_code(device), "next": "/patients/"})
    assert response.status_code == 302 and response["Location"] == "/patients/"
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/patients/").status_code == 200
    assert client.get("/api/patients/").status_code == 200


def test_the_code_is_asked_after_the_password(required, client, coordinator, device):
    response = client.post("/accounts/login/?next=/patients/", {"username": "coord-rm01", "password": PASSWORD,
                                                                "next": "/patients/"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/")
    # Not signed in yet.
    assert client.get("/patients/")["Location"].startswith("/accounts/login/")
    page = client.get(response["Location"])
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.content.decode()
    refused = client.post("/accounts/two-factor/", {"otp_code": wrong_code(device), "next": "/patients/"})
    assert refused.status_code == 200 and "not correct" in refused.content.decode()
    assert client.get("/patients/").status_code == 302
    accepted = client.post("/accounts/two-factor/", {"otp_code": current_code(device), "next": "/patients/"})
    assert accepted.status_code == 302 and accepted["Location"] == "/patients/"
    assert client.get("/patients/").status_code == 200


def test_the_code_page_without_a_password_first_goes_back_to_sign_in(required, client, device):
    assert client.post("/accounts/two-factor/", {"otp_code": current_code(device)})["Location"] == "/accounts/login/"


def test_an_admin_sign_in_with_the_password_only_must_still_give_the_code(required, client, coordinator, device):
    client.force_login(coordinator)
    response = client.get("/patients/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/?next=")
    assert client.post("/accounts/two-factor/", {"otp_code": current_code(device)}).status_code == 302
    assert client.get("/patients/").status_code == 200


def test_the_password_alone_cannot_replace_an_enrolled_authenticator(required, client, coordinator, device):
    client.force_login(coordinator)  # as the admin's sign-in page does: no code given
    response = client.get("/accounts/two-factor/setup/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/?next=")
    assert client.post("/accounts/two-factor/setup/", {"otp_code": "123456"}).status_code == 302
    assert list(TOTPDevice.objects.filter(user=coordinator)) == [device]


def test_an_api_token_needs_the_code_when_required(required, coordinator, device):
    client = APIClient()
    without = client.post("/api/auth/token/", {"username": "coord-rm01", "password": PASSWORD}, format="json")
    assert without.status_code == 400 and "otp_code" in without.json()
    with_code = client.post("/api/auth/token/", {"username": "coord-rm01", "password": PASSWORD,
                                                 "otp_code": current_code(device)}, format="json")
    assert with_code.status_code == 200 and with_code.json()["token"]


def test_credentials_confirm_checks_the_code_only_when_required(settings, coordinator, device):
    credentials_confirm(user=coordinator, password=PASSWORD, otp_code="")
    with pytest.raises(ValidationError) as caught:
        credentials_confirm(user=coordinator, password="wrong", otp_code=current_code(device))
    assert set(caught.value.message_dict) == {"password"}
    settings.TWO_FACTOR_REQUIRED = True
    with pytest.raises(ValidationError) as caught:
        credentials_confirm(user=coordinator, password=PASSWORD, otp_code=wrong_code(device))
    assert set(caught.value.message_dict) == {"otp_code"}
    credentials_confirm(user=coordinator, password=PASSWORD, otp_code=current_code(device))


def test_the_signature_asks_the_password_and_the_code(required, client, investigator, center):
    casebook = full_casebook(center)
    device = TOTPDevice.objects.create(user=investigator, name="phone", confirmed=True)
    with pytest.raises(ValidationError) as caught:
        casebook_sign(user=investigator, patient=casebook, password=PASSWORD, otp_code="")
    assert "otp_code" in caught.value.message_dict
    # Signed in with a code (of an earlier time step: a code is accepted once).
    client.force_login(investigator)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    url = f"/data-management/casebooks/{casebook.study_id}/sign/"
    page = client.get(url).content.decode()
    assert 'name="password"' in page and 'name="otp_code"' in page
    refused = client.post(url, {"password": PASSWORD, "otp_code": wrong_code(device)})
    assert refused.status_code == 200 and "not correct" in refused.content.decode()
    assert not CasebookSignature.objects.exists()
    assert client.post(url, {"password": PASSWORD, "otp_code": current_code(device)}).status_code == 302
    assert CasebookSignature.objects.get().signer == investigator


def test_without_two_factor_the_signature_page_asks_the_password_only(client, investigator, center):
    casebook = full_casebook(center)
    client.force_login(investigator)
    url = f"/data-management/casebooks/{casebook.study_id}/sign/"
    assert 'name="otp_code"' not in client.get(url).content.decode()
    assert client.post(url, {"password": PASSWORD}).status_code == 302
    assert CasebookSignature.objects.exists()


def test_a_wrong_code_delays_the_next_try(settings, required, coordinator, device):
    settings.OTP_TOTP_THROTTLE_FACTOR = 1
    with pytest.raises(ValidationError):
        credentials_confirm(user=coordinator, password=PASSWORD, otp_code=wrong_code(device))
    with pytest.raises(ValidationError):
        credentials_confirm(user=coordinator, password=PASSWORD, otp_code=current_code(device))
