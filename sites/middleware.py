"""Two-factor sign-in enforced on every page and session API call while it is required."""

from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from sites.auth import two_factor_enrolled, two_factor_required

# What a signed-in user who has not given their code yet may still reach.
OPEN_PREFIXES = ("/accounts/two-factor/", "/accounts/logout/", "/accounts/login/", "/i18n/", "/static/", "/healthz/")


class TwoFactorRequiredMiddleware:
    """A session signed in with the password only (e.g. through the admin's sign-in page)
    goes to the code page, or to the enrolment page when the user has no authenticator yet.
    Token clients are not concerned: a token is only given against the code."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (not two_factor_required() or not user.is_authenticated or user.is_verified()
                or request.path.startswith(OPEN_PREFIXES)):
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": _("Two-factor sign-in is required: give your code in the browser.")},
                                status=403)
        target = "account:two-factor-verify" if two_factor_enrolled(user) else "account:two-factor-setup"
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
