"""Import of a center's spreadsheet: the REDCap flat format (a REDCap CSV export, or the XLSX
template of `redcap_api.template`: one sheet per instrument), read as the REDCap API reads
rows (`redcap_api.services`: field names, value parsing, problems as record/field/value/
message) and written through the casebook's write service in bulk
(`patients.services.casebook_changes_check` and `casebook_changes_write`: the rules, edit
checks and audit trail of `crf_row_save`, for a batch of casebooks at once).

Rules, beyond the REDCap API's:
- Casebooks are read and checked in memory a batch at a time; a dry run stops there, so it
  reports every problem the real import would meet and writes nothing. The import then
  writes the batch's casebooks without problems together. Each casebook (all the rows of one
  study ID) is written all or nothing: one with a problem is not written at all, and when
  the database refuses a batch (a casebook changed meanwhile), its casebooks are checked and
  written again one by one, each in its own savepoint.
- A row whose values equal the stored ones is not saved again: importing the same file
  twice changes nothing the second time (no new history entry).
- A study ID the registry does not have enrolls a new patient from the enrollment fields of
  the record, keeping that study ID when it is `<center code>-<number>` of one of the user's
  centers and the number is free (the center's numbering moves past it). A study ID of a
  center the user does not work for is refused as "not one of your centers", whether or not
  it exists.
- `<instrument>_complete` = 2 marks the instrument's form complete (the site's "data
  entered"); 0 and 1 change nothing: verification and locking stay the monitors'.
- The reason for change of every row is "Imported from <file name> (row N)".
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import Patient
from patients.selectors import casebook_rows_get, patient_list_for_user
from patients.services import (
    CasebookChange,
    CasebookChangedError,
    RowChange,
    casebook_changes_check,
    casebook_changes_write,
)
from patients.workflow import forms_complete_check, forms_complete_write
from redcap_api.models import ImportRun, ImportStatus
from redcap_api.project import (
    DATA_ACCESS_GROUP,
    PSEUDO_FIELDS,
    RECORD_ID_FIELD,
    REPEAT_INSTRUMENT,
    Field,
    Instrument,
    complete_fields,
    data_access_group_name,
    field_by_name,
    instrument_by_name,
    instruments,
)
from redcap_api.selectors import instance_numbers
from redcap_api.services import ImportProblem, change_problems, row_targets, row_values_apply, target_change
from sites.roles import can_edit_clinical_data
from sites.selectors import center_list_for_user

logger = logging.getLogger(__name__)

DICTIONARY_SHEET = "data_dictionary"
LISTS_SHEET = "lists"
COMPLETE_CODE = "2"
STUDY_ID_PATTERN = re.compile(r"^(?P<code>[A-Za-z0-9]+)-(?P<number>\d+)$")


@dataclass(frozen=True)
class SheetRow:
    """A data row of the file: its sheet ("" for a CSV), its row number as a spreadsheet shows
    it (the header is row 1), and its values by column."""

    sheet: str
    number: int
    values: dict


@dataclass(frozen=True)
class SiteProblem:
    """A problem of the import, where a coordinator finds it in the file."""

    sheet: str
    row: int
    record: str
    field: str
    value: str
    message: str

    @classmethod
    def of(cls, row: SheetRow, problem: ImportProblem) -> SiteProblem:
        message = f"{problem.message} ({problem.place})" if problem.place else problem.message
        return cls(row.sheet, row.number, problem.record, problem.field, problem.value, message)

    def line(self) -> str:
        where = f"{self.sheet} row {self.row}" if self.sheet else f"row {self.row}"
        return f"{where}, {self.record or '-'}, {self.field or '-'}: {self.message}"


@dataclass
class ImportOutcome:
    casebooks: int = 0
    casebooks_written: int = 0
    patients_enrolled: int = 0
    problems: list[SiteProblem] = field(default_factory=list)

    def problem_dicts(self) -> list[dict]:
        return [asdict(problem) for problem in self.problems]


class FileError(ValueError):
    """The file cannot be read as an import (not a CSV or XLSX, unknown columns)."""


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _xlsx_rows(content: bytes) -> list[SheetRow]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises several kinds for a file that is not a workbook
        raise FileError(_("The file is not an XLSX workbook: %(error)s") % {"error": error}) from None
    rows = []
    for sheet in book.worksheets:
        if sheet.title in (DICTIONARY_SHEET, LISTS_SHEET):
            continue
        instrument = instrument_by_name(sheet.title)
        if instrument is None:
            raise FileError(_("The sheet %(sheet)s is not an instrument of the registry.") % {"sheet": sheet.title})
        lines = sheet.iter_rows(values_only=True)
        header = [_cell_text(cell) for cell in next(lines, ())]
        for number, cells in enumerate(lines, start=2):
            values = {name: _cell_text(cell) for name, cell in zip(header, cells, strict=False) if name}
            if not any(values.values()):
                continue
            if instrument.repeating:
                values[REPEAT_INSTRUMENT] = instrument.name
            rows.append(SheetRow(sheet.title, number, values))
    book.close()
    return rows


def _csv_rows(content: bytes) -> list[SheetRow]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileError(_("The CSV file is not in UTF-8.")) from None
    reader = csv.DictReader(io.StringIO(text))
    return [SheetRow("", number, {key: (value or "").strip() for key, value in row.items() if key})
            for number, row in enumerate(reader, start=2) if any((value or "").strip() for value in row.values())]


def file_rows(*, file_name: str, content: bytes) -> list[SheetRow]:
    """The data rows of an import file (CSV or XLSX, by its name); FileError when it cannot be
    read or names columns the registry does not have."""
    if file_name.lower().endswith(".xlsx"):
        rows = _xlsx_rows(content)
    elif file_name.lower().endswith(".csv"):
        rows = _csv_rows(content)
    else:
        raise FileError(_("Import a CSV (REDCap flat export) or an XLSX file (the import template)."))
    known = {RECORD_ID_FIELD, *PSEUDO_FIELDS, *complete_fields()}
    unknown = sorted({key for row in rows for key in row.values if key not in known and field_by_name(key) is None})
    if unknown:
        raise FileError(_("Columns that are not fields of the registry: %(names)s") % {"names": ", ".join(unknown)})
    return rows


def _records(rows: Iterable[SheetRow]) -> dict[str, list[SheetRow]]:
    """The rows of each record, in file order, the rows of single instruments first (the
    enrollment before the rest)."""
    records: dict[str, list[SheetRow]] = {}
    for row in rows:
        records.setdefault(str(row.values.get(RECORD_ID_FIELD, "")).strip(), []).append(row)
    return {record: sorted(lines, key=lambda line: bool(line.values.get(REPEAT_INSTRUMENT)))
            for record, lines in records.items()}


# Casebooks are read, checked and written in batches of this many: a few queries per form
# and batch instead of a dozen per row.
BATCH_CASEBOOKS = 250


def _reason(file_name: str, row: SheetRow) -> str:
    where = f"{row.sheet} row {row.number}" if row.sheet else f"row {row.number}"
    return f"Imported from {file_name} ({where})"


def _not_yours(record: str) -> ImportProblem:
    return ImportProblem(record, RECORD_ID_FIELD, record, _("This study ID is not one of your centers."))


@dataclass(eq=False)
class _Casebook:
    """One record of the file on its way to the casebook write service."""

    record: str
    lines: list[SheetRow]
    change: CasebookChange | None = None
    problems: list[SiteProblem] = field(default_factory=list)
    enrollment: tuple[SheetRow, dict[Field, str]] | None = None
    # each change with where it comes from: (file row, instrument, fields, instance, change)
    writes: list[tuple[SheetRow, Instrument, dict[Field, str], str, RowChange]] = field(default_factory=list)
    completes: dict[str, tuple[SheetRow, str]] = field(default_factory=dict)  # form: (file row, column)
    enrolls: bool = False  # a new patient


def _enrollment_change(*, casebook: _Casebook, centers: dict, file_name: str) -> CasebookChange | None:
    """The enrollment of the new patient a record names, from its enrollment fields (or its
    problems, in `casebook.problems`)."""
    record, rows = casebook.record, casebook.lines
    first = rows[0]
    match = STUDY_ID_PATTERN.match(record)
    if match is None:
        casebook.problems.append(SiteProblem.of(first, ImportProblem(record, RECORD_ID_FIELD, record, _(
            "A new patient's study ID is the center code and a number (e.g. %(example)s).")
            % {"example": f"{next(iter(centers), 'XX01')}-001"})))
        return None
    center = centers.get(match["code"].upper())
    if center is None:
        casebook.problems.append(SiteProblem.of(first, _not_yours(record)))
        return None
    enrollment = next((row for row in rows if not row.values.get(REPEAT_INSTRUMENT)
                       and any(field_by_name(key) is not None and field_by_name(key).instrument.part.is_patient
                               and value for key, value in row.values.items() if key != RECORD_ID_FIELD)), None)
    if enrollment is None:
        casebook.problems.append(SiteProblem.of(first, ImportProblem(record, RECORD_ID_FIELD, record, _(
            "A new patient: give the enrollment fields of the record."))))
        return None
    targets, _unplaced = row_targets(record, enrollment.values)
    fields = next((fields for instrument, fields, _instance in targets if instrument.part.is_patient), {})
    patient = Patient(center=center)
    unreadable = row_values_apply(patient, fields, date_format="YMD")
    if unreadable:
        problems = [ImportProblem(record, name, fields.get(field_by_name(name), ""), message, "enrollment")
                    for name, messages in unreadable.items() for message in messages]
        casebook.problems += [SiteProblem.of(enrollment, problem) for problem in problems]
        return None
    casebook.enrollment = (enrollment, fields)
    return CasebookChange(patient=patient, sequence=int(match["number"]), reason=_reason(file_name, enrollment))


def _enrollment_problems(casebook: _Casebook) -> list[SiteProblem]:
    """The problems the write service found in a new patient's enrollment, where they are in the file."""
    enrollment, fields = casebook.enrollment
    record = casebook.record
    by_name = {field.model_field.name: field for field in fields}
    problems = [SiteProblem(enrollment.sheet, enrollment.number, record,
                            by_name[name].name if name in by_name else name,
                            fields.get(by_name[name], "") if name in by_name else "", message)
                for name, texts in casebook.change.problems.items() for message in texts]
    if not problems and casebook.change.patient.study_id != record:
        problems.append(SiteProblem.of(enrollment, ImportProblem(record, RECORD_ID_FIELD, record, _(
            "A new patient's study ID is the center code and a three-digit number (e.g. %(example)s).")
            % {"example": casebook.change.patient.study_id})))
    return problems


