"""The casebook in the browser: the page of a patient's forms, the form of one row, its
deletion, the form states, and the audit trail.

Views are thin: the patient comes through the user-scoped selector (404 for another
center), every write through `patients.services`.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from patients.audit import casebook_audit_trail
from patients.casebook_page import casebook_facts, casebook_sections, single_row_fresh
from patients.clinical import missing_code
from patients.display import show_value
from patients.models import FormState, FormStatus, Patient
from patients.queries import unresolved_query_list
from patients.registry import Part, casebook
from patients.selectors import casebook_get_for_user, form_rows_for_user, patient_get_for_user
from patients.services import (
    REASON_REQUIRED_STATES,
    FormLockedError,
    StaleVersionError,
    crf_row_delete,
    crf_row_save,
    row_problems,
)
from patients.workflow import SITE_ACTIONS, form_status_set, status_for_actions, transitions_available
from sites.roles import can_edit_clinical_data, can_review_forms, can_see_identifiers


def casebook_url(patient: Patient, key: str = "") -> str:
    url = reverse("casebook:detail", args=[patient.study_id])
    return f"{url}#form-{key}" if key else url


@login_required
def casebook_detail(request, study_id: str):
    patient = casebook_get_for_user(user=request.user, study_id=study_id)
    # Read once for the whole page: the forms, fields and rows they concern are flagged from this list.
    unresolved_queries = unresolved_query_list(user=request.user, patient=patient)
    sections = casebook_sections(
        patient, user=request.user, queried_fields={(query.form, query.field_name) for query in unresolved_queries}
    )
    return render(
        request,
        "casebook/detail.html",
        {
            "patient": patient,
            "sections": sections,
            "unresolved_queries": unresolved_queries,
            "facts": casebook_facts(patient),
            "status_actions": {
                section.key: transitions_available(user=request.user, status=status_for_actions(section.key, section.state),
                                                   actions=SITE_ACTIONS)
                for section in sections
            },
            "can_edit": can_edit_clinical_data(request.user),
            "is_monitor": can_review_forms(request.user),
            "identifiers_shown": can_see_identifiers(request.user),
            "complete_count": sum(section.is_complete for section in sections),
            "form_count": len(sections),
        },
    )


def _locked_refusal(request, patient: Patient, key: str):
    messages.error(request, _("This form is locked: a monitor must unlock it first."))
    return redirect(casebook_url(patient, key))


def _change_notices(request, notices) -> None:
    """What else a change did (verification undone, signature voided), said to the user."""
    for notice in notices:
        messages.warning(request, notice)


def _spec_or_404(slug: str) -> Part:
    try:
        return casebook.part_by_slug(slug)
    except KeyError:
        raise Http404 from None


def _row_or_404(*, user, patient: Patient, spec: Part, pk: int):
    rows = form_rows_for_user(user=user, model=spec.model).filter(patient=patient)
    try:
        return rows.get(pk=pk)
    except spec.model.DoesNotExist:
        raise Http404 from None


def _editable_state(request, patient: Patient, key: str) -> FormState | None:
    """The form's state; refuses (403) users who enter no data."""
    if not can_edit_clinical_data(request.user):
        raise PermissionDenied(_("You may not change this casebook."))
    return FormState.objects.filter(patient=patient, form=key).first()


def _conflict(form, current) -> list[tuple[str, str, str]]:
    """(question, what this user typed, what is saved now) for each field that differs."""
    differences = []
    for name in form._meta.fields:
        if name not in form.cleaned_data:
            continue
        model_field = current._meta.get_field(name)
        mine, saved = form.cleaned_data[name], getattr(current, name)
        mine_code, saved_code = form.missing_codes.get(name), missing_code(current, name)
        same_value = mine == saved or (mine in (None, "") and saved in (None, ""))
        if not same_value or mine_code != saved_code:
            differences.append((str(model_field.verbose_name), mine_code or show_value(model_field, mine),
                                saved_code or show_value(model_field, saved)))
    return differences


# The buttons of a form: save and back to the casebook, save and go on to the next form, save
# and open a new row of the same repeating form.
SAVE = "save"
SAVE_NEXT = "next"
SAVE_ANOTHER = "another"


