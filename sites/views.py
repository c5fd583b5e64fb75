"""The signed-in user's own account pages: API tokens."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from sites.forms import ApiTokenCreateForm
from sites.selectors import api_token_list_for_user
from sites.services import api_token_create, api_token_revoke


@login_required
def api_token_list_view(request):
    """Your tokens; a new one's secret is shown in the answer to its creation only."""
    form = ApiTokenCreateForm(request.POST or None)
    new_token = new_secret = None
    if request.method == "POST" and form.is_valid():
        new_token, new_secret = api_token_create(user=request.user, name=form.cleaned_data["name"])
        form = ApiTokenCreateForm()
    return render(request, "account/api_tokens.html", {
        "form": form,
        "tokens": api_token_list_for_user(user=request.user),
        "new_token": new_token,
        "new_secret": new_secret,
        "lifetime_days": settings.API_TOKEN_LIFETIME_DAYS,
    })


@login_required
@require_POST
def api_token_revoke_view(request, token_id: int):
    if not api_token_revoke(user=request.user, token_id=token_id):
        raise Http404
    messages.success(request, _("The token is revoked."))
    return redirect("account:api-tokens")
