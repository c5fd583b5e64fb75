"""What the pages of the casebook and of data management share."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from sites.selectors import center_list_for_user


def next_or(request, fallback: str) -> str:
    """The page to go back to: the request's `next` when it is a path of this site, else
    `fallback`. Only an absolute path is taken: anything else (`foo`) would be read by
    `redirect` as the name of a URL pattern."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def error_text(error: ValidationError | PermissionDenied) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error.args[0]) if error.args else _("You may not do this.")


def casebook_url(study_id: str, form: str = "") -> str:
    url = reverse("casebook:detail", args=[study_id])
    return f"{url}#form-{form}" if form else url


def center_choices(user) -> list[tuple[str, str]]:
    """The centers the user may see, for a filter ("all centers" first)."""
    return [("", _("all centers"))] + [(c.code, str(c)) for c in center_list_for_user(user=user)]