def next_part(patient: Patient, spec: Part) -> Part | None:
    """The part after `spec` in casebook order whose form the site may still change (not
    locked); None after the last one. The enrollment is edited first, never "next"."""
    parts = [part for part in casebook.parts() if not part.is_patient]
    locked = set(FormState.objects.filter(patient=patient, status=FormStatus.LOCKED).values_list("form", flat=True))
    later = parts[parts.index(spec) + 1:] if spec in parts else parts
    return next((part for part in later if part.key not in locked), None)


def part_url(patient: Patient, part: Part) -> str:
    """Where a part is filled in: a single part's form; a repeating part's new row while it has
    none, else its table on the casebook page (its rows, each with Edit, and the Add button)."""
    if not part.repeating:
        return reverse("casebook:form", args=[patient.study_id, part.slug])
    if not part.model.objects.filter(patient=patient, is_deleted=False).exists():
        return reverse("casebook:row-new", args=[patient.study_id, part.slug])
    return casebook_url(patient, part.key)


def _after_save(patient: Patient, spec: Part, choice: str) -> str:
    if choice == SAVE_NEXT and (following := next_part(patient, spec)) is not None:
        return part_url(patient, following)
    if choice == SAVE_ANOTHER and spec.repeating:
        return reverse("casebook:row-new", args=[patient.study_id, spec.slug])
    return casebook_url(patient, spec.key)


def _unchanged(form) -> bool:
    """True when the user changed no answer (nor code) of a saved row: the reason for change
    is not a change of the data."""
    return bool(form.instance.pk) and not (set(form.changed_data) - {"change_reason", "version"})


def _rebound(form, version: int):
    """The same form, keeping what the user typed, now against the saved version."""
    data = form.data.copy()
    data["version"] = str(version)
    rebound = type(form)(data, instance=form.instance, reason_required=form.reason_required)
    rebound.is_valid()
    return rebound


@login_required
def crf_row_edit(request, study_id: str, slug: str, pk: int | None = None):
    """Add or edit one row of a form: a single form's row, or a repeating form's row `pk`
    (a new one when `pk` is None)."""
    patient = patient_get_for_user(user=request.user, study_id=study_id)
    spec = _spec_or_404(slug)
    if spec.repeating:
        row = _row_or_404(user=request.user, patient=patient, spec=spec, pk=pk) if pk else spec.model(patient=patient)
    else:
        if pk is not None:
            raise Http404
        row = single_row_fresh(patient, spec)
    state = _editable_state(request, patient, spec.key)
    if state and state.status == FormStatus.LOCKED:
        return _locked_refusal(request, patient, spec.key)
    reason_required = bool(state and state.status in REASON_REQUIRED_STATES)
    conflict = []
    choice = request.POST.get("then", SAVE)
    if request.method == "POST":
        form = spec.form_class(request.POST, instance=row, reason_required=reason_required)
        if _unchanged(form) and str(row.version) == request.POST.get("version", ""):
            # Nothing to save: no history row, no reason asked, no verification undone.
            messages.info(request, _("%(form)s: nothing changed, nothing saved.") % {"form": spec.title})
            return redirect(_after_save(patient, spec, choice))
        if form.is_valid():
            expected = form.cleaned_data.get("version")
            try:
                if row.pk and expected is None:
                    # Someone created this single form's row since the page was loaded.
                    raise StaleVersionError(type(row).objects.get(pk=row.pk))
                saved = crf_row_save(
                    user=request.user,
                    row=form.instance,
                    reason=form.cleaned_data.get("change_reason") or "",
                    expected_version=expected,
                )
            except ValidationError as error:
                form.add_service_errors(error)
            except StaleVersionError as stale:
                conflict = _conflict(form, stale.current)
                form = _rebound(form, stale.current.version)
            except FormLockedError as error:
                messages.error(request, str(error.args[0] if error.args else error))
                return redirect(casebook_url(patient, spec.key))
            except PermissionDenied as error:
                form.add_error(None, str(error.args[0]) if error.args else _("You may not change this casebook."))
            except IntegrityError:
                form.add_error(None, _("Someone else saved this form at the same moment. Reload the page and check."))
            else:
                messages.success(request, _("%(form)s saved.") % {"form": spec.title})
                _change_notices(request, saved.change_notices)
                return redirect(_after_save(patient, spec, choice))
        else:
            # Every error in one submit: the edit checks of what could be read, beside the typos.
            form.add_row_problems(row_problems(form.instance, patient=patient, invalid=form.invalid_questions()))
    else:
        form = spec.form_class(instance=row, reason_required=reason_required)
    return render(
        request,
        "casebook/row_form.html",
        {
            "patient": patient,
            "spec": spec,
            "row": row,
            "form": form,
            "conflict": conflict,
            "state": state,
            "is_new": not row.pk,
            "row_label": spec.row_label(row) if spec.repeating and row.pk else "",
            # The open queries are flagged on the fields they concern (casebook/_field.html).
            "query_form": spec.key,
            "query_row": row if spec.repeating else None,
            "next_part": next_part(patient, spec),
        },
    )