def _changes_build(*, casebook: _Casebook, patient: Patient, stored: dict, numbers: dict, file_name: str) -> None:
    """The row changes of a casebook's file rows, in casebook order, with the forms the file
    marks complete; the rows' own problems in `casebook.problems`."""
    record = casebook.record
    order = {instrument.name: index for index, instrument in enumerate(instruments())}
    writes = []
    for row in casebook.lines:
        dag = str(row.values.get(DATA_ACCESS_GROUP, "") or "").strip()
        if dag and dag != data_access_group_name(patient.center):
            casebook.problems.append(SiteProblem(row.sheet, row.number, record, DATA_ACCESS_GROUP, dag, _(
                "The record belongs to the data access group %(group)s.")
                % {"group": data_access_group_name(patient.center)}))
            continue
        targets, unplaced = row_targets(record, row.values)
        casebook.problems += [SiteProblem.of(row, problem) for problem in unplaced]
        writes += [(row, *target) for target in targets if not (casebook.enrolls and target[0].part.is_patient)]
        for name, instrument in complete_fields().items():
            if str(row.values.get(name, "")).strip() == COMPLETE_CODE:
                casebook.completes.setdefault(instrument.part.key, (row, name))
    # A file row that names a row another file row names already adds to that change.
    by_row: dict[tuple, RowChange] = {}
    for row, instrument, fields, instance in sorted(writes, key=lambda write: order[write[1].name]):
        part = instrument.part
        change, found = target_change(
            patient=patient, instrument=instrument, fields=fields, instance=instance,
            numbers=numbers.setdefault(instrument.name, {}),
            stored=[patient] if part.is_patient else stored.get(part, []), reason=_reason(file_name, row))
        casebook.problems += [SiteProblem.of(row, problem) for problem in found]
        if change is None:
            continue
        key = (part.model, change.row.pk) if change.row.pk else None
        if key in by_row:
            row_values_apply(by_row[key].row, fields, date_format="YMD")
            continue
        if key is not None:
            by_row[key] = change
        casebook.writes.append((row, instrument, fields, instance, change))
    casebook.change.changes = [write[4] for write in casebook.writes]


