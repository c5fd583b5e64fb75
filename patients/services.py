"""Writes to casebooks. Every change of clinical data goes through here: one transaction
that checks access, the form's state and the row's version, runs the edit checks,
saves the row and its history entry (who, when, old and new row, reason)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from patients.clinical import ClinicalRecord, RepeatingRecord
from patients.models import CasebookSignature, FormState, FormStatus, Patient
from patients.registry import Part, casebook
from patients.selectors import casebook_dates_get, casebook_dates_of, casebook_rows_get, patient_list_for_user
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


def form_state_change_check(*, status: str | None, reason: str) -> bool:
    """Whether a change of a form in `status` (None: no state yet) may be made: refuses a
    locked form, and a complete one without a reason. True when the change sends a
    verified form back to complete."""
    if status == FormStatus.LOCKED:
        raise FormLockedError(_("This form is locked: a monitor must unlock it first."))
    if status in REASON_REQUIRED_STATES and not reason_text(reason):
        raise ValidationError({"reason": _("This form is complete: give the reason for the change.")})
    return status == FormStatus.VERIFIED


def _verification_undone(state: FormState, *, user, notices: list[str] | None) -> None:
    state.status = FormStatus.COMPLETE
    state.changed_by = user
    state._history_user = user
    state._change_reason = _("Data changed after verification")
    if notices is not None:
        notices.append(_("This form was verified: it is back to complete, for the monitor to verify again."))


def _form_state_for_change(*, user, patient: Patient, form: str, reason: str, notices: list[str] | None = None) -> FormState:
    """The form's state row, locked; refuses changes to a locked form and asks for a reason
    once the form is complete. A verified form goes back to complete (said in `notices`)."""
    state, _created = FormState.objects.select_for_update().get_or_create(
        patient=patient, form=form, defaults={"changed_by": user}
    )
    if form_state_change_check(status=state.status, reason=reason):
        _verification_undone(state, user=user, notices=notices)
        state.save()
    return state


def _signature_void_reason(reason: str) -> str:
    return _("Data changed after signing: %(reason)s") % {"reason": reason_text(reason) or _("no reason given")}


def _signature_void_notice() -> str:
    return _("The investigator's signature of this casebook is void: the casebook must be signed again.")


def _signature_void_for_change(*, user, patient: Patient, reason: str, notices: list[str]) -> None:
    """A change to signed data voids the casebook's active signature, and says so."""
    signature = CasebookSignature.objects.select_for_update().filter(patient=patient, is_void=False).first()
    if signature is None:
        return
    signature.is_void = True
    signature.voided_at = timezone.now()
    signature.void_reason = _signature_void_reason(reason)
    signature._history_user = user
    signature._change_reason = signature.void_reason
    signature.save()
    notices.append(_signature_void_notice())


def row_problems(row: ClinicalRecord, *, patient: Patient, invalid: Iterable[str] = (),
                 dates: CasebookDates | None = None, links_found: Iterable[str] = ()) -> dict[str, list[str]]:
    """Every problem of a row at once, per field: its missing-data codes, its fields (a
    question answered by a code needs no value), and the casebook's edit checks, which see
    a field that failed its own check as empty. `invalid` names fields the caller could not
    even read (a typo in a number): they are treated as failed. `dates`: the rest of the
    casebook, when the caller has it in memory (else read from the database). `links_found`:
    foreign keys of the row the caller has found already (its patient, maybe one it is
    enrolling; reference data read in bulk), not looked up again. Saves nothing."""
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
    system = [field.name for field in row._meta.concrete_fields if not field.editable]  # not answers: set by the services
    collect(lambda: row.clean_fields(exclude=coded + list(invalid) + list(links_found) + system))
    failed = set(problems) | set(invalid)
    # the edit checks see what could be read and passed its own checks
    # by attname: a foreign key holding an unknown key is not fetched
    attnames = {field.name: field.attname for field in row._meta.concrete_fields}
    saved = {attnames[name]: getattr(row, attnames[name]) for name in failed if name in attnames}
    for name in saved:
        setattr(row, name, None)
    try:
        collect(lambda: edit_check(part, row, dates or casebook_dates_get(patient=patient, excluding=row)),
                skip=failed)
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


