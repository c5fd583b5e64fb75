"""REST authentication by an API token: `Authorization: Token <secret>`."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from sites.selectors import api_token_get_by_secret

# How stale "last used" may be: a client's every request need not write the row.
LAST_USED_PRECISION_SECONDS = 60


class ApiTokenAuthentication(TokenAuthentication):
    """DRF's header parsing; the token is found by the digest of its secret and must be valid
    (sites.selectors.api_token_is_valid). `request.auth` is the ApiToken."""

    def authenticate_credentials(self, key):
        token = api_token_get_by_secret(secret=key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > LAST_USED_PRECISION_SECONDS:
            type(token).objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        return token.user, token
