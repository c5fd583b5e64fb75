"""The monitors' form workflow: verify, lock or unlock (with a reason) one form of a casebook."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from patients.registry import casebook
from patients.selectors import patient_get_for_user
from patients.views.common import casebook_url, error_text, next_or
from patients.workflow import FORM_TRANSITION_SERVICES, TRANSITIONS_BY_ACTION
from sites.roles import can_review_forms


@login_required
def form_transition(request, study_id: str, form: str, action: str):
    """Verify, lock or unlock (with a reason) one form of a casebook (POST, monitors)."""
    patient = patient_get_for_user(user=request.user, study_id=study_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not can_review_forms(request.user):
        raise PermissionDenied
    if not casebook.has_form(form) or action not in FORM_TRANSITION_SERVICES:
        raise Http404
    extra = {"reason": request.POST.get("reason", "")} if TRANSITIONS_BY_ACTION[action].needs_reason else {}
    try:
        state = FORM_TRANSITION_SERVICES[action](user=request.user, patient=patient, form=form, **extra)
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, f"{casebook.label(form)}: {error_text(error)}")
    else:
        messages.success(request, _("%(form)s: %(status)s.") % {"form": casebook.label(form),
                                                                 "status": state.get_status_display()})
    return redirect(next_or(request, casebook_url(study_id, form)))