def instances_number(rows: Iterable[ClinicalRecord]) -> None:
    """Gives the new rows of repeating parts (`RepeatingRecord`) their instance numbers: a
    patient's new rows of a part, in the order given, follow the highest number of its stored
    rows of the part, deleted rows included (so a number is never given twice). The callers
    hold the patients' locks, so that two writers cannot read the same highest number."""
    new: dict[type, list[RepeatingRecord]] = {}
    for row in rows:
        if isinstance(row, RepeatingRecord) and row.pk is None:
            new.setdefault(type(row), []).append(row)
    for model, model_rows in new.items():
        # A new patient's row points at it by object: its pk is known once the patient is saved.
        patient_ids = [row.patient.pk if row.patient_id is None else row.patient_id for row in model_rows]
        last = dict(model.objects.filter(patient_id__in=set(patient_ids)).order_by().values("patient_id")
                    .annotate(last=Max("repeat_instance")).values_list("patient_id", "last"))
        for row, patient_id in zip(model_rows, patient_ids, strict=True):
            last[patient_id] = row.repeat_instance = last.get(patient_id, 0) + 1


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
    instances_number([row])
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


def _enrollment_check(*, patient: Patient, center: Center, sequence: int | None, taken: bool) -> None:
    """A new patient's fields and edit check, and its study ID (the center's next number,
    or `sequence` when it is not `taken`), set on `patient`. `center` is one of the user's,
    found by the caller: the patient's link to it is not looked up again. Saves nothing."""
    patient.clean_fields(exclude=["study_id", "sequence", "center"])
    edit_check(casebook.patient_part(), patient, CasebookDates(today=timezone.localdate()))
    if sequence is not None:
        if sequence < 1 or taken:
            raise ValidationError({"study_id": _("This study ID is taken.")})
        patient.sequence = sequence
    else:
        patient.sequence = center.last_sequence + 1
    patient.study_id = study_id_for(center.code, patient.sequence)


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
    taken = sequence is not None and Patient.objects.filter(center=center, sequence=sequence).exists()
    _enrollment_check(patient=patient, center=center, sequence=sequence, taken=taken)
    Center.objects.filter(pk=center.pk).update(last_sequence=max(center.last_sequence, patient.sequence))
    _save_with_history(patient, user=user, reason=reason)
    FormState.objects.create(patient=patient, form=casebook.patient_part().key, changed_by=user)
    return patient


def study_id_for(center_code: str, sequence: int) -> str:
    return f"{center_code}-{sequence:03d}"


# Writes of many rows of many casebooks at once (imports): the same rules as `crf_row_save`
# and `patient_enroll`, checked in memory against the casebooks as they will be, then written
# with a few queries per batch.


class CasebookChangedError(Exception):
    """A casebook changed between the check of a batch and its write: nothing of the batch is
    written; the caller writes its casebooks one by one."""


@dataclass(eq=False)
class RowChange:
    """One row to write: `row` holds the new values (a stored row keeps its `pk`; a new row of
    a new patient points at the unsaved patient). `unreadable`: fields (by model field name)
    the caller could not read, with their messages. The check fills `problems` (per field;
    "" for the row as a whole) and `notices`."""

    row: ClinicalRecord
    reason: str = ""
    unreadable: dict[str, list[str]] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    _links_found: tuple[str, ...] = ("patient",)


@dataclass(eq=False)
class CasebookChange:
    """The changes of one casebook, written all or nothing. `patient` is the stored patient,
    or a new one (no pk) to enroll with `sequence` (None: the center's next) and `reason`;
    `problems` holds the enrollment's. After `casebook_changes_check`, `rows` and `states`
    are the casebook as it will be (live rows by part, form states by form)."""

    patient: Patient
    changes: list[RowChange] = field(default_factory=list)
    sequence: int | None = None
    reason: str = ""
    problems: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[Part, list[ClinicalRecord]] = field(default_factory=dict)
    states: dict[str, FormState] = field(default_factory=dict)
    forms_to_complete: list[str] = field(default_factory=list)
    _stored_states: dict[str, str] = field(default_factory=dict)
    _versions: dict[tuple[type, int], int] = field(default_factory=dict)
    _signature_reason: str | None = None

    @property
    def has_problems(self) -> bool:
        return bool(self.problems) or any(change.problems for change in self.changes)

    @property
    def is_new(self) -> bool:
        return self.patient.pk is None


