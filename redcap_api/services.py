"""Writes of the REDCap-compatible API: record imports, and the log of record exports.

An import goes through the services of the browser's forms (`patients.services.crf_row_save`):
the same access rules, locking, edit checks and audit trail, with the reason for change
"REDCap API import". It is all or nothing, as in REDCap: one problem anywhere and nothing is
saved; every problem is reported at once.

Import rules (REDCap's "normal" overwrite behaviour): a blank value leaves the stored value
as it is; a missing data code (UNK, ND, NA) in a field that takes one is saved as the
field's code (`row.missing_codes`) with no value; `<instrument>_complete` values are read
and ignored (a form's status changes through the casebook's workflow: marked complete by
the site, verified and locked by a monitor), and so are derived (calculated) fields. A
record's data access group is its center: a `redcap_data_access_group` other than the
record's is refused (a record does not move between centers). A record must exist: the registry gives study
IDs at enrollment, so an unknown record ID is refused.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from analytics.models import ExportLog, ExportStatus
from patients.clinical import MissingCode, is_empty
from patients.selectors import patient_list_for_user
from patients.services import RowChange, StaleVersionError, crf_row_save, row_problems
from redcap_api.project import (
    DATA_ACCESS_GROUP,
    PSEUDO_FIELDS,
    RECORD_ID_FIELD,
    REPEAT_INSTANCE,
    REPEAT_INSTRUMENT,
    Field,
    Instrument,
    complete_fields,
    data_access_group_name,
    field_by_name,
    instrument_by_name,
)
from redcap_api.selectors import instance_numbers
from sites.roles import can_edit_clinical_data

IMPORT_REASON = "REDCap API import"
DATE_FORMATS = {"YMD": "%Y-%m-%d", "MDY": "%m/%d/%Y", "DMY": "%d/%m/%Y"}
TRUE_VALUES = {"1", "yes", "true", "y"}
FALSE_VALUES = {"0", "no", "false", "n"}
MISSING_CODES = frozenset(MissingCode.values)


class RedcapError(Exception):
    """An answer of REDCap's: `{"error": message}` with its HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def _converted(field: Field, raw: str, date_format: str):
    """The Python value of a raw REDCap value; ValidationError when it is not one."""
    model_field = field.model_field
    if field.field_type == "yesno":
        text = raw.strip().lower()
        if text in TRUE_VALUES:
            return True
        if text in FALSE_VALUES:
            return False
        raise ValidationError("Yes/no fields take 1 (yes) or 0 (no).")
    if field.validation == "date_ymd":
        try:
            return dt.datetime.strptime(raw.strip(), DATE_FORMATS[date_format]).date()  # noqa: DTZ007 (a date)
        except ValueError:
            raise ValidationError(f"{raw!r} is not a date in the {date_format} format.") from None
    if model_field.is_relation:
        return raw.strip()
    return model_field.to_python(raw.strip())


def row_values_apply(row, fields: dict[Field, str], *, date_format: str) -> dict[str, list[str]]:
    """Sets the row's values and codes from the import; returns the fields it could not read."""
    problems: dict[str, list[str]] = {}
    codes = dict(row.missing_codes or {})
    for field, raw in fields.items():
        model_field = field.model_field
        if raw.strip() in MISSING_CODES and field.accepts_code:
            codes[model_field.name] = raw.strip()
            setattr(row, model_field.attname, "" if not model_field.null and model_field.empty_strings_allowed else None)
            continue
        try:
            value = _converted(field, raw, date_format)
        except ValidationError as error:
            problems[field.name] = error.messages
            continue
        codes.pop(model_field.name, None)
        setattr(row, model_field.attname, value)
    row.missing_codes = codes
    return problems


def _row_for(patient, instrument, instance: str, numbers: dict[int, int], stored: list | None = None):
    """The row an import row names: the patient, its single row, or an instance (existing,
    or the next one: `new` or the number after the last). `stored`: the part's live rows of
    the patient, when the caller has them (else they are read)."""
    part = instrument.part
    if part.is_patient:
        return patient
    if not instrument.repeating:
        if stored is not None:
            return next(iter(stored), None) or part.model(patient=patient)
        return part.model.objects.filter(patient=patient).first() or part.model(patient=patient)
    last = max(numbers.values(), default=0)
    if instance.strip().lower() == "new":
        return part.model(patient=patient)
    try:
        number = int(instance)
    except ValueError:
        raise RedcapError(f"{patient.study_id}: {REPEAT_INSTANCE} must be a number or 'new', not {instance!r}.") \
            from None
    if number == last + 1:
        return part.model(patient=patient)
    pk = next((pk for pk, n in numbers.items() if n == number), None)
    if stored is not None:
        row = next((row for row in stored if row.pk == pk), None) if pk else None
    else:
        row = part.model.objects.filter(pk=pk, is_deleted=False).first() if pk else None
    if row is None:
        raise RedcapError(f"{patient.study_id}: {instrument.name} has no instance {number} (the next new "
                          f"instance is {last + 1}, or give 'new').")
    return row


