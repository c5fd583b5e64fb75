"""The rows of a de-identified dataset, table by table, streamed from the database.

Each table is one query through the user's selectors (``patients.selectors``), read with
``iterator(chunk_size)`` (a server-side cursor on PostgreSQL), so memory holds one chunk,
never the registry. Each row is turned into the allowlisted variables only
(``analytics.exports.variables``): dates become days from C1D1 or dates shifted by a
per-patient secret offset, codes stay codes or become labels.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from analytics.exports.variables import (
    BOOLEAN,
    CODE,
    DATE,
    DECIMAL,
    INTEGER,
    PATIENT_KEY,
    TABLES,
    Table,
    Variable,
)
from patients.selectors import form_rows_for_user, patient_list_for_user

CHUNK_SIZE = 5000

FILE_FORMATS = ("csv", "json", "dta", "sav", "xpt", "odm")
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
    def as_dict(self) -> dict:
        return {"file_format": self.file_format, "dates": self.dates, "values": self.values}


def date_shift_days(study_id: str) -> int:
    """The patient's date offset, in days, in [-365, 365] and never 0: the same for every date
    of the patient (intervals are kept), deterministic, and unguessable without SECRET_KEY."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"inocd22-date-shift:{study_id}".encode(), hashlib.sha256).digest()
    offset = int.from_bytes(digest[:8], "big") % (2 * MAX_SHIFT_DAYS) - MAX_SHIFT_DAYS
    return offset if offset < 0 else offset + 1


def variable_type(variable: Variable, options: ExportOptions) -> str:
    """The variable's type in the files of these options."""
    if variable.kind == DATE:
        return "integer" if options.dates == "relative" else "date"
    if variable.kind in (CODE, BOOLEAN):
        return "string" if options.values == "labels" or variable.kind == CODE else "integer"
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


def _query_paths(table: Table) -> list[str]:
    """The columns read: patient pk, study ID, C1D1, then every input of the variables."""
    prefix = "" if table.is_patient_table else "patient__"
    paths = ["pk" if table.is_patient_table else "patient_id", prefix + "study_id", prefix + "c1d1_date"]
    for variable in table.variables:
        for path in variable.inputs:
            if path not in paths:
                paths.append(path)
    return paths


def table_columns(table: Table) -> list[Variable]:
    """The table's columns in file order: the patient key, then the allowlisted variables."""
    return [PATIENT_KEY, *table.variables]


def row_converter(table: Table, paths: list[str], options: ExportOptions) -> Callable:
    """One compiled function (row, shift) → exported row for the table.

    The expressions of every column are inlined into a single generated function: on a
    registry of 100 000 patients the per-value function calls of a generic converter cost
    more than reading the rows from PostgreSQL."""
    namespace: dict = {"_bool": {True: 1, False: 0, None: None}}
    expressions = ["row[1]"]  # the study ID
    for number, variable in enumerate(table.variables):
        positions = [paths.index(path) for path in variable.inputs]
        if variable.is_derived:
            namespace[f"_derive{number}"] = variable.derive
            value = f"_derive{number}({', '.join(f'row[{i}]' for i in positions)})"
        else:
            value = f"row[{positions[0]}]"
        if variable.kind == DATE:
            if options.dates == "relative":
                expression = f"(None if {value} is None or c1d1 is None else ({value} - c1d1).days)"
            else:
                expression = f"(None if {value} is None else {value} + shift)"
        elif variable.kind in (CODE, BOOLEAN):
            if variable.kind == BOOLEAN:
                mapping = {True: 1, False: 0}  # 1 and 0 (derived flags) hash as True and False
                if options.values == "labels":
                    mapping = {key: str(_("Yes")) if code else str(_("No")) for key, code in mapping.items()}
            else:
                mapping = {code: code for code, _label in variable.choices}
                if options.values == "labels":
                    mapping = {code: str(label) for code, label in variable.choices}
            mapping.update({"": None, None: None})
            namespace[f"_map{number}"] = mapping
            # An unknown code (none should exist) is kept as it is rather than lost.
            expression = f"_map{number}.get({value}, {value})"
        else:
            expression = value
        expressions.append(expression)
    source = "def convert(row, shift):\n    c1d1 = row[2]\n    return (" + ", ".join(expressions) + ",)\n"
    exec(compile(source, f"<export converter {table.name}>", "exec"), namespace)  # noqa: S102 (our own code)
    return namespace["convert"]


def table_rows(table: Table, *, user, options: ExportOptions, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple]:
    """(patient pk, exported row) for each row of the table, in patient order, streamed."""
    paths = _query_paths(table)
    convert = row_converter(table, paths, options)
    shifted = options.dates == "shifted"
    last_key, shift = None, dt.timedelta(0)
    rows = table_queryset(table, user=user).values_list(*paths).iterator(chunk_size=chunk_size)
    if not shifted:
        for row in rows:
            yield row[0], convert(row, shift)
        return
    for row in rows:
        if row[1] != last_key:
            last_key, shift = row[1], dt.timedelta(days=date_shift_days(row[1]))
        yield row[0], convert(row, shift)


def export_tables() -> tuple[Table, ...]:
    return TABLES
