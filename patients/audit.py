"""The audit trail: every recorded change of the casebooks, one definition for every reader.

The casebook's audit page, the audit CSV of the monitors (and any API) list the entries of
`audit_entries`: the same rows (form rows of every registered form, form states, queries,
signatures), the same fields and the same masking of direct identifiers. An entry holds the
raw old and new values; each reader only chooses how to print them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from patients.clinical import FREE_TEXT_MASK, MissingCode, mask_for
from patients.display import show_value
from patients.models import CasebookSignature, DataQuery, FormState, Patient
from patients.registry import casebook
from sites.roles import can_export_audit_trail, can_see_identifiers
from sites.selectors import center_ids_for_user

# Columns that say which row a history record is, or that the database sets: not changes.
AUDIT_SKIPPED_FIELDS = frozenset({
    "id", "version", "created_at", "updated_at", "changed_at", "is_deleted",
    "patient", "study_id", "sequence", "center", "form", "changed_by",
    "missing_codes",  # shown as the answer of each coded question instead
})
ACTIONS = {
    "created": gettext_lazy("Created"),
    "changed": gettext_lazy("Changed"),
    "deleted": gettext_lazy("Deleted"),
    "restored": gettext_lazy("Restored"),
}


@dataclass(frozen=True)
class Change:
    field_name: str
    question: str
    old: str  # the value as the reader may see it: masked for an identifier, "" for none
    new: str
    old_shown: str  # the same, as a page shows it (labels, local dates)
    new_shown: str


@dataclass(frozen=True)
class AuditEntry:
    when: dt.datetime
    patient_id: int
    form: str  # the form's key ("" for the casebook as a whole)
    form_label: str
    record: str  # the model's name
    record_id: int
    row: str  # the row as a person names it
    action: str  # a key of ACTIONS
    who: str
    reason: str
    changes: tuple[Change, ...]

    @property
    def action_label(self) -> str:
        return str(ACTIONS[self.action])


@dataclass(frozen=True)
class _Source:
    model: type[models.Model]
    patient_field: str  # the patient's id on the history rows
    form: str | None  # None: each history row names its form
    row_label: object  # function of a history row


def _sources() -> list[_Source]:
    sources = [
        _Source(part.model, part.patient_field, part.key, part.row_label if part.repeating else (lambda r, p=part: str(p.title)))
        for part in casebook.parts()
    ]
    sources += [
        _Source(FormState, "patient_id", None, lambda record: _("Form status")),
        _Source(DataQuery, "patient_id", None, lambda record: _("Query %(pk)s") % {"pk": record.id}),
        _Source(CasebookSignature, "patient_id", "", lambda record: _("Signature")),
    ]
    return sources


def _audited_fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if f.name not in AUDIT_SKIPPED_FIELDS]


class _Coded(str):
    """A question's answer that is a missing-data code, not a value."""


def _answer(record, model_field: models.Field):
    """What a history row records as the answer to a question: its value, or its code."""
    code = (getattr(record, "missing_codes", None) or {}).get(model_field.name)
    return _Coded(code) if code else getattr(record, model_field.attname)


def _raw(model_field: models.Field, value, identifiers_shown: bool) -> str:
    if mask := mask_for(model_field, identifiers_shown=identifiers_shown):
        return mask
    return "" if value is None else str(value)


def _shown(model_field: models.Field, value, identifiers_shown: bool) -> str:
    if mask := mask_for(model_field, identifiers_shown=identifiers_shown):
        return mask
    if isinstance(value, _Coded):
        return str(MissingCode(value).label) if value in MissingCode.values else str(value)
    if model_field.is_relation:
        return "—" if value is None else str(value)
    return show_value(model_field, value)


def _change(model_field: models.Field, old, new, identifiers_shown: bool) -> Change:
    return Change(
        model_field.name, str(model_field.verbose_name),
        _raw(model_field, old, identifiers_shown), _raw(model_field, new, identifiers_shown),
        "—" if old in (None, "") else _shown(model_field, old, identifiers_shown),
        _shown(model_field, new, identifiers_shown),
    )


def _entry(source: _Source, fields, record, previous, identifiers_shown: bool, reasons_shown: bool) -> AuditEntry:
    if previous is None:
        action = "created"
        changes = [
            _change(f, None, _answer(record, f), identifiers_shown)
            for f in fields if _answer(record, f) not in (None, "")
        ]
    else:
        action = "changed"
        if getattr(record, "is_deleted", False) != getattr(previous, "is_deleted", False):
            action = "deleted" if record.is_deleted else "restored"
        changes = [
            _change(f, _answer(previous, f), _answer(record, f), identifiers_shown)
            for f in fields if _answer(previous, f) != _answer(record, f) or type(_answer(previous, f)) is not type(_answer(record, f))
        ]
    if record.history_type == "-":
        action = "deleted"
    form = source.form if source.form is not None else record.form
    return AuditEntry(
        when=record.history_date,
        patient_id=getattr(record, source.patient_field),
        form=form,
        form_label=casebook.label(form) if form else _("Casebook"),
        record=str(source.model._meta.verbose_name),
        record_id=record.id,
        row=str(source.row_label(record)),
        action=action,
        who=record.history_user.get_username() if record.history_user else "",
        reason=(record.history_change_reason or "") if reasons_shown or not record.history_change_reason
        else FREE_TEXT_MASK,
        changes=tuple(changes),
    )


