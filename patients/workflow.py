"""The states of a casebook form and who moves it from one to the next: one table, used
by the services below, the buttons of the pages and the views.

A form with no row has no state ("empty"). The first save makes it in progress; the site
marks it complete (or back in progress); a monitor verifies, locks and unlocks it. A
change of a verified form's data sends it back to complete (`patients.services`), and a
locked form takes no change at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from simple_history.utils import bulk_update_with_history

from patients.models import UNRESOLVED_QUERY_STATES, DataQuery, FormState, FormStatus, Patient
from patients.registry import casebook
from patients.selectors import patient_list_for_user
from patients.services import CasebookChange, FormLockedError, require_may_edit
from patients.validators import reason_text
from sites.roles import can_edit_clinical_data, can_review_forms


@dataclass(frozen=True)
class Transition:
    """One move of a form's state: `action` takes it from `source` to `target`, for the users
    `allowed` lets. `needs_closed_queries`: refused while a query of the form is unresolved."""

    action: str
    source: str
    target: str
    label: str | Promise
    allowed: Callable[[object], bool]
    needs_closed_queries: bool = False
    needs_reason: bool = False


TRANSITIONS = (
    Transition("complete", FormStatus.IN_PROGRESS, FormStatus.COMPLETE, gettext_lazy("Mark complete"),
               can_edit_clinical_data),
    # Reopening lets the data change without a reason for each change: it asks for one itself.
    Transition("reopen", FormStatus.COMPLETE, FormStatus.IN_PROGRESS, gettext_lazy("Reopen"), can_edit_clinical_data,
               needs_reason=True),
    Transition("verify", FormStatus.COMPLETE, FormStatus.VERIFIED, gettext_lazy("Verify"), can_review_forms,
               needs_closed_queries=True),
    Transition("lock", FormStatus.VERIFIED, FormStatus.LOCKED, gettext_lazy("Lock"), can_review_forms,
               needs_closed_queries=True),
    Transition("unlock", FormStatus.LOCKED, FormStatus.VERIFIED, gettext_lazy("Unlock"), can_review_forms,
               needs_reason=True),
)
TRANSITIONS_BY_ACTION = {transition.action: transition for transition in TRANSITIONS}
SITE_ACTIONS = ("complete", "reopen")
MONITOR_ACTIONS = ("verify", "lock", "unlock")


def transitions_available(*, user, status: str | None, actions=None) -> list[Transition]:
    """The moves the user may make from `status` (None for a form with no data: none)."""
    return [
        transition for transition in TRANSITIONS
        if transition.source == status and (actions is None or transition.action in actions) and transition.allowed(user)
    ]


def _state_for_transition(*, patient: Patient, form: str) -> FormState:
    if not casebook.has_form(form):
        raise ValidationError({"form": _("Unknown form.")})
    state = FormState.objects.select_for_update().filter(patient=patient, form=form).first()
    if state is None:
        raise ValidationError(_("This form has no data yet."))
    return state


def _refuse_if_unresolved_queries(*, patient: Patient, form: str, action: str) -> None:
    unresolved = DataQuery.objects.filter(patient=patient, form=form, state__in=UNRESOLVED_QUERY_STATES).count()
    if unresolved:
        raise ValidationError(
            _("%(n)d query(ies) of this form are not closed: close them before you %(action)s the form.")
            % {"n": unresolved, "action": action}
        )


def _save(state: FormState, *, user, status: str, reason: str | None) -> FormState:
    state.status = status
    state.changed_by = user
    state._history_user = user
    state._change_reason = reason
    state.save()
    return state


def _require_reviewer(*, user, patient: Patient) -> None:
    if not can_review_forms(user):
        raise PermissionDenied(_("Only monitors do this."))
    if not patient_list_for_user(user=user).filter(pk=patient.pk).exists():
        raise PermissionDenied(_("You may not see this casebook."))


@transaction.atomic
def form_verify(*, user, patient: Patient, form: str) -> FormState:
    """Source data verified: a complete form with no open query becomes verified."""
    _require_reviewer(user=user, patient=patient)
    state = _state_for_transition(patient=patient, form=form)
    if state.status != TRANSITIONS_BY_ACTION["verify"].source:
        raise ValidationError(
            _("Only a complete form can be verified (this one is %(status)s).") % {"status": state.get_status_display()}
        )
    _refuse_if_unresolved_queries(patient=patient, form=form, action=_("verify"))
    return _save(state, user=user, status=TRANSITIONS_BY_ACTION["verify"].target, reason=_("Source data verified"))


@transaction.atomic
def form_lock(*, user, patient: Patient, form: str) -> FormState:
    """Freeze a verified form: nobody changes it until a monitor unlocks it."""
    _require_reviewer(user=user, patient=patient)
    state = _state_for_transition(patient=patient, form=form)
    if state.status != TRANSITIONS_BY_ACTION["lock"].source:
        raise ValidationError(
            _("Only a verified form can be locked (this one is %(status)s).") % {"status": state.get_status_display()}
        )
    _refuse_if_unresolved_queries(patient=patient, form=form, action=_("lock"))
    return _save(state, user=user, status=TRANSITIONS_BY_ACTION["lock"].target, reason=_("Locked"))


@transaction.atomic
def form_unlock(*, user, patient: Patient, form: str, reason: str) -> FormState:
    """Unlock a locked form, with the reason. It goes back to verified: its data did not
    change, and the first change sends it back to complete."""
    _require_reviewer(user=user, patient=patient)
    if not reason_text(reason):
        raise ValidationError({"reason": _("Give the reason for unlocking the form.")})
    state = _state_for_transition(patient=patient, form=form)
    if state.status != TRANSITIONS_BY_ACTION["unlock"].source:
        raise ValidationError(_("This form is not locked."))
    return _save(state, user=user, status=TRANSITIONS_BY_ACTION["unlock"].target,
                 reason=_("Unlocked: %(reason)s") % {"reason": reason_text(reason)})


FORM_TRANSITION_SERVICES = {"verify": form_verify, "lock": form_lock, "unlock": form_unlock}


@transaction.atomic
def form_status_set(*, user, patient: Patient, form: str, status: str, reason: str = "") -> FormState:
    """Mark a form in progress or complete (site staff). Verification and locking are the monitors'.
    Reopening a complete form needs a `reason`, recorded in the state's history: its data then
    changes without a reason per change."""
    require_may_edit(user=user, patient=patient)
    if not casebook.has_form(form):
        raise ValidationError({"form": _("Unknown form.")})
    _site_status_target_check(status)
    state, _created = FormState.objects.select_for_update().get_or_create(patient=patient, form=form)
    recorded = _site_status_check(form=form, current=state.status, status=status, reason=reason,
                                  filled=lambda: _single_form_filled(patient=patient, form=form))
    return _save(state, user=user, status=status, reason=recorded)


def _site_status_target_check(status: str) -> None:
    if status not in {TRANSITIONS_BY_ACTION[action].target for action in SITE_ACTIONS}:
        raise PermissionDenied(_("Only monitors verify or lock forms."))


def _site_status_check(*, form: str, current: str, status: str, reason: str, filled: Callable[[], bool]) -> str | None:
    """Whether the site may move a form from `current` to `status` (raises if not); the
    reason its history records. `filled`: whether the form holds the data it needs."""
    site_targets = {TRANSITIONS_BY_ACTION[action].target for action in SITE_ACTIONS}
    if current == FormStatus.LOCKED:
        raise FormLockedError(_("This form is locked: a monitor must unlock it first."))
    if current not in site_targets:
        # Undoing a verification would let the data change without a reason.
        raise PermissionDenied(_("This form is verified: change its data, with a reason, to reopen it."))
    if status == FormStatus.COMPLETE and not filled():
        # A repeating form may be complete with no row ("no adverse event"); a single form
        # (baseline, HSCT, follow-up) left unanswered may not.
        raise ValidationError({"status": _("Fill in this form before marking it complete.")})
    if current == FormStatus.COMPLETE and status == FormStatus.IN_PROGRESS:
        if not reason_text(reason):
            raise ValidationError({"reason": _("Give the reason for reopening the form.")})
        return _("Reopened: %(reason)s") % {"reason": reason_text(reason)}
    return None


def forms_complete_check(*, user, casebook_change: CasebookChange, forms: Iterable[str]) -> dict[str, ValidationError
                                                                                                   | PermissionDenied]:
    """Which of `forms` the site may mark complete in a casebook checked for writing
    (`patients.services.casebook_changes_check`), as `form_status_set` would, against the
    casebook as it will be: the refusals by form. A form complete already, or verified or
    locked, is left as it is; a form with no state gets one (in progress, as a first save
    makes it). Marks nothing: `forms_complete_write` does, after the casebook's write."""
    refused: dict[str, ValidationError | PermissionDenied] = {}
    forms_ready = []
    for form in forms:
        state = casebook_change.states.get(form)
        if state is not None and not transitions_available(user=user, status=state.status, actions=("complete",)):
            continue
        if not can_edit_clinical_data(user):
            refused[form] = PermissionDenied(_("You may not change this casebook."))
            continue
        if not casebook.has_form(form):
            refused[form] = ValidationError({"form": _("Unknown form.")})
            continue
        try:
            _site_status_check(form=form, current=state.status if state else FormStatus.IN_PROGRESS,
                               status=FormStatus.COMPLETE, reason="",
                               filled=lambda form=form: _rows_filled(casebook_change, form))
        except (ValidationError, PermissionDenied) as error:
            refused[form] = error
            continue
        if state is None:
            casebook_change.states[form] = FormState(patient=casebook_change.patient, form=form)
        forms_ready.append(form)
    casebook_change.forms_to_complete = forms_ready
    return refused