def _instance_numbers_by_patient(patient_ids: list[int]) -> dict[int, dict[str, dict[int, int]]]:
    """{patient: {repeating instrument: {row pk: instance number}}} (deleted rows keep theirs)."""
    found: dict[int, dict[str, dict[int, int]]] = {pk: {} for pk in patient_ids}
    for instrument in instruments():
        if not instrument.repeating or not patient_ids:
            continue
        patient_of = dict(instrument.part.model.objects.filter(patient_id__in=patient_ids)
                          .values_list("pk", "patient_id"))
        for pk, number in instance_numbers(instrument, patient_ids).items():
            found[patient_of[pk]].setdefault(instrument.name, {})[pk] = number
    return found


def _batch_check(*, user, records: list[tuple[str, list[SheetRow]]], file_name: str) -> list[_Casebook]:
    """Reads the stored casebooks of a batch of records, and checks in memory every change the
    file makes to them, as the casebook write service would one row at a time."""
    casebooks = [_Casebook(record, lines) for record, lines in records]
    patients = {patient.study_id: patient for patient in
                patient_list_for_user(user=user).filter(study_id__in=[c.record for c in casebooks])
                .select_related("center")}
    centers = {center.code.upper(): center for center in center_list_for_user(user=user)}
    stored_rows = casebook_rows_get(patient_ids=[patient.pk for patient in patients.values()])
    numbers = _instance_numbers_by_patient([patient.pk for patient in patients.values()])
    for casebook in casebooks:
        patient = patients.get(casebook.record)
        if patient is None:
            casebook.change = _enrollment_change(casebook=casebook, centers=centers, file_name=file_name)
            if casebook.change is None:
                continue
            casebook.enrolls = True
            patient = casebook.change.patient
        else:
            casebook.change = CasebookChange(patient=patient)
        _changes_build(casebook=casebook, patient=patient, stored=stored_rows.get(patient.pk, {}) if patient.pk else {},
                       numbers=numbers.get(patient.pk, {}) if patient.pk else {}, file_name=file_name)
    changes = [casebook.change for casebook in casebooks if casebook.change is not None]
    casebook_changes_check(user=user, casebooks=changes)
    for casebook in casebooks:
        if casebook.change is None:
            continue
        if casebook.enrolls:
            casebook.problems += _enrollment_problems(casebook)
        for row, instrument, fields, instance, change in casebook.writes:
            casebook.problems += [SiteProblem.of(row, problem)
                                  for problem in change_problems(casebook.record, instrument, instance, change, fields)]
        if not casebook.problems:  # a casebook with problems is not written: marking its forms complete would add nothing
            refused = forms_complete_check(user=user, casebook_change=casebook.change, forms=list(casebook.completes))
            for form, error in refused.items():
                row, name = casebook.completes[form]
                message = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
                casebook.problems.append(SiteProblem(row.sheet, row.number, casebook.record, name, COMPLETE_CODE,
                                                     message))
    return casebooks