def _is_column(key: str) -> bool:
    """A column an import may hold: the record ID, REDCap's pseudo-fields, a field, a form status."""
    return key == RECORD_ID_FIELD or key in PSEUDO_FIELDS or field_by_name(key) is not None or key in complete_fields()


@dataclass(frozen=True)
class ImportProblem:
    """One problem of an import: the record, the field (its REDCap name), the value given, the
    message, and where (the instrument and instance)."""

    record: str
    field: str
    value: str
    message: str
    place: str = ""

    def line(self) -> str:
        """REDCap's line of an import error: "record","field","value","message"."""
        where = f" ({self.place})" if self.place else ""
        return f'"{self.record}","{self.field}","{self.value}","{self.message}{where}"'


def field_problems(record: str, place: str, problems: dict[str, list[str]],
                   group: dict[Field, str]) -> list[ImportProblem]:
    """The problems of a row, per field (by model field name or REDCap name), as import problems."""
    by_model_name = {field.model_field.name: field for field in group if field.model_field is not None}
    by_name = {field.name: field for field in group}
    lines = []
    for name, messages in problems.items():
        field = by_model_name.get(name) or by_name.get(name)
        value = group.get(field, "") if field is not None else ""
        for message in messages:
            lines.append(ImportProblem(record, field.name if field else name, value, message, place))
    return lines


def row_targets(record: str, row_data: dict) -> tuple[list[tuple[Instrument, dict[Field, str], str]],
                                                        list[ImportProblem]]:
    """What one import row writes: [(instrument, {field: raw value}, instance)], and its
    problems. A row of a repeating instrument holds that instrument's fields only; the other
    rows hold fields of single instruments. Blank values write nothing."""
    by_instrument: dict[str, dict[Field, str]] = {}
    for key, raw in row_data.items():
        field = field_by_name(key)
        if field is None or field.is_record_id or field.is_derived or not str(raw or "").strip():
            continue
        by_instrument.setdefault(field.instrument.name, {})[field] = str(raw)
    repeat = str(row_data.get(REPEAT_INSTRUMENT, "") or "").strip()
    if repeat:
        instrument = instrument_by_name(repeat)
        if instrument is None or not instrument.repeating:
            return [], [ImportProblem(record, REPEAT_INSTRUMENT, repeat, "Not a repeating instrument.")]
        others = sorted(field.name for name, fields in by_instrument.items() if name != repeat for field in fields)
        if others:
            return [], [ImportProblem(record, others[0], "", f"Fields of other instruments on a row of {repeat}: "
                                                             f"{', '.join(others)}.")]
        return [(instrument, by_instrument.get(repeat, {}), str(row_data.get(REPEAT_INSTANCE, "") or ""))], []
    targets, problems = [], []
    for name, fields in by_instrument.items():
        instrument = instrument_by_name(name)
        if instrument.repeating:
            problems.append(ImportProblem(record, next(iter(fields)).name, "",
                                          f"A field of the repeating instrument {name}: give {REPEAT_INSTRUMENT} "
                                          f"and {REPEAT_INSTANCE}."))
        else:
            targets.append((instrument, fields, ""))
    return targets, problems


def _stored(row, fields: dict[Field, str]) -> tuple:
    return tuple(getattr(row, field.model_field.attname) for field in fields), dict(row.missing_codes or {})


def _same_value(old, new) -> bool:
    if old == new:
        return True
    if is_empty(old) and is_empty(new):
        return True
    return old is not None and new is not None and str(old) == str(new)


def _unchanged(before: tuple, row, fields: dict[Field, str]) -> bool:
    values, codes = before
    after_values, after_codes = _stored(row, fields)
    return codes == after_codes and all(_same_value(old, new) for old, new in zip(values, after_values, strict=True))


def target_save(*, user, patient, instrument: Instrument, fields: dict[Field, str], instance: str,
                date_format: str = "YMD", reason: str = IMPORT_REASON,
                skip_unchanged: bool = False) -> list[ImportProblem]:
    """Writes one instrument row of a record through the casebook's write service; returns
    its problems. With `skip_unchanged`, an existing row whose values are those given is not
    saved again (no new history entry)."""
    record = patient.study_id
    try:
        row = _row_for(patient, instrument, instance,
                       instance_numbers(instrument, [patient.pk]) if instrument.repeating else {})
    except RedcapError as error:
        return [ImportProblem(record, REPEAT_INSTANCE, instance, error.message)]
    place = f"{instrument.name} {instance}".strip()
    before = _stored(row, fields) if row.pk else None
    unreadable = row_values_apply(row, fields, date_format=date_format)
    if unreadable:
        # every problem of the row at once: the fields that could not be read, and the others' checks
        invalid = {field_by_name(name).model_field.name: messages for name, messages in unreadable.items()}
        problems = row_problems(row, patient=patient, invalid=list(invalid))
        for name, messages in invalid.items():
            problems.setdefault(name, []).extend(messages)
        return field_problems(record, place, problems, fields)
    if skip_unchanged and before is not None and _unchanged(before, row, fields):
        return []
    try:
        crf_row_save(user=user, row=row, reason=reason)
    except ValidationError as error:
        return field_problems(record, place, error.message_dict if hasattr(error, "error_dict")
                              else {"": error.messages}, fields)
    except (PermissionDenied, StaleVersionError) as error:
        return [ImportProblem(record, "", "", str(error), place)]
    return []


