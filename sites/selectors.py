"""Which centers a user may see (the root of every access rule in the system), and which API
tokens authenticate."""

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from sites.models import ApiToken, ApiTokenKind, Center, api_token_digest
from sites.roles import sees_all_centers, user_roles


def center_list_for_user(*, user) -> QuerySet[Center]:
    if not user_roles(user):
        return Center.objects.none()
    if sees_all_centers(user):
        return Center.objects.all()
    return Center.objects.filter(members=user)


def center_ids_for_user(*, user) -> QuerySet:
    return center_list_for_user(user=user).values("pk")


# --- API tokens ---------------------------------------------------------------------------


def api_token_password_fingerprint(user) -> str:
    """A keyed hash of the user's password hash: it changes whenever the password does."""
    return salted_hmac("sites.ApiToken.password_fingerprint", user.password, algorithm="sha256").hexdigest()


def api_token_is_valid(token: ApiToken) -> bool:
    """The one rule of a token's life: not revoked, not expired, its user active, and the
    password unchanged since it was made. (A hasher upgrade rehashes a password at the next
    sign-in and so also ends its tokens: rare, and on the safe side.)"""
    return (
        token.revoked_at is None
        and token.expires_at > timezone.now()
        and token.user.is_active
        and token.password_fingerprint == api_token_password_fingerprint(token.user)
    )


def api_token_get_by_secret(*, secret: str, kind: str = ApiTokenKind.REST) -> ApiToken | None:
    """The valid token of this kind whose secret this is, or None: a REDCap token does not
    open the REST API, nor a REST token the REDCap API."""
    token = ApiToken.objects.select_related("user").filter(digest=api_token_digest(secret), kind=kind).first()
    return token if token is not None and api_token_is_valid(token) else None


def api_token_list_for_user(*, user, kind: str | None = None) -> list[ApiToken]:
    """The user's own valid tokens (of one kind, or all), newest first (never another user's)."""
    # Narrowed in SQL; api_token_is_valid decides.
    candidates = ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=timezone.now())
    if kind is not None:
        candidates = candidates.filter(kind=kind)
    return [token for token in candidates.select_related("user") if api_token_is_valid(token)]
