"""API tokens: only a hash is stored; they expire, and end with a password change, a
deactivation or a revoke; their owner lists and revokes them (API and page)."""

import datetime as dt
import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from sites.models import ApiToken, ApiTokenRevocation
from sites.services import api_token_create

User = get_user_model()
CREDENTIALS = {"username": "coord-rm01", "password": "pw-for-tests"}


def token_obtain(**extra) -> dict:
    response = APIClient().post("/api/auth/token/", {**CREDENTIALS, **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def client_with(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def authenticates(secret: str) -> bool:
    status_code = client_with(secret).get("/api/centers/").status_code
    assert status_code in (200, 401), status_code
    return status_code == 200


def test_only_the_hash_of_the_secret_is_stored(coordinator):
    answer = token_obtain(name="R script")
    secret = answer["token"]
    assert len(secret) == 40 and int(secret, 16) >= 0
    token = ApiToken.objects.get(pk=answer["id"])
    assert token.name == "R script" and token.user == coordinator
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    stored = " ".join(str(value) for value in ApiToken.objects.filter(pk=token.pk).values().get().values())
    assert secret not in stored and secret[6:20] not in stored
    assert authenticates(secret)
    # Every POST makes a new token: the secret of an earlier one cannot be given again.
    assert token_obtain()["token"] != secret


def test_wrong_password_gives_no_token(coordinator):
    response = APIClient().post("/api/auth/token/", {**CREDENTIALS, "password": "nope"}, format="json")
    assert response.status_code == 400 and "non_field_errors" in response.json()
    assert not ApiToken.objects.exists()


@override_settings(API_TOKEN_LIFETIME_DAYS=7)
def test_a_token_expires_after_the_configured_lifetime(coordinator):
    before = timezone.now()
    answer = token_obtain()
    token = ApiToken.objects.get(pk=answer["id"])
    assert before + dt.timedelta(days=7) <= token.expires_at <= timezone.now() + dt.timedelta(days=7)
    assert authenticates(answer["token"])
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert not authenticates(answer["token"])


def test_the_default_lifetime_is_30_days(coordinator):
    token, _secret = api_token_create(user=coordinator)
    assert dt.timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= dt.timedelta(days=30)


def test_changing_the_password_on_the_page_ends_every_token(client, coordinator):
    secrets = [token_obtain()["token"], token_obtain()["token"]]
    client.force_login(coordinator)
    response = client.post("/accounts/password_change/", {
        "old_password": "pw-for-tests", "new_password1": "a-New-passw0rd-42", "new_password2": "a-New-passw0rd-42"})
    assert response.status_code == 302
    assert not any(authenticates(secret) for secret in secrets)
    assert client.get("/api/auth/tokens/").json() == []


def test_a_password_set_by_any_other_path_ends_the_token_too(coordinator):
    secret = token_obtain()["token"]
    coordinator.set_password("set-in-the-shell-99")
    coordinator.save()
    assert not authenticates(secret)
    # A token made after the change works.
    assert authenticates(api_token_create(user=User.objects.get(pk=coordinator.pk))[1])


def test_a_deactivated_user_s_tokens_end(coordinator):
    secret = token_obtain()["token"]
    User.objects.filter(pk=coordinator.pk).update(is_active=False)
    assert not authenticates(secret)


def test_deactivation_in_the_admin_revokes_for_good(client, coordinator):
    secret = token_obtain()["token"]
    client.force_login(User.objects.create_superuser("root", password="pw-for-tests"))
    url = f"/admin/auth/user/{coordinator.pk}/change/"
    page = client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data |= {"date_joined_0": "2024-01-01", "date_joined_1": "10:00:00"}
    data.pop("date_joined", None)
    data.pop("is_active")
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        data |= {management[name].html_name: management[name].value() for name in management.fields}
        for inline_form in formset.formset.forms:
            data |= {inline_form[name].html_name: inline_form[name].value() for name in inline_form.fields
                     if inline_form[name].value() is not None}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["errors"]
    token = ApiToken.objects.get()
    assert token.revoked_reason == ApiTokenRevocation.DEACTIVATED and token.revoked_at is not None
    User.objects.filter(pk=coordinator.pk).update(is_active=True)
    assert not authenticates(secret)


def test_revoke_endpoint_ends_the_token_that_calls_it(coordinator):
    first, second = token_obtain()["token"], token_obtain()["token"]
    assert client_with(first).post("/api/auth/token/revoke/").status_code == 204
    assert not authenticates(first)
    assert authenticates(second)
    assert ApiToken.objects.filter(revoked_reason=ApiTokenRevocation.OWNER).count() == 1


def test_revoke_endpoint_without_a_token_is_a_clear_400(client, coordinator):
    client.force_login(coordinator)
    response = client.post("/api/auth/token/revoke/")
    assert response.status_code == 400


def test_tokens_listed_and_revoked_through_the_api_by_their_owner_only(coordinator, other_coordinator):
    mine = token_obtain(name="mine")
    others, _secret = api_token_create(user=other_coordinator, name="not yours")
    expired, _secret = api_token_create(user=coordinator, name="old")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    client = client_with(mine["token"])
    listed = client.get("/api/auth/tokens/").json()
    assert [row["name"] for row in listed] == ["mine"]
    assert set(listed[0]) == {"id", "name", "prefix", "created_at", "expires_at", "last_used_at"}
    assert listed[0]["prefix"] == mine["token"][:6] and listed[0]["last_used_at"] is not None
    assert client.delete(f"/api/auth/tokens/{others.pk}/").status_code == 404
    assert ApiToken.objects.get(pk=others.pk).revoked_at is None
    assert client.delete(f"/api/auth/tokens/{mine['id']}/").status_code == 204
    assert client.get("/api/auth/tokens/").status_code == 401


def test_a_forged_or_unknown_token_is_401(coordinator):
    token_obtain()
    assert not authenticates("0" * 40)


@pytest.fixture
def signed_in(client, coordinator):
    client.force_login(coordinator)
    return client


def test_page_linked_from_the_user_menu(signed_in):
    assert 'href="/accounts/tokens/"' in signed_in.get("/").content.decode()


def test_page_creates_a_token_and_shows_its_secret_once(signed_in, coordinator):
    response = signed_in.post("/accounts/tokens/", {"name": "Stata do-file"})
    assert response.status_code == 200
    token = ApiToken.objects.get(user=coordinator)
    secret = response.context["new_secret"]
    html = response.content.decode()
    assert secret in html and "Stata do-file" in html
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert authenticates(secret)
    again = signed_in.get("/accounts/tokens/").content.decode()
    assert secret not in again
    assert "Stata do-file" in again and token.prefix in again


def test_page_lists_only_the_owner_s_valid_tokens(signed_in, coordinator, other_coordinator):
    api_token_create(user=coordinator, name="live one")
    api_token_create(user=other_coordinator, name="someone else's")
    revoked, _secret = api_token_create(user=coordinator, name="revoked one")
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    html = signed_in.get("/accounts/tokens/").content.decode()
    assert "live one" in html
    assert "someone else" not in html and "revoked one" not in html


def test_page_revokes_a_token(signed_in, coordinator, other_coordinator):
    token, secret = api_token_create(user=coordinator, name="to revoke")
    others, other_secret = api_token_create(user=other_coordinator)
    assert signed_in.post(f"/accounts/tokens/{others.pk}/revoke/").status_code == 404
    assert signed_in.get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 405
    response = signed_in.post(f"/accounts/tokens/{token.pk}/revoke/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/tokens/"
    assert "The token is revoked." in response.content.decode()
    assert not authenticates(secret) and authenticates(other_secret)


def test_page_needs_sign_in(client):
    assert client.get("/accounts/tokens/").status_code == 302