def target_change(*, patient, instrument: Instrument, fields: dict[Field, str], instance: str,
                  numbers: dict[int, int], stored: list, date_format: str = "YMD",
                  reason: str = IMPORT_REASON) -> tuple[RowChange | None, list[ImportProblem]]:
    """`target_save` for the casebook write service in bulk: the change one instrument row
    makes (None when the row names a stored row and gives its values as they are), or the
    problem of where it goes. `numbers`: the instance numbers of the patient's rows of the
    instrument, which takes the number of a new row; `stored`: the part's live rows of the
    patient (or the patient, for the enrollment). Stored rows are copied, not changed."""
    try:
        row = _row_for(patient, instrument, instance, numbers, stored)
    except RedcapError as error:
        return None, [ImportProblem(patient.study_id, REPEAT_INSTANCE, instance, error.message)]
    if row.pk:
        row = copy.copy(row)
        row._state = copy.copy(row._state)
        row._state.fields_cache = dict(row._state.fields_cache)
        before = _stored(row, fields)
    else:
        before = None
        if instrument.repeating:
            numbers[-len(numbers) - 1] = max(numbers.values(), default=0) + 1  # a key no stored row has
    unreadable = row_values_apply(row, fields, date_format=date_format)
    if not unreadable and before is not None and _unchanged(before, row, fields):
        return None, []
    invalid = {field_by_name(name).model_field.name: messages for name, messages in unreadable.items()}
    return RowChange(row=row, reason=reason, unreadable=invalid), []


def change_problems(record: str, instrument: Instrument, instance: str, change: RowChange,
                    fields: dict[Field, str]) -> list[ImportProblem]:
    """The problems the casebook write service found in a change, as `target_save` gives them."""
    return field_problems(record, f"{instrument.name} {instance}".strip(), change.problems, fields)


@transaction.atomic
def records_import(*, user, rows: list[dict], date_format: str = "YMD") -> list[str]:
    """Imports REDCap flat rows (see module docstring); returns the record IDs imported.
    Raises RedcapError (403 for a user who may not enter data, 400 for any problem, with
    every problem of the import)."""
    if not can_edit_clinical_data(user):
        raise RedcapError("You do not have API Import/Update privileges", status=403)
    if date_format not in DATE_FORMATS:
        raise RedcapError('The value of the parameter "dateFormat" is not valid')
    unknown = sorted({key for row in rows for key in row if not _is_column(key)})
    if unknown:
        raise RedcapError("The following fields were not found in the project as real data fields: "
                          + ", ".join(unknown))
    patients = patient_list_for_user(user=user)
    problems: list[str] = []
    imported: list[str] = []
    for row_data in rows:
        record = str(row_data.get(RECORD_ID_FIELD, "")).strip()
        patient = patients.filter(study_id=record).first() if record else None
        if patient is None:
            problems.append(f'"{record}","{RECORD_ID_FIELD}","","This record is not in the registry, or not '
                            f'in your centers: the registry gives study IDs at enrollment."')
            continue
        dag = str(row_data.get(DATA_ACCESS_GROUP, "") or "").strip()
        if dag and dag != data_access_group_name(patient.center):
            problems.append(f'"{record}","{DATA_ACCESS_GROUP}","{dag}","The record belongs to the data access '
                            f'group {data_access_group_name(patient.center)}."')
            continue
        targets, unplaced = row_targets(record, row_data)
        problems += [problem.line() for problem in unplaced]
        for instrument, fields, instance in targets:
            problems += [problem.line() for problem in target_save(
                user=user, patient=patient, instrument=instrument, fields=fields, instance=instance,
                date_format=date_format)]
        if record not in imported:
            imported.append(record)
    if problems:
        raise RedcapError("\n".join(problems))
    return imported


def record_export_log(*, user, parameters: dict, counts: dict[str, int], size: int, sha256: str, deidentified: bool,
                      labels: bool, status: str = ExportStatus.COMPLETED) -> ExportLog:
    """Records a record export in the export log, as the dataset exports are recorded: every
    record export, whoever makes it, with the rows per instrument, the size and SHA-256 of
    what was sent (the export is streamed: its caller hashes the bytes as they go), whether it
    was de-identified (dates "shifted") or not ("actual"), and whether it was sent whole."""
    now = timezone.now()
    return ExportLog.objects.create(
        user=user, file_format="redcap", dates="shifted" if deidentified else "actual",
        values="labels" if labels else "codes", parameters={"api": "redcap", **parameters},
        status=status, rows=counts, size_bytes=size, sha256=sha256, finished_at=now, filename="redcap-api-records",
    )
