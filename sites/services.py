"""Writes of the sites app: API tokens."""

import datetime as dt
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from sites.models import ApiToken, ApiTokenKind, ApiTokenRevocation, api_token_digest
from sites.selectors import api_token_password_fingerprint

# How stale "last used" may be.
LAST_USED_PRECISION_SECONDS = 60

# 40 hexadecimal digits: the length REST clients already send after "Token ".
API_TOKEN_SECRET_BYTES = 20
# 32 uppercase hexadecimal digits: a REDCap token, the only shape REDCap clients accept.
REDCAP_TOKEN_SECRET_BYTES = 16


def _secret_for(kind: str) -> str:
    if kind == ApiTokenKind.REDCAP:
        return secrets.token_hex(REDCAP_TOKEN_SECRET_BYTES).upper()
    return secrets.token_hex(API_TOKEN_SECRET_BYTES)


@transaction.atomic
def api_token_create(*, user, name: str = "", kind: str = ApiTokenKind.REST) -> tuple[ApiToken, str]:
    """Makes a token for the user, valid for API_TOKEN_LIFETIME_DAYS; returns it with its
    secret, which is not stored and cannot be shown again. A new REDCap token revokes the
    user's earlier one (a user has one REDCap token, as in REDCap)."""
    secret = _secret_for(kind)
    now = timezone.now()
    if kind == ApiTokenKind.REDCAP:
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()  # one replacement at a time
        ApiToken.objects.filter(user=user, kind=kind, revoked_at__isnull=True).update(
            revoked_at=now, revoked_reason=ApiTokenRevocation.REPLACED)
        default_name = _("REDCap API token")
    else:
        default_name = _("API token of %(when)s") % {"when": timezone.localtime(now).strftime("%Y-%m-%d %H:%M")}
    token = ApiToken.objects.create(
        user=user,
        name=name.strip() or default_name,
        kind=kind,
        digest=api_token_digest(secret),
        prefix=secret[:6],
        password_fingerprint=api_token_password_fingerprint(user),
        expires_at=now + dt.timedelta(days=settings.API_TOKEN_LIFETIME_DAYS),
    )
    return token, secret


def api_token_mark_used(token: ApiToken) -> None:
    """Records when the token was last used, at most once a minute (a client's every request
    need not write the row)."""
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > LAST_USED_PRECISION_SECONDS:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def api_token_revoke(*, user, token_id: int) -> bool:
    """Revokes one of the user's own tokens; False when the user has no such live token."""
    revoked = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=ApiTokenRevocation.OWNER
    )
    return bool(revoked)


@transaction.atomic
def api_token_revoke_all(*, user, reason: ApiTokenRevocation) -> int:
    """Revokes every live token of the user (e.g. when the account is deactivated, so that
    reactivating it does not bring them back); returns how many."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason
    )
