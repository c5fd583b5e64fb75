"""REDCap tokens: 32 uppercase hexadecimal digits, one per user (a new one replaces the old),
stored as a hash, expiring like the other tokens, made and revoked on the "API tokens" page,
and opening the REDCap-compatible API only."""

import datetime as dt
import hashlib
import re

import pytest
from django.db import IntegrityError
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from sites.models import ApiToken, ApiTokenKind, ApiTokenRevocation
from sites.selectors import api_token_get_by_secret
from sites.services import api_token_create

REDCAP_TOKEN = re.compile(r"^[0-9A-F]{32}$")


def opens_redcap(secret: str) -> bool:
    status = Client().post("/redcap/api/", {"token": secret, "content": "version"}).status_code
    assert status in (200, 403), status
    return status == 200


def test_a_redcap_token_is_32_uppercase_hex_digits_stored_as_a_hash(coordinator):
    token, secret = api_token_create(user=coordinator, kind=ApiTokenKind.REDCAP)
    assert REDCAP_TOKEN.match(secret)
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest() and token.kind == ApiTokenKind.REDCAP
    stored = " ".join(str(value) for value in ApiToken.objects.filter(pk=token.pk).values().get().values())
    assert secret not in stored and secret[6:20] not in stored
    assert dt.timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= dt.timedelta(days=30)
    assert opens_redcap(secret)


def test_a_new_redcap_token_replaces_the_old_one(coordinator):
    first_token, first = api_token_create(user=coordinator, kind=ApiTokenKind.REDCAP)
    _second_token, second = api_token_create(user=coordinator, kind=ApiTokenKind.REDCAP)
    assert not opens_redcap(first) and opens_redcap(second)
    first_token.refresh_from_db()
    assert first_token.revoked_reason == ApiTokenRevocation.REPLACED
    assert ApiToken.objects.filter(user=coordinator, kind=ApiTokenKind.REDCAP, revoked_at__isnull=True).count() == 1
    with pytest.raises(IntegrityError):  # the database holds the rule too
        ApiToken.objects.create(user=coordinator, kind=ApiTokenKind.REDCAP, digest="x", prefix="x",
                                password_fingerprint="x", expires_at=timezone.now())


def test_each_kind_opens_its_own_api_only(coordinator):
    rest = api_token_create(user=coordinator)[1]
    redcap = api_token_create(user=coordinator, kind=ApiTokenKind.REDCAP)[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {redcap}")
    assert client.get("/api/centers/").status_code == 401
    assert api_token_get_by_secret(secret=redcap) is None
    assert not opens_redcap(rest) and opens_redcap(redcap)


def test_a_password_change_ends_the_redcap_token(coordinator):
    secret = api_token_create(user=coordinator, kind=ApiTokenKind.REDCAP)[1]
    coordinator.set_password("another-passw0rd-77")
    coordinator.save()
    assert not opens_redcap(secret)


@pytest.fixture
def signed_in(client, coordinator):
    client.force_login(coordinator)
    return client


def test_the_page_makes_replaces_and_revokes_the_redcap_token(signed_in, coordinator):
    page = signed_in.get("/accounts/tokens/").content.decode()
    assert 'data-testid="no-redcap-token"' in page and "/redcap/api/" in page
    made = signed_in.post("/accounts/tokens/", {"redcap": "1"})
    secret = made.context["new_secret"]
    assert REDCAP_TOKEN.match(secret) and secret in made.content.decode() and opens_redcap(secret)
    again = signed_in.get("/accounts/tokens/").content.decode()
    assert secret not in again and secret[:6] in again and "Replace the REDCap token" in again
    replaced = signed_in.post("/accounts/tokens/", {"redcap": "1"}).context["new_secret"]
    assert not opens_redcap(secret) and opens_redcap(replaced)
    token = ApiToken.objects.get(user=coordinator, kind=ApiTokenKind.REDCAP, revoked_at__isnull=True)
    signed_in.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert not opens_redcap(replaced)
    assert not ApiToken.objects.filter(kind=ApiTokenKind.REST).exists()  # the REST form was not submitted