def _batch_write(*, user, casebooks: list[_Casebook]) -> None:
    changes = [casebook.change for casebook in casebooks]
    casebook_changes_write(user=user, casebooks=changes)
    forms_complete_write(user=user, casebooks=changes)


def _batch_import(*, user, records: list[tuple[str, list[SheetRow]]], file_name: str,
                  dry_run: bool) -> list[_Casebook]:
    """Checks a batch of records and, unless a dry run, writes those without problems in one
    transaction. When the database refuses the batch (a casebook changed meanwhile, a
    constraint), each of its casebooks is checked and written again on its own, so that one
    casebook does not take the others down."""
    casebooks = _batch_check(user=user, records=records, file_name=file_name)
    if dry_run:
        return casebooks
    clean = [casebook for casebook in casebooks if casebook.change is not None and not casebook.problems]
    if not clean:
        return casebooks
    try:
        with transaction.atomic():
            _batch_write(user=user, casebooks=clean)
    except (IntegrityError, CasebookChangedError) as error:
        if len(records) == 1:
            logger.warning("Import of %s not written: %s", records[0][0], error)
            casebooks[0].problems.append(SiteProblem(
                casebooks[0].lines[0].sheet, casebooks[0].lines[0].number, casebooks[0].record, "", "",
                _("This casebook could not be written (it changed meanwhile, or the database refused it): %(error)s")
                % {"error": error}))
            return casebooks
        return [casebook for record in records
                for casebook in _batch_import(user=user, records=[record], file_name=file_name, dry_run=False)]
    return casebooks


