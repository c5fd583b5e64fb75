"""The user's own account pages: sign-in with its second factor, two-factor enrolment, API tokens."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from sites.auth import (
    otp_code_verify,
    totp_enrolment_confirm,
    totp_enrolment_device,
    totp_qr_data_uri,
    totp_secret_base32,
    two_factor_enrolled,
    two_factor_required,
)
from sites.forms import ApiTokenCreateForm, OtpCodeForm
from sites.models import ApiTokenKind
from sites.selectors import api_token_list_for_user
from sites.services import api_token_create, api_token_revoke

# The password was right: who is waiting to give their code, and since when.
PENDING_SESSION_KEY = "two_factor_pending"
PENDING_SECONDS = 5 * 60


def safe_next(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                              require_https=request.is_secure())
    return target if allowed and target.startswith("/") else default


class SignInView(LoginView):
    """The password first; an enrolled user then gives the code of their authenticator on
    the next page, and is signed in only then."""

    def form_valid(self, form):
        user = form.get_user()
        if not (two_factor_required() and two_factor_enrolled(user)):
            return super().form_valid(form)
        self.request.session.cycle_key()
        self.request.session[PENDING_SESSION_KEY] = {"user": user.pk, "backend": user.backend, "at": time.time()}
        return redirect(f"{reverse('account:two-factor-verify')}?{urlencode({'next': self.get_success_url()})}")


def _pending_user(request):
    pending = request.session.get(PENDING_SESSION_KEY)
    if pending and time.time() - pending["at"] < PENDING_SECONDS:
        return get_user_model().objects.filter(pk=pending["user"], is_active=True).first(), pending["backend"]
    if request.user.is_authenticated:
        return request.user, None
    return None, None


@never_cache
def two_factor_verify_view(request):
    """The second step of the sign-in: the current code of the user's authenticator."""
    user, backend = _pending_user(request)
    if user is None:
        return redirect("login")
    form = OtpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = otp_code_verify(user=user, otp_code=form.cleaned_data["otp_code"])
        if device is None:
            form.add_error("otp_code", _("The code is not correct or has expired."))
        else:
            if backend is not None:
                request.session.pop(PENDING_SESSION_KEY, None)
                auth_login(request, user, backend=backend)
            otp_login(request, device)
            return redirect(safe_next(request, reverse(settings.LOGIN_REDIRECT_URL)))
    return render(request, "registration/two_factor_verify.html", {"form": form, "next": safe_next(request, "")})


@never_cache
@login_required
def two_factor_setup_view(request):
    """Enrolment of an authenticator app: scan the QR code (or type the secret), give a code.
    A user who has one replaces it only after giving its code: the password alone (e.g. through
    the admin's sign-in page) does not let anyone swap in their own."""
    if two_factor_enrolled(request.user) and not request.user.is_verified():
        return redirect(f"{reverse('account:two-factor-verify')}?{urlencode({'next': request.get_full_path()})}")
    device = totp_enrolment_device(user=request.user)
    form = OtpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if totp_enrolment_confirm(device=device, otp_code=form.cleaned_data["otp_code"]):
            otp_login(request, device)
            messages.success(request, _("Two-factor sign-in is set up: the sign-in will ask for a code from now on."))
            return redirect(safe_next(request, reverse(settings.LOGIN_REDIRECT_URL)))
        form.add_error("otp_code", _("The code is not correct or has expired."))
    return render(request, "registration/two_factor_setup.html", {
        "form": form,
        "qr_code": totp_qr_data_uri(device),
        "secret": totp_secret_base32(device),
        "enrolled": two_factor_enrolled(request.user),
        "next": safe_next(request, ""),
    })


@login_required
def api_token_list_view(request):
    """Your tokens; a new one's secret is shown in the answer to its creation only. The
    "REDCap token" button makes your REDCap token (replacing the one you had)."""
    wants_redcap = request.method == "POST" and "redcap" in request.POST
    form = ApiTokenCreateForm(request.POST if request.method == "POST" and not wants_redcap else None)
    new_token = new_secret = None
    if wants_redcap:
        new_token, new_secret = api_token_create(user=request.user, kind=ApiTokenKind.REDCAP)
    elif request.method == "POST" and form.is_valid():
        new_token, new_secret = api_token_create(user=request.user, name=form.cleaned_data["name"])
        form = ApiTokenCreateForm()
    return render(request, "account/api_tokens.html", {
        "form": form,
        "tokens": api_token_list_for_user(user=request.user, kind=ApiTokenKind.REST),
        "redcap_tokens": api_token_list_for_user(user=request.user, kind=ApiTokenKind.REDCAP),
        "redcap_url": request.build_absolute_uri("/redcap/api/"),
        "new_token": new_token,
        "new_secret": new_secret,
        "new_is_redcap": wants_redcap,
        "lifetime_days": settings.API_TOKEN_LIFETIME_DAYS,
    })


@login_required
@require_POST
def api_token_revoke_view(request, token_id: int):
    if not api_token_revoke(user=request.user, token_id=token_id):
        raise Http404
    messages.success(request, _("The token is revoked."))
    return redirect("account:api-tokens")