def _rows_filled(casebook_change: CasebookChange, form: str) -> bool:
    """`_single_form_filled`, on the rows of a casebook in memory."""
    if may_complete_empty(form):
        return True
    return any(casebook_change.rows.get(part) for part in casebook.form(form).parts)


def forms_complete_write(*, user, casebooks: Iterable[CasebookChange]) -> None:
    """Marks complete the forms `forms_complete_check` let through, in casebooks written by
    `patients.services.casebook_changes_write`: the states' history says who, as
    `form_status_set` records it."""
    states = []
    for casebook_change in casebooks:
        for form in casebook_change.forms_to_complete:
            state = casebook_change.states[form]
            state.status = FormStatus.COMPLETE
            state.changed_by = user
            state.changed_at = timezone.now()
            state._history_user = user
            state._change_reason = None
            states.append(state)
    if states:
        bulk_update_with_history(states, FormState, ["status", "changed_by", "changed_at"], default_user=user)


def may_complete_empty(form: str) -> bool:
    """A form with a repeating part may be complete with no row ("no adverse event")."""
    return any(part.repeating or part.is_patient for part in casebook.form(form).parts)


def status_for_actions(form: str, state: FormState | None) -> str | None:
    """The status whose moves a form offers: its own, or for a form with no data yet that may
    be complete empty, in progress (the site says "none"); None (no move) otherwise."""
    if state is not None:
        return state.status
    return FormStatus.IN_PROGRESS if may_complete_empty(form) else None


def _single_form_filled(*, patient: Patient, form: str) -> bool:
    """False only for a form of single parts (one row per patient, e.g. baseline) that has no
    live row. A form with a repeating part counts as filled even where it also has a single
    part (IO cycles and the end of treatment, which a patient still on IO does not have yet)."""
    if may_complete_empty(form):
        return True
    return any(part.model.objects.filter(patient=patient, is_deleted=False).exists()
               for part in casebook.form(form).parts)