@login_required
def crf_row_delete_view(request, study_id: str, slug: str, pk: int):
    patient = patient_get_for_user(user=request.user, study_id=study_id)
    spec = _spec_or_404(slug)
    if not spec.repeating:
        raise Http404
    row = _row_or_404(user=request.user, patient=patient, spec=spec, pk=pk)
    state = _editable_state(request, patient, spec.key)
    if state and state.status == FormStatus.LOCKED:
        return _locked_refusal(request, patient, spec.key)
    reason_required = bool(state and state.status in REASON_REQUIRED_STATES)
    errors: dict[str, list[str]] = {}
    reason = ""
    if request.method == "POST":
        reason = request.POST.get("reason", "")
        try:
            version = int(request.POST.get("version", ""))
        except ValueError:
            version = None
        try:
            notices = crf_row_delete(user=request.user, row=row, reason=reason, expected_version=version)
        except ValidationError as error:
            errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
            reason_required = reason_required or "reason" in errors
        except StaleVersionError:
            errors = {"__all__": [_("Someone else changed this row since you opened it: check it before deleting.")]}
            row = type(row).objects.get(pk=row.pk)
        except PermissionDenied as error:
            messages.error(request, str(error.args[0]) if error.args else _("You may not change this casebook."))
            return redirect(casebook_url(patient, spec.key))
        else:
            messages.success(request, _("%(row)s deleted.") % {"row": spec.row_label(row)})
            _change_notices(request, notices)
            return redirect(casebook_url(patient, spec.key))
    return render(
        request,
        "casebook/row_delete.html",
        {
            "patient": patient,
            "spec": spec,
            "row": row,
            "row_label": spec.row_label(row),
            "reason_required": reason_required,
            "reason": reason,
            "errors": errors,
            "non_field_errors": errors.get("__all__", []),
        },
    )


@login_required
def form_status_view(request, study_id: str, form: str):
    """Mark a form complete or back in progress (POST)."""
    patient = patient_get_for_user(user=request.user, study_id=study_id)
    if not casebook.has_form(form):
        raise Http404
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    status = request.POST.get("status", "")
    try:
        state = form_status_set(user=request.user, patient=patient, form=form, status=status,
                                reason=request.POST.get("reason", ""))
    except PermissionDenied as error:
        messages.error(request, str(error.args[0]) if error.args else _("You may not change this casebook."))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("%(form)s: %(status)s.") % {"form": casebook.label(form), "status": state.get_status_display()},
        )
    return redirect(casebook_url(patient, form))


@login_required
def audit_trail_view(request, study_id: str):
    patient = patient_get_for_user(user=request.user, study_id=study_id)
    form = request.GET.get("form", "")
    if not casebook.has_form(form):
        form = ""
    return render(
        request,
        "casebook/audit.html",
        {
            "patient": patient,
            "entries": casebook_audit_trail(patient=patient, user=request.user, form=form),
            "forms": casebook.choices(),
            "selected_form": form,
        },
    )
