"""The rows of a de-identified dataset, table by table, streamed from the database.

Each table is one query through the user's selectors (``patients.selectors``) that selects
the allowlisted variables only (``analytics.exports.variables``), each as an SQL expression:
dates become days from C1D1 (or dates shifted by a per-patient secret offset: the offsets
are computed here, with SECRET_KEY, and handed to the query as an array, so that the
database shifts the dates and SECRET_KEY never goes to it), codes stay codes or become
labels, booleans become 1/0. The rows are read with ``iterator(chunk_size)`` (a server-side
cursor on PostgreSQL), so memory holds one chunk, never the registry; on PostgreSQL a CSV
export has COPY write the same query's CSV, and a JSON export has the database write each
row's JSON object.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hmac
import json
import queue
import re
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TypeVar

from django.conf import settings
from django.db import connection
from django.db.models import Case, CharField, DateField, F, Func, IntegerField, QuerySet, Value, When
from django.db.models.expressions import Expression
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, NullIf
from django.db.models.lookups import Exact
from django.utils.translation import gettext as _

from analytics.exports.sql import DaysBetween, TextSQL, export_settings, json_plain
from analytics.exports.variables import (
    BOOLEAN,
    CODE,
    DATE,
    DECIMAL,
    INTEGER,
    MISSING,
    PATIENT_KEY,
    Table,
    Variable,
    missing_code_variable,
)
from patients.clinical import MissingCode
from patients.selectors import form_rows_for_user, patient_list_for_user

CHUNK_SIZE = 5000

FILE_FORMATS = ("csv", "json", "dta", "sav", "xpt", "odm")
STAT_FORMATS = ("dta", "sav", "xpt")  # Stata, SPSS, SAS
# A date is a number in a Stata, SPSS or SAS file, counted in days from the format's epoch
# (SPSS counts seconds, ``analytics.exports.formats`` scales them).
STAT_DATE_EPOCHS = {"dta": dt.date(1960, 1, 1), "sav": dt.date(1582, 10, 14), "xpt": dt.date(1960, 1, 1)}
DATE_MODES = ("relative", "shifted")
VALUE_MODES = ("codes", "labels")
MAX_SHIFT_DAYS = 365


@dataclass(frozen=True)
class ExportOptions:
    file_format: str = "csv"
    dates: str = "relative"  # days from C1D1, or dates shifted per patient
    values: str = "codes"  # coded values as codes, or as their labels

    def __post_init__(self):
        if self.file_format not in FILE_FORMATS or self.dates not in DATE_MODES or self.values not in VALUE_MODES:
            raise ValueError(f"unknown export options {self}")

    @property
    def labels_as_text(self) -> bool:
        """Whether a code list's values are written as their labels' text: in CSV, JSON and ODM
        when values are labels. Stata, SPSS and SAS files hold them as labelled numbers in both
        modes (value labels; SAS's in formats.sas), so that an empty one is the tool's missing."""
        return self.values == "labels" and self.file_format not in STAT_FORMATS

    @property
    def as_dict(self) -> dict:
        return {"file_format": self.file_format, "dates": self.dates, "values": self.values}


def date_shift_days(study_id: str) -> int:
    """The patient's date offset, in days, in [-365, 365] and never 0: the same for every date
    of the patient (intervals are kept), deterministic, and unguessable without SECRET_KEY."""
    return _date_shift(_shift_key(), study_id)


def _shift_key():
    """The keyed hash every offset starts from (SECRET_KEY and the purpose), to copy per patient."""
    return hmac.new(settings.SECRET_KEY.encode(), b"inocd22-date-shift:", "sha256")


def _date_shift(key, study_id: str) -> int:
    digest = key.copy()
    digest.update(study_id.encode())
    offset = int.from_bytes(digest.digest()[:8], "big") % (2 * MAX_SHIFT_DAYS) - MAX_SHIFT_DAYS
    return offset if offset < 0 else offset + 1


@dataclass(frozen=True, eq=False)  # compared (and hashed, in expressions) by identity
class PatientNumbers:
    """A number per patient, at index ``pk - base`` (1-based, as PostgreSQL's arrays): handed to
    a query as one array, so that the database reads each row's number by its patient's pk
    instead of joining a table of them (``PatientNumber``)."""

    base: int
    values: list[int]
    # PostgreSQL: the SQL of a subquery giving the array, which each expression reads, instead
    # of the array as a parameter of each (``numbers_with``).
    array_sql: str | None = None

    @functools.cached_property
    def array_text(self) -> str:
        """The numbers as the text of a PostgreSQL array, made once: a query may read them in
        many columns, and psycopg would convert the list anew each time."""
        return "{" + ",".join(map(str, self.values)) + "}"

    @functools.cached_property
    def json_text(self) -> str:
        """The numbers as a JSON array, which SQLite reads with json_extract."""
        return json.dumps(self.values)


def patient_numbers(pks: Sequence[int], numbers: Iterable[int]) -> PatientNumbers:
    """``PatientNumbers`` of the patients `pks`, each with its number in `numbers` (a patient
    not in `pks` has 0)."""
    if not pks:
        return PatientNumbers(0, [])
    base = min(pks) - 1
    values = [0] * (max(pks) - base)
    for pk, number in zip(pks, numbers, strict=True):
        values[pk - base - 1] = number
    return PatientNumbers(base, values)


class PatientNumber(Func):
    """The number of ``PatientNumbers`` of the row's patient, given the patient's pk."""

    output_field = IntegerField()

    def __init__(self, patient_pk, *, numbers: PatientNumbers):
        super().__init__(patient_pk)
        self.numbers = numbers

    def as_sql(self, compiler, connection, **extra_context):
        # The array as a subquery of its own (an InitPlan): PostgreSQL makes it once and hands
        # it to the parallel workers as a value, where an array written in the expression would
        # be written into the plan text each worker reads, byte by byte.
        patient_pk, params = compiler.compile(self.source_expressions[0])
        if self.numbers.array_sql:
            return f"(({self.numbers.array_sql}))[{patient_pk} - %s]", (*params, self.numbers.base)
        return f"((SELECT %s::integer[]))[{patient_pk} - %s]", (self.numbers.array_text, *params, self.numbers.base)

    def as_sqlite(self, compiler, connection, **extra_context):
        patient_pk, params = compiler.compile(self.source_expressions[0])
        return (f"json_extract(%s, '$[' || ({patient_pk} - %s - 1) || ']')",
                (self.numbers.json_text, *params, self.numbers.base))


NUMBERS_WITH = "patient_numbers"


def numbers_with(numbers: list[PatientNumbers]) -> tuple[list[PatientNumbers], str, tuple]:
    """The `numbers` read from a ``WITH`` clause that holds each array once, that clause (to
    start a statement with) and its parameters, on PostgreSQL; elsewhere the numbers as they
    are, no clause. A statement that reads the numbers in many expressions (a union's
    branches, each sorted by one and showing dates shifted by another) has PostgreSQL parse
    each array once instead of once per expression (the REDCap record export's 21, of 100 000
    numbers each, took 0.15 s of one core before its query began)."""
    if connection.vendor != "postgresql" or not numbers:
        return numbers, "", ()
    columns = [f"numbers_{number}" for number in range(len(numbers))]
    clause = (f"WITH {NUMBERS_WITH} AS MATERIALIZED (SELECT "
              f"{', '.join(f'%s::integer[] AS {column}' for column in columns)}) ")
    read = [replace(each, array_sql=f"SELECT {column} FROM {NUMBERS_WITH}")  # noqa: S608
            for each, column in zip(numbers, columns, strict=True)]
    return read, clause, tuple(each.array_text for each in numbers)


def date_shifts(*, user) -> PatientNumbers:
    """The date offsets of the patients ``user`` may see (the patients whose rows the tables hold)."""
    return shifts_of(*patient_keys(patient_list_for_user(user=user)))


def patient_keys(patients: QuerySet) -> tuple[list[int], list[str]]:
    """The patients' pks and their study IDs, in the same order, as two lists. The rows are
    read a few thousand at a time and let go: a tuple kept per patient (100 000 of them) would
    set off collections of the whole heap (in a process with pandas loaded, 40 ms each) before
    the export's query is sent."""
    pks: list[int] = []
    study_ids: list[str] = []
    for pk, study_id in patients.order_by().values_list("pk", "study_id").iterator(chunk_size=CHUNK_SIZE):
        pks.append(pk)
        study_ids.append(study_id)
    return pks, study_ids


def shifts_of(pks: Sequence[int], study_ids: Sequence[str]) -> PatientNumbers:
    """The date offsets of the patients `pks`, whose study IDs are `study_ids` (in their order)."""
    key = _shift_key()
    return patient_numbers(pks, [_date_shift(key, study_id) for study_id in study_ids])


# A date outside these is implausible (stored before the plausibility checks existed) and
# could be shifted off the calendar (years 1 to 9999): it is exported missing.
SHIFTABLE_FROM, SHIFTABLE_TO = dt.date(2, 1, 1), dt.date(9998, 12, 31)


class ShiftedDate(Func):
    """A date plus its patient's offset (``date_shifts``), read by the patient's pk."""

    output_field = DateField()

    def __init__(self, date, patient_pk, *, shifts: PatientNumbers):
        super().__init__(date, PatientNumber(patient_pk, numbers=shifts))
        self.shifts = shifts

    def as_sql(self, compiler, connection, **extra_context):
        (date, date_params), (offset, offset_params) = (
            compiler.compile(expression) for expression in self.source_expressions)
        sql = f"(CASE WHEN {date} BETWEEN %s AND %s THEN {date} END + {offset})"
        return sql, (*date_params, SHIFTABLE_FROM, SHIFTABLE_TO, *date_params, *offset_params)

    def as_sqlite(self, compiler, connection, **extra_context):
        (date, date_params), (offset, offset_params) = (
            compiler.compile(expression) for expression in self.source_expressions)
        sql = f"date(CASE WHEN {date} BETWEEN %s AND %s THEN {date} END, {offset} || ' days')"
        return sql, (*date_params, SHIFTABLE_FROM.isoformat(), SHIFTABLE_TO.isoformat(), *date_params, *offset_params)


def shifts_in_database() -> bool:
    """Whether the database shifts dates (PostgreSQL); elsewhere ``table_rows`` shifts them."""
    return connection.vendor == "postgresql"


def variable_type(variable: Variable, options: ExportOptions) -> str:
    """The variable's type in the files of these options."""
    if variable.kind == DATE:
        return "integer" if options.dates == "relative" else "date"
    if variable.kind in (CODE, BOOLEAN):
        return "string" if options.labels_as_text or variable.kind == CODE else "integer"
    if variable.kind == MISSING:
        return "string"
    if variable.kind == DECIMAL:
        return "decimal"
    if variable.kind == INTEGER:
        return "integer"
    return "string"


def variable_unit(variable: Variable, options: ExportOptions) -> str:
    if variable.kind == DATE and options.dates == "relative":
        return _("days from IO cycle 1 day 1")
    return variable.unit


def table_queryset(table: Table, *, user) -> QuerySet:
    """The table's rows the user may see, through the access-controlled selectors."""
    if table.is_patient_table:
        return patient_list_for_user(user=user).order_by(*table.order_by)
    return form_rows_for_user(user=user, model=table.model).order_by(*table.order_by)


def table_columns(table: Table) -> list[Variable]:
    """The table's columns in file order: the patient key, then the allowlisted variables, each
    codable one followed by its ``<name>_missing`` companion (the row's missing-data code)."""
    columns = [PATIENT_KEY]
    for variable in table.variables:
        columns.append(variable)
        if table.accepts_code(variable):
            columns.append(missing_code_variable(variable))
    return columns


def coded_columns(table: Table) -> dict[int, int]:
    """Position of each codable variable in a row of ``table_columns`` → position of its code."""
    columns = table_columns(table)
    return {number: number + 1 for number, variable in enumerate(columns) if table.accepts_code(variable)}


def _code_labels(expression: Expression, choices, *, default: Expression) -> Expression:
    return Case(*(When(Exact(expression, code), then=Value(str(label))) for code, label in choices),
                default=default, output_field=CharField())


def numeric_codes(variable: Variable) -> dict[str, int]:
    """The numbers that stand for a code list's codes in Stata, SPSS and SAS files (1, 2, ... in the
    code list's order; yes/no stays 1/0)."""
    if variable.kind == BOOLEAN:
        return {"1": 1, "0": 0}
    return {code: number for number, (code, _label) in enumerate(variable.choices, start=1)}


def has_code_list(variable: Variable) -> bool:
    return variable.kind in (CODE, BOOLEAN, MISSING) and bool(variable.choices)


def variable_expression(table: Table, variable: Variable, options: ExportOptions, *,
                        shifts: PatientNumbers | None = None, date_epoch: dt.date | None = None,
                        codes_as_numbers: bool = False) -> Expression:
    """The SQL expression of the variable's exported value under these options.

    Every conversion happens in the database: days from C1D1, derived values, booleans as
    1/0, empty codes as missing, labels for codes (or, ``codes_as_numbers``, the numbers of
    ``numeric_codes``), and (given ``shifts``) dates shifted by their patient's offset,
    counted in days from ``date_epoch`` when given; without ``shifts`` a shifted date is the
    stored one, which ``table_rows`` shifts."""
    if variable.kind == MISSING:
        # The code of the question the companion is named after, whatever the value mode.
        question = variable.inputs[0].removeprefix("missing_codes__")
        return NullIf(KeyTextTransform(question, "missing_codes"), Value(""), output_field=CharField())
    inputs = [F(path) for path in variable.inputs]
    value = variable.derive(*inputs) if variable.is_derived else inputs[0]
    if variable.kind == DATE:
        if options.dates == "shifted":
            if shifts is None:
                return value
            shifted = ShiftedDate(value, F("pk" if table.is_patient_table else "patient_id"), shifts=shifts)
            return DaysBetween(shifted, Value(date_epoch, output_field=DateField())) if date_epoch else shifted
        c1d1 = F("c1d1_date" if table.is_patient_table else "patient__c1d1_date")
        return DaysBetween(value, c1d1)
    if variable.kind == BOOLEAN:
        if options.labels_as_text:
            return Case(When(Exact(value, True), then=Value(str(_("Yes")))),
                        When(Exact(value, False), then=Value(str(_("No")))), default=None, output_field=CharField())
        return Cast(value, IntegerField())
    if variable.kind == CODE:
        code = NullIf(value, Value("")) if not variable.is_derived else value
        if codes_as_numbers and variable.choices:  # an unknown code (none should exist) is missing
            return Case(*(When(Exact(code, Value(text)), then=Value(number))
                          for text, number in numeric_codes(variable).items()), default=None,
                        output_field=IntegerField())
        if options.labels_as_text and variable.choices:
            # An unknown code (none should exist) is kept as it is rather than lost.
            return _code_labels(code, variable.choices, default=code)
        return code
    return value


def table_values(table: Table, *, user, options: ExportOptions, with_patient_pk: bool = True,
                 shifts: PatientNumbers | None = None, date_epoch: dt.date | None = None,
                 codes_as_numbers: bool = False, order_columns: bool = False) -> QuerySet:
    """The table's exported rows as a values_list queryset of ([patient pk,] study ID,
    variables...), through the access-controlled selectors, in the table's order. Dates of a
    shifted export are shifted by the database when it can (``shifts``, computed here when not
    given), else left for ``table_rows``. `order_columns`: unordered, with the fields of the
    table's order as trailing columns (``table.order_by``, in turn), for a query around it to
    sort by."""
    if options.dates == "shifted" and shifts is None and shifts_in_database():
        shifts = date_shifts(user=user)
    expressions = {f"export_{number}": variable_expression(table, variable, options, shifts=shifts,
                                                           date_epoch=date_epoch, codes_as_numbers=codes_as_numbers)
                   for number, variable in enumerate(table_columns(table)[1:])}
    keys = ("pk", "study_id") if table.is_patient_table else ("patient_id", "patient__study_id")
    if not with_patient_pk:
        keys = keys[1:]
    queryset = table_queryset(table, user=user).annotate(**expressions)
    if order_columns:
        ordering = {f"export_order_{number}": F(name) for number, name in enumerate(table.order_by)}
        return queryset.annotate(**ordering).order_by().values_list(*keys, *expressions, *ordering)
    return queryset.values_list(*keys, *expressions)


def decimal_places(table: Table, variable: Variable) -> int | None:
    """The decimal places of a decimal variable's values (its field's, or its derivation's)."""
    if variable.kind != DECIMAL:
        return None
    if variable.is_derived:
        return variable.derive(*(F(path) for path in variable.inputs)).output_field.decimal_places
    return table.model._meta.get_field(variable.inputs[0]).decimal_places


def table_rows(table: Table, *, user, options: ExportOptions, chunk_size: int = CHUNK_SIZE,
               shifts: PatientNumbers | None = None) -> Iterator[tuple]:
    """(patient pk, exported row) for each row of the table, in patient order, streamed.

    PostgreSQL gives each decimal with its column's decimal places (a numeric keeps its scale)
    and shifts the dates; elsewhere both happen here: SQLite reads a computed decimal (a
    derived total) as a float, which would be written 1.5 in one row and 1.80000000000000 in
    the next."""
    rows = table_values(table, user=user, options=options, shifts=shifts).iterator(chunk_size=chunk_size)
    if shifts_in_database():
        for row in rows:
            yield row[0], row[1:]
        return
    columns = table_columns(table)
    dates = [number for number, variable in enumerate(columns)
             if variable.kind == DATE and options.dates == "shifted"]
    scales = {number: Decimal(1).scaleb(-places) for number, variable in enumerate(columns)
              if (places := decimal_places(table, variable)) is not None}
    last_key, shift = None, dt.timedelta(0)
    for row in rows:
        if row[1] != last_key:
            last_key, shift = row[1], dt.timedelta(days=date_shift_days(row[1]))
        values = list(row[1:])
        for number in dates:
            values[number] = date_shifted(values[number], shift)
        for number, scale in scales.items():
            if values[number] is not None:
                values[number] = Decimal(values[number]).quantize(scale)
        yield row[0], tuple(values)


def date_shifted(value: dt.date | None, shift: dt.timedelta) -> dt.date | None:
    """A date moved by the patient's offset; missing when the result is off the calendar (a
    date stored before the plausibility checks existed), rather than failing the export."""
    if value is None:
        return None
    try:
        return value + shift
    except OverflowError:
        return None


def csv_copy_available(options: ExportOptions) -> bool:
    """Whether the database can write the tables' CSV (PostgreSQL's COPY) and JSON objects
    itself: every value is computed in SQL there, shifted dates included."""
    return connection.vendor == "postgresql"


def csv_codes_as_numbers(options: ExportOptions) -> bool:
    """Whether a table's CSV (``table_csv_copy``) holds a code list's numbers (``numeric_codes``)
    rather than its codes: for a Stata, SPSS or SAS file, which holds the numbers."""
    return options.file_format in STAT_FORMATS


def csv_date_epoch(options: ExportOptions) -> dt.date | None:
    """The day from which the database counts the dates of a table's CSV (``table_csv_copy``)
    for a Stata, SPSS or SAS file of shifted dates, which holds them as numbers (the number is
    parsed quicker than the date's text, and the file would make it anyway); None when the
    CSV holds the dates' text."""
    if options.dates == "shifted" and options.file_format in STAT_FORMATS:
        return STAT_DATE_EPOCHS[options.file_format]
    return None


def table_csv_copy(table: Table, *, user, options: ExportOptions,
                   shifts: PatientNumbers | None = None) -> Generator[bytes, None, int]:
    """The table's rows as CSV (no header), written by PostgreSQL's COPY from the query of
    ``table_rows`` (without the patient pk), streamed as it arrives; returns the row count.

    The same values as ``table_rows`` in the same order (but the dates of ``csv_date_epoch``
    and the codes of ``csv_codes_as_numbers``),
    without a Python object per value: on 100 000 patients this is what keeps the export
    within a small factor of COPY itself."""
    queryset = table_values(table, user=user, options=options, with_patient_pk=False, shifts=shifts,
                            date_epoch=csv_date_epoch(options), codes_as_numbers=csv_codes_as_numbers(options))
    sql, params = queryset.query.sql_with_params()
    return (yield from copy_blocks(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params))


COPY_BLOCK_BYTES = 256 * 1024


def blocks_joined(pieces: Iterable[bytes | memoryview], *, block_bytes: int = COPY_BLOCK_BYTES) -> Iterator[bytes]:
    """The pieces joined into blocks of about ``block_bytes`` (COPY hands over a row at a time).

    Each piece is copied into its block as it comes, never held: psycopg hands over
    memoryviews, which the garbage collector tracks, and the thousands a block would hold
    outlive the young generations, so that a million rows would set off dozens of collections
    of the whole heap (seconds, in a process with pandas loaded)."""
    block = bytearray()
    for piece in pieces:
        block += piece
        if len(block) >= block_bytes:
            yield bytes(block)
            block.clear()
    if block:
        yield bytes(block)


_COPY_ESCAPES = {b"\\": b"\\", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"v": b"\v"}
_COPY_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)


def copy_text_unescaped(block: bytes) -> bytes:
    """Rows of COPY's text format as they are: COPY writes a backslash, a line break, a tab and
    the other control characters it names as a backslash and a letter (never in octal).

    Without an escaped backslash (two in a row) each backslash starts an escape, and each kind
    is replaced in one pass; with one, the escapes are read from left to right."""
    if b"\\" not in block:
        return block
    if b"\\\\" not in block:
        for letter, character in _COPY_ESCAPES.items():
            if letter != b"\\":  # none here, by the test above
                block = block.replace(b"\\" + letter, character)
        return block
    return _COPY_ESCAPE.sub(lambda escape: _COPY_ESCAPES[escape.group(1)], block)


# Blocks of a COPY (``COPY_BLOCK_BYTES`` each) a reader thread may hold for its caller
# (``read_ahead``): the memory it costs.
READ_AHEAD_BLOCKS = 8
Block = TypeVar("Block")  # what a reader hands over: bytes, or a COPY's rows


class _ReadingStopped(Exception):
    """The caller stopped reading."""


def read_ahead(blocks: Generator[Block, None, None], *, ahead: int = READ_AHEAD_BLOCKS) -> Iterator[Block]:
    """``blocks``, made by a thread of its own up to ``ahead`` blocks ahead of the caller; an
    error of ``blocks`` is raised in the caller.

    A COPY read by the caller between its own work on the blocks (a zip, a hash) stops being
    read while the caller works: the server's socket fills and the server waits, and then the
    caller waits for the server, in turn. The thread keeps reading (and, for a REDCap export,
    writing the JSON objects) meanwhile; psycopg and hashing release the GIL while they wait
    or hash. ``blocks`` must not use Django's ``connection`` (it is the thread's own there):
    it is given the caller's psycopg cursor, which the thread alone uses until its last block.
    A caller that stops reading (an error, a client gone) closes ``blocks`` in the thread,
    which cancels its COPY (psycopg cancels a COPY its block is left by an exception)."""
    handed: queue.Queue = queue.Queue(maxsize=ahead)
    stopped = threading.Event()

    def hand_over(item) -> None:
        while True:
            if stopped.is_set():
                raise _ReadingStopped
            try:
                handed.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def make() -> None:
        try:
            for block in blocks:
                hand_over(block)
            hand_over(None)
        except _ReadingStopped:
            pass
        except BaseException as error:  # raised again in the caller
            with contextlib.suppress(_ReadingStopped):
                hand_over(error)
        finally:
            blocks.close()

    maker = threading.Thread(target=make, name="export-read-ahead", daemon=True)
    maker.start()
    try:
        while (item := handed.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stopped.set()
        maker.join()


def copy_read(raw_cursor, copy_sql: str, params) -> Generator[bytes, None, None]:
    """What ``COPY ... TO STDOUT`` writes, read through the psycopg cursor, in blocks of whole
    rows of about ``COPY_BLOCK_BYTES`` (psycopg hands over one row at a time)."""
    with raw_cursor.copy(copy_sql, params) as copy:
        yield from blocks_joined(copy)


def copy_binary_rows(raw_cursor, sql: str, params, *, columns: int) -> Generator[tuple[bytes | None, ...], None, None]:
    """The rows of the query `sql` of `columns` columns, read through the psycopg cursor by
    ``COPY ... TO STDOUT (FORMAT binary)``: each field the bytes the database holds (a text's
    UTF-8; None for NULL), with nothing escaped. For a query of few rows, each many kilobytes:
    COPY's text format would have the database look at each byte to escape it, and the client
    look at each again to undo the escapes."""
    with raw_cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)", params) as copy:
        copy.set_types(["bytea"] * columns)  # the bytes as they come, not decoded
        yield from copy.rows()


def copy_blocks(copy_sql: str, params) -> Generator[bytes, None, int]:
    """``copy_read`` on the connection, read ahead of the caller (``read_ahead``). Returns the
    row count. psycopg's errors become Django's, as through Django's cursor, so that a dropped
    connection is seen as one and replaced."""
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor  # psycopg's own cursor: Django's has no COPY
        yield from read_ahead(copy_read(raw, copy_sql, params))
        return raw.rowcount


def table_json_copy(table: Table, *, user, options: ExportOptions,
                    shifts: PatientNumbers | None = None) -> Generator[bytes, None, int]:
    """The table's rows as JSON objects keyed by the columns' names, separated by a comma and
    a newline, in blocks, written by PostgreSQL (``json_object_sql``, through COPY) from the
    query of ``table_rows``. Returns the row count.

    COPY's text format ends each row with a newline; a JSON text holds no raw newline (nor any
    other raw control character), so with COPY's escapes undone the newlines turn into the
    separators.

    The rows are sorted by the query around the table's rows, not by the rows' own query:
    PostgreSQL then plans both as one, and its parallel workers write the objects before the
    sort. (A sorted subquery is planned on its own, and its objects would be written by one
    process, row after row, as the sorted rows come out.)"""
    queryset = table_values(table, user=user, options=options, with_patient_pk=False, shifts=shifts,
                            order_columns=True)
    sql, params = queryset.query.sql_with_params()
    quote = connection.ops.quote_name
    columns = table_columns(table)
    order = [f"export_order_{number}" for number in range(len(table.order_by))]
    names = ", ".join([*(quote(variable.name) for variable in columns), *order])
    objects = json_object_sql([(f"exported.{quote(variable.name)}", variable) for variable in columns], options)
    json_sql = (f"SELECT {objects} FROM ({sql}) AS exported({names}) "  # noqa: S608 (our own query)
                f"ORDER BY {', '.join(f'exported.{name}' for name in order)}")
    with connection.cursor() as cursor:
        export_settings(cursor, sorts_in_memory=True)  # a date's text is YYYY-MM-DD; the objects sorted
    blocks = copy_blocks(f"COPY ({json_sql}) TO STDOUT", params)
    while True:
        try:
            block = next(blocks)
        except StopIteration as done:
            return done.value
        yield copy_text_unescaped(block)[:-1].replace(b"\n", b",\n")


def variable_texts(variable: Variable, options: ExportOptions) -> list[str] | None:
    """Every text a text variable can hold in the export (its codes or their labels), or None
    when it can hold any text."""
    if variable.kind == MISSING:
        return [str(code) for code, _label in MissingCode.choices]
    if variable.kind == BOOLEAN:
        return [str(_("Yes")), str(_("No"))]
    if variable.kind == CODE and variable.choices:
        texts = [str(code) for code, _label in variable.choices]
        return texts + [str(label) for _code, label in variable.choices] if options.labels_as_text else texts
    return None


def json_object_sql(columns: list[tuple[str, Variable]], options: ExportOptions) -> str:
    """The SQL of a row's JSON object from its columns' SQL: a number as the database writes it
    (a decimal with its scale), a date as "YYYY-MM-DD" (the ISO DateStyle), a text that never
    needs an escape (a code, a label) in quotes as it is, any other text by to_json(); null
    when missing. The same object as row_to_json() gives, without its per-row record."""
    text = TextSQL()
    for number, (column, variable) in enumerate(columns):
        text.constant(("{" if number == 0 else ",") + json.dumps(variable.name, ensure_ascii=False) + ":")
        kind = variable_type(variable, options)
        if kind in ("integer", "decimal"):
            text.expression(f"COALESCE(CAST({column} AS text), 'null')")
        elif kind == "date" or json_plain(variable_texts(variable, options)):
            text.expression(f"COALESCE('\"' || CAST({column} AS text) || '\"', 'null')")
        else:
            text.expression(f"COALESCE(CAST(to_json({column}) AS text), 'null')")
    return text.constant("}").sql