def casebook_changes_check(*, user, casebooks: list[CasebookChange]) -> None:
    """Checks the changes of many casebooks in memory, with the rules of `crf_row_save` and
    `patient_enroll`: access, the form's state, every field and edit check, each row against
    the casebook as the rows before it leave it. A row refused by a check that reads a later
    row is checked again after the others, as long as a pass accepts something. Fills the
    problems; reads the stored casebooks in a few queries; writes nothing."""
    stored = [casebook_change for casebook_change in casebooks if not casebook_change.is_new]
    may_edit = can_edit_clinical_data(user)
    allowed = set(patient_list_for_user(user=user).filter(pk__in=[c.patient.pk for c in stored])
                  .values_list("pk", flat=True)) if may_edit and stored else set()
    rows = casebook_rows_get(patient_ids=[c.patient.pk for c in stored])
    states: dict[int, dict[str, FormState]] = {}
    for state in FormState.objects.filter(patient_id__in=[c.patient.pk for c in stored]):
        states.setdefault(state.patient_id, {})[state.form] = state
    _enrollments_check(user=user, casebooks=[c for c in casebooks if c.is_new], may_edit=may_edit)
    _references_load([change for casebook_change in casebooks for change in casebook_change.changes])
    for casebook_change in casebooks:
        if casebook_change.is_new and casebook_change.problems:
            continue
        if not casebook_change.is_new and casebook_change.patient.pk not in allowed:
            for change in casebook_change.changes:
                change.problems = {"": [_("You may not change this casebook.")]}
            continue
        patient_id = casebook_change.patient.pk
        casebook_change.rows = {part: list(rows.get(patient_id, {}).get(part, ()))
                                for part in casebook.parts() if not part.is_patient}
        casebook_change.states = dict(states.get(patient_id, {}))
        if casebook_change.is_new:
            casebook_change.states[casebook.patient_part().key] = FormState(
                patient=casebook_change.patient, form=casebook.patient_part().key, changed_by=user)
        casebook_change._stored_states = {form: state.status for form, state in casebook_change.states.items()}
        _casebook_change_check(user=user, casebook_change=casebook_change)


def _references_load(changes: list[RowChange]) -> None:
    """Reads the reference data the rows link to (CTCAE terms) in one query per link, for the
    checks that read it; a link to nothing is left for the row's own check to report."""
    by_field: dict = {}
    for change in changes:
        part = casebook.part_for(change.row)
        for name in part.reference_fields:
            by_field.setdefault(part.model._meta.get_field(name), []).append(change)
    for model_field, field_changes in by_field.items():
        target = model_field.target_field
        keys = set()
        for change in field_changes:
            try:
                keys.add(target.to_python(getattr(change.row, model_field.attname)))
            except ValidationError:
                continue
        keys.discard(None)
        found = {getattr(row, target.attname): row for row in
                 model_field.related_model._base_manager.filter(**{f"{target.name}__in": keys})}
        for change in field_changes:
            try:
                linked = found.get(target.to_python(getattr(change.row, model_field.attname)))
            except ValidationError:
                continue
            if linked is not None:
                setattr(change.row, model_field.name, linked)
                change._links_found = (*change._links_found, model_field.name)


