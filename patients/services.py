"""Writes to casebooks. Every change of clinical data goes through here: one transaction
that checks access, the form's state and the row's version, runs the edit checks,
saves the row and its history entry (who, when, old and new row, reason)."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.clinical import ClinicalRecord
from patients.models import CasebookSignature, FormState, FormStatus, Patient
from patients.registry import casebook
from patients.selectors import casebook_dates_get, patient_list_for_user
from patients.validators import CasebookDates, check_missing_codes, edit_check, reason_text
from sites.models import Center
from sites.roles import can_edit_clinical_data
from sites.selectors import center_list_for_user


class StaleVersionError(Exception):
    """The row changed since the user loaded it; `current` is the row as saved now."""

    def __init__(self, current: ClinicalRecord):
        super().__init__(f"{current} was changed by someone else (now version {current.version}).")
        self.current = current


class FormLockedError(PermissionDenied):
    pass


# States in which a change needs a reason for change.
REASON_REQUIRED_STATES = frozenset({FormStatus.COMPLETE, FormStatus.VERIFIED})


def require_may_edit(*, user, patient: Patient) -> None:
    if not can_edit_clinical_data(user) or not patient_list_for_user(user=user).filter(pk=patient.pk).exists():
        raise PermissionDenied(_("You may not change this casebook."))


def _form_state_for_change(*, user, patient: Patient, form: str, reason: str, notices: list[str] | None = None) -> FormState:
    """The form's state row, locked; refuses changes to a locked form and asks for a reason
    once the form is complete. A verified form goes back to complete (said in `notices`)."""
    state, _created = FormState.objects.select_for_update().get_or_create(
        patient=patient, form=form, defaults={"changed_by": user}
    )
    if state.status == FormStatus.LOCKED:
        raise FormLockedError(_("This form is locked: a monitor must unlock it first."))
    if state.status in REASON_REQUIRED_STATES and not reason_text(reason):
        raise ValidationError({"reason": _("This form is complete: give the reason for the change.")})
    if state.status == FormStatus.VERIFIED:
        state.status = FormStatus.COMPLETE
        state.changed_by = user
        state._history_user = user
        state._change_reason = _("Data changed after verification")
        state.save()
        if notices is not None:
            notices.append(_("This form was verified: it is back to complete, for the monitor to verify again."))
    return state


def _signature_void_for_change(*, user, patient: Patient, reason: str, notices: list[str]) -> None:
    """A change to signed data voids the casebook's active signature, and says so."""
    signature = CasebookSignature.objects.select_for_update().filter(patient=patient, is_void=False).first()
    if signature is None:
        return
    signature.is_void = True
    signature.voided_at = timezone.now()
    signature.void_reason = _("Data changed after signing: %(reason)s") % {"reason": reason_text(reason) or _("no reason given")}
    signature._history_user = user
    signature._change_reason = signature.void_reason
    signature.save()
    notices.append(_("The investigator's signature of this casebook is void: the casebook must be signed again."))


def row_problems(row: ClinicalRecord, *, patient: Patient, invalid: Iterable[str] = ()) -> dict[str, list[str]]:
    """Every problem of a row at once, per field: its missing-data codes, its fields (a
    question answered by a code needs no value), and the casebook's edit checks, which see
    a field that failed its own check as empty. `invalid` names fields the caller could not
    even read (a typo in a number): they are treated as failed. Saves nothing."""
    part = casebook.part_for(row)
    problems: dict[str, list[str]] = {}

    def collect(check, *, skip=frozenset()) -> None:
        try:
            check()
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                if name not in skip:
                    problems.setdefault(name, []).extend(messages)

    row.missing_codes = {name: code for name, code in (row.missing_codes or {}).items() if code} \
        if isinstance(row.missing_codes, dict) else row.missing_codes
    collect(lambda: check_missing_codes(part, row))
    coded = list(row.missing_codes) if isinstance(row.missing_codes, dict) else []
    collect(lambda: row.clean_fields(exclude=coded + list(invalid)))
    failed = set(problems) | set(invalid)
    # the edit checks see what could be read and passed its own checks
    # by attname: a foreign key holding an unknown key is not fetched
    attnames = {field.name: field.attname for field in row._meta.concrete_fields}
    saved = {attnames[name]: getattr(row, attnames[name]) for name in failed if name in attnames}
    for name in saved:
        setattr(row, name, None)
    try:
        collect(lambda: edit_check(part, row, casebook_dates_get(patient=patient, excluding=row)), skip=failed)
    finally:
        for name, value in saved.items():
            setattr(row, name, value)
    return problems


