"""manage.py redcap_token USERNAME prints the user's new REDCap token as its last line."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client


def test_redcap_token_prints_a_working_token_last(coordinator):
    out = io.StringIO()
    call_command("redcap_token", "coord-rm01", stdout=out, stderr=io.StringIO())
    secret = out.getvalue().strip().splitlines()[-1]
    assert len(secret) == 32 and secret == secret.upper()
    assert Client().post("/redcap/api/", {"token": secret, "content": "version"}).content == b"14.0.0"
    call_command("redcap_token", "coord-rm01", stdout=io.StringIO(), stderr=io.StringIO())
    assert Client().post("/redcap/api/", {"token": secret, "content": "version"}).status_code == 403


def test_redcap_token_of_an_unknown_user_fails(db):
    with pytest.raises(CommandError):
        call_command("redcap_token", "nobody", stdout=io.StringIO(), stderr=io.StringIO())