def _enrollments_check(*, user, casebooks: list[CasebookChange], may_edit: bool) -> None:
    if not casebooks:
        return
    centers = {center.pk: center for center in center_list_for_user(user=user)} if may_edit else {}
    taken = set(Patient.objects.filter(center_id__in=list(centers)).values_list("center_id", "sequence"))
    next_sequence = {pk: center.last_sequence for pk, center in centers.items()}
    for casebook_change in casebooks:
        patient = casebook_change.patient
        center = centers.get(patient.center_id)
        if center is None:
            casebook_change.problems = {"": [_("You may not enroll patients in this center.")]}
            continue
        if casebook_change.sequence is None:
            # the center's next number, after those the batch gives already
            center.last_sequence = next_sequence[center.pk]
        try:
            _enrollment_check(patient=patient, center=center, sequence=casebook_change.sequence,
                              taken=(center.pk, casebook_change.sequence) in taken)
        except ValidationError as error:
            casebook_change.problems = error.message_dict if hasattr(error, "error_dict") else {"": error.messages}
            continue
        taken.add((center.pk, patient.sequence))
        next_sequence[center.pk] = max(next_sequence[center.pk], patient.sequence)
        patient.version = 1


def _casebook_change_check(*, user, casebook_change: CasebookChange) -> None:
    pending = list(casebook_change.changes)
    while True:
        refused = [change for change in pending if not _row_change_check(user=user, casebook_change=casebook_change,
                                                                          change=change)]
        if not refused or len(refused) == len(pending):
            return
        pending = refused


def _stored_row(casebook_change: CasebookChange, row: ClinicalRecord) -> ClinicalRecord | None:
    if casebook.part_for(row).is_patient:
        return casebook_change.patient
    return next((stored for stored in casebook_change.rows[casebook.part_for(row)] if stored.pk == row.pk), None)


def _row_change_check(*, user, casebook_change: CasebookChange, change: RowChange) -> bool:
    """Checks one change against the casebook as the accepted ones leave it; when it passes,
    the casebook takes it (rows, form state, signature). Whether it passed."""
    row = change.row
    part = casebook.part_for(row)
    patient = casebook_change.patient
    change.problems, change.notices = {}, []
    dates = casebook_dates_of(patient=patient, rows=casebook_change.rows, excluding=row)
    if change.unreadable:
        change.problems = row_problems(row, patient=patient, invalid=list(change.unreadable), dates=dates,
                                       links_found=change._links_found)
        for name, messages in change.unreadable.items():
            change.problems.setdefault(name, []).extend(messages)
        return False
    stored = _stored_row(casebook_change, row) if row.pk else None
    if row.pk:
        if stored is None:
            change.problems = {"": [_("This row no longer exists.")]}
            return False
        version = casebook_change._versions.setdefault((type(row), row.pk), stored.version)
        row.version = version + 1
    state = casebook_change.states.get(part.key)
    try:
        verified = form_state_change_check(status=state.status if state else None, reason=change.reason)
    except FormLockedError as error:
        change.problems = {"": [str(error)]}
        return False
    except ValidationError as error:
        change.problems = error.message_dict
        return False
    change.problems = row_problems(row, patient=patient, dates=dates, links_found=change._links_found)
    if change.problems:
        return False
    if part.is_patient:
        casebook_change.patient = row
    elif stored is not None:
        rows = casebook_change.rows[part]
        rows[rows.index(stored)] = row
    else:
        casebook_change.rows[part].append(row)
    if state is None:
        casebook_change.states[part.key] = FormState(patient=patient, form=part.key, changed_by=user)
    elif verified:
        _verification_undone(state, user=user, notices=change.notices)
    if casebook_change._signature_reason is None:
        casebook_change._signature_reason = change.reason
    return True


