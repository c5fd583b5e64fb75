"""REST authentication by an API token: `Authorization: Token <secret>`."""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from sites.selectors import api_token_get_by_secret
from sites.services import api_token_mark_used


class ApiTokenAuthentication(TokenAuthentication):
    """DRF's header parsing; the token is found by the digest of its secret and must be valid
    (sites.selectors.api_token_is_valid). `request.auth` is the ApiToken."""

    def authenticate_credentials(self, key):
        token = api_token_get_by_secret(secret=key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        api_token_mark_used(token)
        return token.user, token
