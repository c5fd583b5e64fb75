"""Writes of the sites app: API tokens."""

import datetime as dt
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from sites.models import ApiToken, ApiTokenRevocation, api_token_digest
from sites.selectors import api_token_password_fingerprint

# 40 hexadecimal digits: the length REST clients already send after "Token ".
API_TOKEN_SECRET_BYTES = 20


def api_token_create(*, user, name: str = "") -> tuple[ApiToken, str]:
    """Makes a token for the user, valid for API_TOKEN_LIFETIME_DAYS; returns it with its
    secret, which is not stored and cannot be shown again."""
    secret = secrets.token_hex(API_TOKEN_SECRET_BYTES)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        name=name.strip() or _("API token of %(when)s") % {"when": timezone.localtime(now).strftime("%Y-%m-%d %H:%M")},
        digest=api_token_digest(secret),
        prefix=secret[:6],
        password_fingerprint=api_token_password_fingerprint(user),
        expires_at=now + dt.timedelta(days=settings.API_TOKEN_LIFETIME_DAYS),
    )
    return token, secret


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