def _validate(row: ClinicalRecord, *, patient: Patient) -> None:
    """Every field and edit-check problem together, then database constraints."""
    problems = row_problems(row, patient=patient)
    if problems:
        raise ValidationError(problems)
    row.validate_constraints()


def _save_with_history(row: ClinicalRecord, *, user, reason: str) -> None:
    row._history_user = user
    row._change_reason = reason_text(reason) or None
    row.save()


@transaction.atomic
def crf_row_save(*, user, row: ClinicalRecord, reason: str = "", expected_version: int | None = None) -> ClinicalRecord:
    """Create or update one row of a form of an existing patient's casebook.

    `expected_version` is the version the user edited; a different saved version raises
    StaleVersionError and saves nothing. Raises ValidationError with per-field messages.
    `row.change_notices` lists what else the change did (verification undone, signature voided)."""
    patient = Patient.objects.select_for_update().get(pk=row.casebook_patient_id)
    require_may_edit(user=user, patient=patient)
    if row.pk:
        current = type(row).objects.select_for_update().get(pk=row.pk)
        if current.is_deleted or current.casebook_patient_id != patient.pk:
            raise PermissionDenied(_("This row no longer exists."))
        if expected_version is not None and current.version != expected_version:
            raise StaleVersionError(current)
        row.version = current.version + 1
    notices: list[str] = []
    _form_state_for_change(user=user, patient=patient, form=casebook.part_for(row).key, reason=reason, notices=notices)
    _validate(row, patient=patient)
    _save_with_history(row, user=user, reason=reason)
    _signature_void_for_change(user=user, patient=patient, reason=reason, notices=notices)
    row.change_notices = notices
    return row


@transaction.atomic
def crf_row_delete(*, user, row: ClinicalRecord, reason: str = "", expected_version: int | None = None) -> list[str]:
    """Delete a row of a repeating form. The row stays, marked deleted, so its history is kept.
    Returns what else the deletion did (verification undone, signature voided), as messages."""
    patient = Patient.objects.select_for_update().get(pk=row.casebook_patient_id)
    require_may_edit(user=user, patient=patient)
    part = casebook.part_for(row)
    if not part.repeating:
        raise PermissionDenied(_("Only rows of repeating forms are deleted."))
    current = type(row).objects.select_for_update().get(pk=row.pk)
    if expected_version is not None and current.version != expected_version:
        raise StaleVersionError(current)
    notices: list[str] = []
    _form_state_for_change(user=user, patient=patient, form=part.key, reason=reason, notices=notices)
    current.is_deleted = True
    current.version += 1
    _save_with_history(current, user=user, reason=reason)
    _signature_void_for_change(user=user, patient=patient, reason=reason, notices=notices)
    return notices


@transaction.atomic
def patient_enroll(*, user, patient: Patient, sequence: int | None = None, reason: str = "") -> Patient:
    """Enroll (or record as excluded) a new patient of a center the user works for.
    The study ID is the center code and the center's next sequence number, never reused;
    or, given `sequence` (a study ID kept from another system), that number when no patient
    of the center has it, the center's sequence moving past it."""
    if not can_edit_clinical_data(user):
        raise PermissionDenied(_("You may not enroll patients."))
    center = center_list_for_user(user=user).select_for_update(of=("self",)).filter(pk=patient.center_id).first()
    if center is None:
        raise PermissionDenied(_("You may not enroll patients in this center."))
    patient.clean_fields(exclude=["study_id", "sequence"])
    edit_check(casebook.patient_part(), patient, CasebookDates(today=timezone.localdate()))
    if sequence is not None:
        if sequence < 1 or Patient.objects.filter(center=center, sequence=sequence).exists():
            raise ValidationError({"study_id": _("This study ID is taken.")})
        patient.sequence = sequence
    else:
        patient.sequence = center.last_sequence + 1
    Center.objects.filter(pk=center.pk).update(last_sequence=max(center.last_sequence, patient.sequence))
    patient.study_id = study_id_for(center.code, patient.sequence)
    _save_with_history(patient, user=user, reason=reason)
    FormState.objects.create(patient=patient, form=casebook.patient_part().key, changed_by=user)
    return patient


def study_id_for(center_code: str, sequence: int) -> str:
    return f"{center_code}-{sequence:03d}"