def site_import(*, user, file_name: str, rows: list[SheetRow], dry_run: bool,
                progress: Callable[[int, int], None] | None = None) -> ImportOutcome:
    """Imports the rows of a site's file (see module docstring). A dry run changes nothing;
    otherwise each casebook without problems is written, all or nothing, in batches."""
    outcome = ImportOutcome()
    if not can_edit_clinical_data(user):
        raise PermissionDenied(_("You may not change casebooks."))
    records = _records(rows)
    outcome.casebooks = len(records)
    items = list(records.items())
    done = 0
    for start in range(0, len(items), BATCH_CASEBOOKS):
        batch = items[start:start + BATCH_CASEBOOKS]
        for record, lines in batch:
            if not record:
                outcome.problems += [SiteProblem(line.sheet, line.number, "", RECORD_ID_FIELD, "",
                                                 _("Give the study ID.")) for line in lines]
        for casebook in _batch_import(user=user, records=[(record, lines) for record, lines in batch if record],
                                      file_name=file_name, dry_run=dry_run):
            if casebook.problems:
                outcome.problems += casebook.problems
            else:
                outcome.casebooks_written += not dry_run
                outcome.patients_enrolled += casebook.enrolls
        for _record in batch:
            done += 1
            if progress is not None:
                progress(done, len(records))
    return outcome


def import_run_start(*, user, file_name: str, content: bytes) -> ImportRun:
    """Records an uploaded file, for its dry run (`import_run_execute`, usually in a task)."""
    if not can_edit_clinical_data(user):
        raise PermissionDenied(_("You may not change casebooks."))
    return ImportRun.objects.create(created_by=user, file_name=file_name[:200], content=content)


def import_run_confirm(*, user, run: ImportRun) -> ImportRun:
    """The coordinator's go after a dry run without problems: the run is to be imported."""
    if run.created_by_id != user.pk or not run.may_confirm:
        raise PermissionDenied(_("Only a dry run without problems, by its uploader, is imported."))
    ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.IMPORTING, casebooks_done=0, finished_at=None)
    run.refresh_from_db()
    return run


def import_run_execute(*, run_id: int) -> ImportRun:
    """The dry run (status checking) or the import (status importing) of a recorded run; the
    counters move as casebooks are done, the problems and the outcome go on the row."""
    run = ImportRun.objects.select_related("created_by").get(pk=run_id)
    dry_run = run.status == ImportStatus.CHECKING
    if run.status not in (ImportStatus.CHECKING, ImportStatus.IMPORTING):
        return run  # done already: a task delivered twice does nothing

    def progress(done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            ImportRun.objects.filter(pk=run.pk).update(casebooks_done=done, casebooks_total=total)

    try:
        rows = file_rows(file_name=run.file_name, content=bytes(run.content))
        outcome = site_import(user=run.created_by, file_name=run.file_name, rows=rows, dry_run=dry_run,
                              progress=progress)
    except (FileError, PermissionDenied) as error:
        run.status = ImportStatus.FAILED if not dry_run else ImportStatus.CHECKED
        run.problems = [asdict(SiteProblem("", 0, "", "", "", str(error)))]
    except Exception as error:  # the row says what went wrong; the task's log has the traceback
        logger.exception("Import run %s failed", run.pk)
        run.status = ImportStatus.FAILED
        run.error = f"{type(error).__name__}: {error}"
    else:
        run.status = ImportStatus.CHECKED if dry_run else ImportStatus.DONE
        run.problems = outcome.problem_dicts()
        run.casebooks_total = run.casebooks_done = outcome.casebooks
        run.casebooks_written = 0 if dry_run else outcome.casebooks_written
        run.patients_enrolled = outcome.patients_enrolled
    run.finished_at = timezone.now()
    run.save()
    return run