def audit_entries(
    *,
    patients: QuerySet[Patient],
    identifiers_shown: bool,
    reasons_shown: bool | None = None,
    form: str = "",
    username: str = "",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> Iterator[AuditEntry]:
    """Every recorded change of the casebooks of `patients`, oldest first per record, with
    the old and new value of each field that changed. A direct identifier or free text shows
    only that it changed unless `identifiers_shown` (`patients.clinical.mask_for`); the reasons
    for change, free text too, are shown when `reasons_shown` (by default as identifiers are).
    A generator: one database cursor per audited model."""
    if reasons_shown is None:
        reasons_shown = identifiers_shown
    for source in _sources():
        if form and source.form is not None and source.form != form:
            continue
        history = source.model.history.model.objects.filter(**{f"{source.patient_field}__in": patients.values("pk")})
        if source.form is None and form:
            history = history.filter(form=form)
        if end:
            history = history.filter(history_date__lt=end)  # earlier rows are needed for the differences
        fields = _audited_fields(source.model)
        previous = None
        for record in history.select_related("history_user").order_by("id", "history_date", "history_id").iterator(2000):
            if previous is not None and previous.id != record.id:
                previous = None
            if (start is None or record.history_date >= start) and (
                not username or (record.history_user and record.history_user.get_username() == username)
            ):
                yield _entry(source, fields, record, previous, identifiers_shown, reasons_shown)
            previous = record


def casebook_audit_trail(*, patient: Patient, user, form: str = "") -> list[AuditEntry]:
    """The audit trail of one casebook (the caller has checked the user may see it), newest
    first. Direct identifiers are shown to the users who may see them."""
    entries = audit_entries(patients=Patient.objects.filter(pk=patient.pk), identifiers_shown=can_see_identifiers(user),
                            form=form)
    return sorted(entries, key=lambda entry: entry.when, reverse=True)


AUDIT_COLUMNS = [
    gettext_lazy("changed at"),
    gettext_lazy("center"),
    gettext_lazy("study ID"),
    gettext_lazy("form"),
    gettext_lazy("record"),
    gettext_lazy("record ID"),
    gettext_lazy("action"),
    gettext_lazy("user"),
    gettext_lazy("reason"),
    gettext_lazy("changes"),
]


def _local_day_start(day: dt.date) -> dt.datetime | None:
    """The first instant of a local day; None (no bound) for a day at the ends of the
    calendar, where no instant of it can be written in UTC."""
    try:
        start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        start.astimezone(dt.UTC)
    except OverflowError:
        return None
    return start


def _local_day_end(day: dt.date) -> dt.datetime | None:
    """The first instant after a local day; None (no bound) for the last day of the calendar."""
    return None if day >= dt.date.max else _local_day_start(day + dt.timedelta(days=1))


def audit_trail_rows(
    *,
    user,
    center: str = "",
    username: str = "",
    form: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> Iterator[list[str]]:
    """The audit trail of the casebooks the user may see, as CSV rows (a header first). A file
    leaves the system: direct identifiers and free-text values are always masked, as in the
    exports; the reasons for change, which the file is for, stay for who may see them."""
    if not can_export_audit_trail(user):
        raise PermissionDenied(_("Only monitors export the audit trail."))
    patients = Patient.objects.filter(center__in=center_ids_for_user(user=user))
    if center:
        patients = patients.filter(center__code=center)
    labels = {pk: (study_id, code) for pk, study_id, code in patients.values_list("pk", "study_id", "center__code")}
    yield [str(column) for column in AUDIT_COLUMNS]
    entries = audit_entries(
        patients=patients, identifiers_shown=False, reasons_shown=can_see_identifiers(user), form=form,
        username=username,
        start=_local_day_start(date_from) if date_from else None,
        end=_local_day_end(date_to) if date_to else None,
    )
    for entry in entries:
        study_id, center_code = labels.get(entry.patient_id, ("", ""))
        yield [
            timezone.localtime(entry.when).isoformat(timespec="seconds"),
            center_code,
            study_id,
            entry.form_label,
            entry.record,
            str(entry.record_id),
            entry.action,
            entry.who,
            entry.reason,
            "; ".join(
                f"{change.field_name}: {change.new}" if entry.action == "created"
                else f"{change.field_name}: {change.old} → {change.new}"
                for change in entry.changes
            ),
        ]