@transaction.atomic
def casebook_changes_write(*, user, casebooks: list[CasebookChange]) -> None:
    """Writes the checked casebooks (`casebook_changes_check`) that have no problem, as
    `crf_row_save` and `patient_enroll` would one row at a time: the same rows, history
    entries (who, the reason, + or ~, the version moved on), form states (created, or a
    verified form back to complete) and voided signatures, in a few queries per form.
    Raises CasebookChangedError when a casebook changed since its check (nothing written)."""
    casebooks = [casebook_change for casebook_change in casebooks if not casebook_change.has_problems]
    if not casebooks:
        return
    _casebooks_lock(casebooks)
    new_patients = [casebook_change.patient for casebook_change in casebooks if casebook_change.is_new]
    for casebook_change in casebooks:
        if casebook_change.is_new:
            _history_set(casebook_change.patient, user=user, reason=casebook_change.reason)
    if new_patients:
        last = {}
        for patient in new_patients:
            last[patient.center_id] = max(last.get(patient.center_id, 0), patient.sequence)
        for center in Center.objects.select_for_update().filter(pk__in=list(last)):
            if center.last_sequence < last[center.pk]:
                Center.objects.filter(pk=center.pk).update(last_sequence=last[center.pk])
        bulk_create_with_history(new_patients, Patient, default_user=user)
    created: dict[type, list] = {}
    updated: dict[type, list] = {}
    for casebook_change in casebooks:
        for change in casebook_change.changes:
            row = change.row
            _history_set(row, user=user, reason=change.reason)
            if row.pk:
                row.updated_at = timezone.now()
                updated.setdefault(type(row), []).append(row)
            else:  # a new patient's rows take its new pk from the patient they point at
                created.setdefault(type(row), []).append(row)
    for model, rows in created.items():
        instances_number(rows)
        bulk_create_with_history(rows, model, default_user=user)
    for model, rows in updated.items():
        names = [f.name for f in model._meta.concrete_fields if not f.primary_key and f.name != "created_at"]
        bulk_update_with_history(rows, model, names, default_user=user)
    _form_states_write(user=user, casebooks=casebooks)
    _signatures_void(user=user, casebooks=casebooks)


def _history_set(row, *, user, reason: str) -> None:
    row._history_user = user
    row._change_reason = reason_text(reason) or None


def _casebooks_lock(casebooks: list[CasebookChange]) -> None:
    """Locks the stored patients, rows and form states the batch writes, and refuses the batch
    when any of them is not as it was checked."""
    stored = [casebook_change for casebook_change in casebooks if not casebook_change.is_new]
    if not stored:
        return
    ids = [casebook_change.patient.pk for casebook_change in stored]
    list(Patient.objects.select_for_update().filter(pk__in=ids).values_list("pk"))
    expected: dict[type, dict[int, int]] = {}
    for casebook_change in stored:
        for (model, pk), version in casebook_change._versions.items():
            expected.setdefault(model, {})[pk] = version
    for model, versions in expected.items():
        current = dict(model.objects.select_for_update().filter(pk__in=list(versions), is_deleted=False)
                       .values_list("pk", "version"))
        if current != versions:
            raise CasebookChangedError(f"{model._meta.verbose_name}: changed since the check.")
    current_states = {(patient_id, form): status for patient_id, form, status in
                      FormState.objects.select_for_update().filter(patient_id__in=ids)
                      .values_list("patient_id", "form", "status")}
    checked = {(c.patient.pk, form): status for c in stored for form, status in c._stored_states.items()}
    if current_states != checked:
        raise CasebookChangedError("A form's state changed since the check.")


def _form_states_write(*, user, casebooks: list[CasebookChange]) -> None:
    new, undone = [], []
    for casebook_change in casebooks:
        for form, state in casebook_change.states.items():
            if state.pk is None:
                new.append(state)
            elif casebook_change._stored_states.get(form) != state.status:
                undone.append(state)
    if new:
        bulk_create_with_history(new, FormState, default_user=user)
    if undone:
        for state in undone:
            state.changed_at = timezone.now()
        bulk_update_with_history(undone, FormState, ["status", "changed_by", "changed_at"], default_user=user)


def _signatures_void(*, user, casebooks: list[CasebookChange]) -> None:
    reasons = {c.patient.pk: c._signature_reason for c in casebooks
               if not c.is_new and c._signature_reason is not None}
    signatures = list(CasebookSignature.objects.select_for_update().filter(patient_id__in=list(reasons),
                                                                           is_void=False))
    by_patient = {casebook_change.patient.pk: casebook_change for casebook_change in casebooks}
    for signature in signatures:
        signature.is_void = True
        signature.voided_at = timezone.now()
        signature.void_reason = _signature_void_reason(reasons[signature.patient_id])
        signature._history_user = user
        signature._change_reason = signature.void_reason
        changes = by_patient[signature.patient_id].changes
        if changes:
            changes[0].notices.append(_signature_void_notice())
    if signatures:
        bulk_update_with_history(signatures, CasebookSignature, ["is_void", "voided_at", "void_reason"],
                                 default_user=user)
