"""Records of the REDCap-compatible API, read through the user's selectors.

A record is a casebook. Its rows come as REDCap exports a classic project with repeating
instruments ("flat"): one row of the record's single instruments (repeat instrument and
instance blank), then one row per instance of each repeating instrument, holding that
instrument's fields only.

Instance numbers are stable: a row's instance is the number its row was given when it was
created (`repeat_instance`, `patients.services.instances_number`), after every row of its
part for the patient, deleted rows included, so a deletion leaves a gap (as in REDCap)
rather than renumbering the rows after it.

What a user sees is what the rest of the registry shows them: the patients of
`patients.selectors` (a coordinator, their centers'); a user who may not see identifiers
(`sites.roles.can_see_identifiers`) gets no direct identifier and no free text
(`patients.clinical.mask_for`: the field is left out of the export, as REDCap leaves out the
fields a de-identified export right excludes), and the dates of the de-identified exports
shifted per patient (`analytics.exports.dataset.date_shift_days`): REDCap dates must stay
dates, so the exports' other mode, days from C1D1, does not apply here.

The export is built as the de-identified exports are (`analytics.exports.dataset`): one query
per instrument through the user's selectors, every column an SQL expression giving the text
the export holds (raw code or label, missing data code or its label, 1/0 or Yes/No, the date
shifted by the database from the per-patient offsets computed here), the instrument's rows
combined with UNION ALL in REDCap's order. The database does the work and the rows are
streamed (`redcap_api.records`); nothing holds the registry in memory. A blank value is NULL
in the query (an empty field of the CSV, "" in JSON).
"""

from __future__ import annotations

import functools
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    DateField,
    DecimalField,
    F,
    FilteredRelation,
    Func,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import Expression
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower, NullIf
from django.db.models.lookups import Exact, IsNull

from analytics.exports.dataset import (
    ExportOptions,
    PatientNumber,
    PatientNumbers,
    ShiftedDate,
    numbers_with,
    patient_keys,
    patient_numbers,
    shifts_of,
    variable_expression,
)
from analytics.exports.sql import TextSQL, export_settings, json_plain
from analytics.exports.variables import BOOLEAN, CODE
from patients.clinical import MissingCode, mask_for
from patients.models import FormStatus
from patients.selectors import form_rows_for_user, patient_list_for_user
from redcap_api.project import (
    DATA_ACCESS_GROUP,
    FORM_STATUS_CODES,
    FORM_STATUS_LABELS,
    NO_FORM_STATUS,
    RECORD_ID_FIELD,
    REPEAT_INSTANCE,
    REPEAT_INSTRUMENT,
    YES_NO_CHOICES,
    Field,
    Instrument,
    instruments,
)
from sites.roles import can_see_identifiers

CHUNK_SIZE = 5000
BLANK = "CAST(NULL AS text)"  # a column of another instrument
RECORD_TALLY = "r"  # the start of a record row's tally token (``RecordQuery``)


def field_visible_to(field: Field, *, user) -> bool:
    """Whether the field's values go to this user (the record ID always does: it is pseudonymous)."""
    if field.model_field is None:
        return True
    return mask_for(field.model_field, identifiers_shown=can_see_identifiers(user)) is None


def dates_shifted_for(user) -> bool:
    """Dates are shifted for the users who get de-identified data."""
    return not can_see_identifiers(user)


def instance_numbers(instrument: Instrument, patient_ids) -> dict[int, int]:
    """{row pk: instance number} of the instrument's rows of these patients (see module docstring)."""
    rows = instrument.part.model.objects.filter(patient_id__in=patient_ids).order_by()
    return dict(rows.values_list("pk", "repeat_instance"))


@contextmanager
def export_snapshot():
    """One read-only snapshot for a whole export (REPEATABLE READ on PostgreSQL when this opens
    the transaction), so that the records' ranks and date offsets are those of the rows sent,
    with the session settings its query is written for (``export_settings``)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if outermost:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                export_settings(cursor, sorts_in_memory=True)
        yield


# --- the SQL of one column's text ----------------------------------------------------------


class NumberText(Func):
    """A number as Python's str() writes the Decimal or int Django reads: PostgreSQL's text of
    a numeric keeps its scale; SQLite holds decimals as floats, written with the field's
    decimal places."""

    output_field = CharField()

    def __init__(self, expression, *, decimal_places: int | None = None):
        super().__init__(expression)
        self.decimal_places = decimal_places

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"CAST({sql} AS text)", params

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        if self.decimal_places is None:
            return f"CAST({sql} AS text)", params
        return f"printf(%s, {sql})", (f"%.{self.decimal_places}f", *params)


class DateText(Func):
    """A date as YYYY-MM-DD: PostgreSQL's text of a date in the ISO DateStyle, which
    `export_snapshot` sets (SQLite holds dates as that text)."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"CAST({sql} AS text)", params

    def as_sqlite(self, compiler, connection, **extra_context):
        # A cast, not the bare column: Python's sqlite3 would read a column declared "date" as a date.
        sql, params = compiler.compile(self.source_expressions[0])
        return f"CAST({sql} AS text)", params


class Relabelled(Func):
    """A code replaced by its label from {code: label} (the code itself when it has none), looked
    up in a JSON object the query carries: one lookup per row however long the code list is."""

    output_field = CharField()

    def __init__(self, expression, labels: dict[str, str]):
        super().__init__(expression)
        self.labels = labels

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"COALESCE(CAST(%s AS jsonb) ->> ({sql}), {sql})", (json.dumps(self.labels), *params, *params)

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return (f"COALESCE(json_extract(%s, '$.\"' || ({sql}) || '\"'), {sql})",
                (json.dumps(self.labels), *params, *params))


def _yes_no(value: Expression, *, labels: bool) -> Expression:
    yes, no = ((label if labels else code) for code, label in YES_NO_CHOICES)
    return Case(When(Exact(value, True), then=Value(yes)), When(Exact(value, False), then=Value(no)),
                default=None, output_field=CharField())


def _derived_text(field: Field, *, labels: bool) -> Expression:
    """A derived value by the exports' SQL: booleans 1/0 (Yes/No), codes raw, numbers as text."""
    value = variable_expression(field.instrument.export_table, field.variable, ExportOptions())
    if field.variable.kind == BOOLEAN:
        return _yes_no(value, labels=labels)
    if field.variable.kind == CODE:
        return NullIf(value, Value(""), output_field=CharField())
    output_field = getattr(value, "output_field", None)
    return NumberText(value, decimal_places=getattr(output_field, "decimal_places", None))


def field_text(field: Field, *, labels: bool, shifts: PatientNumbers | None) -> Expression:
    """The SQL of the field's text in an export: raw (codes, 1/0, YYYY-MM-DD) or labels; a coded
    missing value is its missing data code (or the code's label); NULL when blank."""
    if field.is_derived:
        return _derived_text(field, labels=labels)
    if field.model_field is None:
        return F("study_id")
    model_field = field.model_field
    value = F(model_field.attname)
    if isinstance(model_field, BooleanField):
        text = _yes_no(value, labels=labels)
    elif isinstance(model_field, DateField):
        if shifts is not None:
            value = ShiftedDate(value, F("pk" if field.instrument.part.is_patient else "patient_id"),
                                      shifts=shifts)
        text = DateText(value)
    elif model_field.is_relation:
        text = NumberText(value)
        if labels:
            text = Relabelled(text, dict(field.choices()))
    elif isinstance(model_field, DecimalField):
        text = NumberText(value, decimal_places=model_field.decimal_places)
    elif model_field.get_internal_type().endswith("IntegerField"):
        text = NumberText(value)
    else:
        text = NullIf(value, Value(""), output_field=CharField())
        if labels and field.field_type in ("radio", "dropdown"):
            text = Relabelled(text, {str(code): str(label) for code, label in model_field.flatchoices})
    if not field.accepts_code:
        return text
    code = KeyTextTransform(model_field.name, "missing_codes")
    if labels:
        code = Relabelled(code, {code_: str(label) for code_, label in MissingCode.choices})
    return Case(When(IsNull(KeyTextTransform(model_field.name, "missing_codes"), False), then=code), default=text,
                output_field=CharField())


def _status_text(status: Expression, *, labels: bool, blank_for_gray: bool) -> Expression:
    """A form's state as its `<instrument>_complete` code (or label); never started: 0, or blank."""
    def shown(code: str) -> str:
        return FORM_STATUS_LABELS[code] if labels else code

    return Case(*(When(Exact(status, state), then=Value(shown(FORM_STATUS_CODES[state]))) for state in FormStatus),
                default=None if blank_for_gray else Value(shown(NO_FORM_STATUS)), output_field=CharField())


# --- the export's query --------------------------------------------------------------------


@dataclass(frozen=True)
class RecordQuery:
    """The export's columns, the SQL of its rows (each row's tally token, then one text column
    per export column, the instance an integer, NULL for blank, in REDCap's order), the SQL of
    the same rows as CSV lines and as JSON values (all three with the same parameters), and
    what the rows' tally tokens count (`record_counts`).

    A row's tally token is its repeating instrument's part number, or, for the record's row,
    ``RECORD_TALLY`` and a flag ("1" or "0") per instrument of ``record_tally``: whether the
    record has a row of it."""

    columns: list[str]
    sql: str
    json_sql: str  # PostgreSQL: the same rows as their JSON lines (`json_line`), grouped, for `json_pieces`
    json_pieces: dict[str, list[bytes]]  # a row's tally token → its rows' JSON object around the values
    csv_sql: str  # PostgreSQL: the same rows as their CSV lines, grouped (`grouped_lines`)
    params: tuple
    counted: list[str]  # the instruments whose rows the log counts, in the project's order
    record_tally: list[str]  # the instruments flagged in the record row's tally token, in order
    row_tally: dict[str, str]  # a repeating instrument's tally token → the instrument


def _compiled(queryset: QuerySet) -> tuple[str, tuple]:
    sql, params = queryset.query.sql_with_params()
    return sql, tuple(params)


def record_query_for_user(*, user, records: list[str] | None, fields: list[Field], complete: list[Instrument],
                          labels: bool = False, data_access_groups: bool = False,
                          blank_for_gray: bool = False) -> RecordQuery:
    """The query of the records the user may see (all, or those named), with the fields asked
    for (those the user may see) and the `<instrument>_complete` fields asked for.

    Every piece is a queryset of the user's selectors: the records (`patient_list_for_user`,
    with the enrollment's fields and the forms' states) joined with each single instrument's
    rows (`form_rows_for_user`) make the records' rows; each repeating instrument's rows (the
    same selector, with their record's ID, group and form state) make one row per instance, with
    the row's stored instance number.
    Each branch joins the state rows of its forms (one per record and form). The branches are
    combined with UNION ALL and sorted by record (`record_ranks`), then part, then row: each
    branch sorted on its own, which PostgreSQL may do in parallel workers, and the branches
    merged."""
    fields = [field for field in fields if field_visible_to(field, user=user)]
    wanted = {field.name for field in fields}
    complete_names = {instrument.name for instrument in complete}
    used = [instrument for instrument in instruments()
            if instrument.name in complete_names or any(field.instrument.name == instrument.name for field in fields)]
    quote = connection.ops.quote_name

    def own_fields(instrument: Instrument) -> list[Field]:
        return [field for field in instrument.fields if field.name in wanted and not field.is_record_id]

    def texts(instrument: Instrument) -> dict[str, Expression]:
        return {f"rc_{number}": field_text(field, labels=labels, shifts=shifts)
                for number, field in enumerate(own_fields(instrument))}

    patients = patient_list_for_user(user=user)
    if records is not None:
        patients = patients.filter(study_id__in=records)
    pks, study_ids = patient_keys(patients)  # read once, for both
    ranks, record_ids = record_ranks(pks, study_ids)
    shifts = shifts_of(pks, study_ids) if dates_shifted_for(user) else None
    numbers, numbers_clause, numbers_params = numbers_with([ranks] + ([shifts] if shifts else []))
    ranks, shifts = numbers[0], (numbers[1] if shifts else None)
    states = sorted({instrument.part.key for instrument in used if instrument.name in complete_names})

    def state_text(relation: str, key: str) -> tuple[dict, Expression]:
        """A form's state in a branch: its `<instrument>_complete` text, read through a join
        of the form's state row (``FilteredRelation`` of `relation`, the patients' states) for
        each row of the branch, which a worker of a parallel plan can make as well."""
        alias = f"rc_fs_{key}"
        joined = {alias: FilteredRelation(relation, condition=Q(**{f"{relation}__form": key}))}
        return joined, _status_text(F(f"{alias}__status"), labels=labels, blank_for_gray=blank_for_gray)

    # The records with the single instruments' fields.
    record_values = {"rc_patient": F("pk"), "rc_record": F("study_id"),
                     "rc_rank": PatientNumber(F("pk"), numbers=ranks)}
    if data_access_groups:
        record_values["rc_dag"] = Lower("center__code")
    patient_instrument = next(instrument for instrument in instruments() if instrument.part.is_patient)
    if patient_instrument in used:
        record_values |= texts(patient_instrument)
    record_states = {}
    for key in states:
        joined, record_values[f"rc_state_{key}"] = state_text("form_states", key)
        record_states |= joined
    record_full = _compiled(patients.order_by().annotate(**record_states).values(**record_values))

    def form_rows(instrument: Instrument, values: dict[str, Expression], *,
                  with_record: bool = False) -> tuple[str, tuple]:
        """The instrument's rows of the records; `with_record`: with the record's ID and group,
        read through the rows' own join to their patient, and (`rc_state`) its form's state."""
        rows = form_rows_for_user(user=user, model=instrument.part.model).order_by()
        if with_record and instrument.part.key in states:
            joined, state = state_text("patient__form_states", instrument.part.key)
            rows = rows.annotate(**joined)
            values = {**values, "rc_state": state}
        if records is not None:
            rows = rows.filter(patient__study_id__in=records)
        if with_record:
            values = {"rc_record": F("patient__study_id"), "rc_rank": PatientNumber(F("patient_id"), numbers=ranks),
                      **values}
            if data_access_groups:
                values["rc_dag"] = Lower("patient__center__code")
        return _compiled(rows.values(rc_row=F("pk"), rc_patient=F("patient_id"), **values))

    def columns_of(instrument_columns) -> list[str]:
        """The select list: record ID, repeat instrument and instance, group, then each used
        instrument's fields and complete field, from `instrument_columns(instrument)`."""
        out = []
        for instrument in instruments():
            own, status = instrument_columns(instrument)
            out += own
            if instrument.name in complete_names:
                out.append(status)
        return out

    def blank(instrument: Instrument) -> tuple[list[str], str]:
        return [BLANK] * len(own_fields(instrument)), BLANK

    columns = [RECORD_ID_FIELD, REPEAT_INSTRUMENT, REPEAT_INSTANCE] + ([DATA_ACCESS_GROUP] if data_access_groups else [])
    # Every text a column can hold, when there is a list of them (None: any text), keyed by the
    # column or, for a column whose text depends on the branch, by (part, column).
    column_texts: dict = {RECORD_ID_FIELD: record_ids, DATA_ACCESS_GROUP: None}
    for instrument in instruments():
        columns += [field.name for field in own_fields(instrument)]
        column_texts |= {field.name: field_texts(field, labels=labels) for field in own_fields(instrument)}
        if instrument.name in complete_names:
            columns.append(instrument.complete_field)
            column_texts[instrument.complete_field] = [*FORM_STATUS_LABELS.values()] if labels else [*FORM_STATUS_LABELS]
    dag = ["p.rc_dag"] if data_access_groups else []

    # The records' row: the single instruments' fields, each instrument's rows joined.
    params: list = [*record_full[1]]
    joins = []
    aliases = {patient_instrument.name: "p"}
    # The record row's tally token: whether the record is counted (its enrollment row, always
    # there) and whether it has a row of each single instrument (joined for the flag alone
    # when none of its fields is asked for).
    record_tally = [patient_instrument.name] if patient_instrument in used else []
    record_flags = [("'1'", "1")] if record_tally else []  # each flag's SQL and the flags it can be
    for number, instrument in enumerate(used):
        if instrument.repeating or instrument.part.is_patient:
            continue
        alias = f"s{number}"
        if own_fields(instrument):
            aliases[instrument.name] = alias
        sql, sql_params = form_rows(instrument, texts(instrument))
        joins.append(f"LEFT JOIN ({sql}) {alias} ON {alias}.rc_patient = p.rc_patient")
        params += sql_params
        record_tally.append(instrument.name)
        record_flags.append((f"CASE WHEN {alias}.rc_patient IS NULL THEN '0' ELSE '1' END", "01"))

    def single_columns(instrument: Instrument) -> tuple[list[str], str]:
        if instrument.repeating:
            return blank(instrument)
        alias = aliases.get(instrument.name)
        own = [f"{alias}.rc_{number}" for number in range(len(own_fields(instrument)))] if alias else []
        return own, f"p.rc_state_{instrument.part.key}"

    # Each branch of the union: its part's sort key, its rows' tally token, its export columns'
    # SQL (BLANK for the columns of other instruments), and what follows them (FROM ...).
    record_token = " || ".join([f"'{RECORD_TALLY}'", *(flag for flag, _can_be in record_flags)])
    branches: list[tuple[int, str, str, list[str], str]] = [(0, "p.rc_rank", record_token, [
        "p.rc_record", BLANK, "CAST(NULL AS integer)", *dag, *columns_of(single_columns)],
        f"FROM ({record_full[0]}) p " + " ".join(joins))]
    # One row per instance of each repeating instrument.
    counted = [instrument.name for instrument in instruments() if instrument in used]
    row_tally: dict[str, str] = {}
    for position, instrument in enumerate(instruments(), start=1):
        if instrument not in used or not instrument.repeating:
            continue
        row_tally[str(position)] = instrument.name
        rows_sql, rows_params = form_rows(instrument, {"rc_instance": F("repeat_instance"), **texts(instrument)},
                                          with_record=True)

        def repeating_columns(other: Instrument, instrument=instrument) -> tuple[list[str], str]:
            if other.name != instrument.name:
                return blank(other)
            return [f"r.rc_{number}" for number in range(len(own_fields(other)))], "r.rc_state"

        branches.append((position, "r.rc_rank", f"'{position}'", ["r.rc_record", "CAST(%s AS text)", "r.rc_instance",
                                    *(["r.rc_dag"] if data_access_groups else []), *columns_of(repeating_columns)],
                         f"FROM ({rows_sql}) r"))
        repeat_instrument = instrument.label if labels else instrument.name
        params += [repeat_instrument, *rows_params]
        column_texts[(position, REPEAT_INSTRUMENT)] = [repeat_instrument]


    # A row's place: its record's rank and its part in one number, then its pk (the patient's,
    # for the record's row). A branch's rows sorted by these two keys, the union of the branches
    # is one merge of them (PostgreSQL's Merge Append): a part as a key of its own, constant in
    # its branch, would leave the whole union to one sort, and so would a constant second key
    # (a sort drops it, and its branch no longer gives the order the merge asks for).
    part_step = len(instruments()) + 1

    def keys(part: int, rank: str) -> str:
        return (f"CAST({rank} AS bigint) * {part_step} + {part} AS k_record, "
                f"{'r.rc_row' if part else 'p.rc_patient'} AS k_row")

    union = " UNION ALL ".join(
        "SELECT " + ", ".join([keys(part, rank), f"{tally} AS k_tally",
                               *(f"{value} AS {quote(column)}" for value, column in zip(values, columns, strict=True))])
        + f" {rest}" for part, rank, tally, values, rest in branches)

    def lines_union(line) -> str:
        """The union with each row's CSV line (or JSON values) made in its branch, sorted by
        the group of ``RECORDS_PER_COPY_ROW`` records (``k_group``) the row's record is in,
        then by the row's place: each branch sorted on its own, and the branches merged.

        A line is made after its branch's sort, by the parallel workers that sorted it, as the
        merge reads their rows: the merge then hands over its first row once every branch is
        sorted instead of once every line is made, and the lines are made while the client
        works on the rows already sent. PostgreSQL makes a column of a sorted query after the
        sort when the column is volatile: the ``clock_timestamp()`` test, always true, makes it
        so (a volatile function, unlike random(), that parallel workers may run: the branch is
        still sorted by them)."""

        def made(part: int, values: list[str]) -> str:
            return f"CASE WHEN clock_timestamp() IS NOT NULL THEN {line(part, values)} END"

        order = "ORDER BY k_group, k_record, k_row"
        union = " UNION ALL ".join(
            f"(SELECT CAST({rank} AS bigint) / {RECORDS_PER_COPY_ROW} AS k_group, {keys(part, rank)}, "
            f"{tally} AS k_tally, {made(part, values)} AS rc_line {rest} {order})"
            for part, rank, tally, values, rest in branches)
        return union if len(branches) == 1 else f"{union} {order}"

    @functools.cache  # once per column and test: the record IDs are as many as the records
    def passes(test: Callable, key) -> bool:
        return test(column_texts.get(key))

    def plain(test):
        """Whether the column's texts in the branch all pass `test` (`csv_plain`, `json_plain`)."""
        return lambda part, column: passes(test, (part, column) if (part, column) in column_texts else column)

    def grouped_lines(line, separator: str) -> str:
        """A COPY row per group of ``RECORDS_PER_COPY_ROW`` records: their lines in order,
        separated by `separator`, then their tally tokens in the same order, separated by
        spaces. The client reads a few thousand rows, not a million lines one at a time.

        The aggregates take their rows in the order of the sorted union they read, with no
        join or other step between to reorder them (PostgreSQL's way of feeding an aggregate
        sorted input from a sorted subquery). The merge of the sorted branches gives that
        order; an ``ORDER BY`` in the aggregate would have the merging process sort each
        group's lines once more (PostgreSQL 15 does not see that they come sorted)."""
        union_sql = lines_union(line)
        return (f"SELECT string_agg(u.rc_line, E'\\x{ord(separator):02x}'), string_agg(u.k_tally, ' ') "  # noqa: S608
                f"FROM ({union_sql}) u GROUP BY u.k_group ORDER BY u.k_group")

    sql = (f"SELECT u.k_tally, {', '.join(f'u.{quote(column)}' for column in columns)} "  # noqa: S608
           f"FROM ({union}) u ORDER BY u.k_record, u.k_row")
    # Each branch's JSON lines and the client's pieces around them. The lines' separator is the
    # one between values: each line starts with one, so that a COPY row's lines split into
    # each line's empty start and its values.
    json_lines = {part: json_line(part, values, columns, plain(json_plain))
                  for part, _rank, _tally, values, _rest in branches}
    json_sql = grouped_lines(lambda part, _values: json_lines[part][0], JSON_SEPARATOR)
    # Each tally token a branch's rows can carry → the branch's pieces: the record row's
    # token is one of the combinations of its flags.
    branch_pieces = {part: pieces for part, (_line, pieces) in json_lines.items()}
    json_pieces_of = {RECORD_TALLY + "".join(flags): branch_pieces[0]
                      for flags in itertools.product(*(can_be for _flag, can_be in record_flags))}
    json_pieces_of |= {token: branch_pieces[int(token)] for token in row_tally}
    csv_sql = grouped_lines(lambda part, values: csv_line(part, values, columns, plain(csv_plain)), "\n")
    return RecordQuery(columns=columns, sql=numbers_clause + sql, json_sql=numbers_clause + json_sql,
                       json_pieces=json_pieces_of, csv_sql=numbers_clause + csv_sql, params=(*numbers_params, *params),
                       counted=counted, record_tally=record_tally, row_tally=row_tally)


def record_ranks(pks: Sequence[int], study_ids: Sequence[str]) -> tuple[PatientNumbers, list[str]]:
    """Each record's place in the export, given the records' pks and their study IDs (in
    their order), records sorted by ID character by character (as Python compares text: the
    same order on every database, whatever its collation), and the IDs in that order. The
    query sorts by these numbers, which is quicker than comparing the IDs' text."""
    order = sorted(range(len(pks)), key=study_ids.__getitem__)
    ranks = patient_numbers([pks[index] for index in order], range(1, len(order) + 1))
    return ranks, [study_ids[index] for index in order]


CSV_QUOTED = (",", '"', "\r", "\n")  # what makes Python's csv module (and COPY) quote a field


def csv_plain(texts: list[str] | None) -> bool:
    """Whether none of the texts (None: any text) holds what CSV quotes (the texts searched as
    one: a record ID list holds as many texts as the export has records)."""
    if texts is None:
        return False
    joined = "".join(texts)
    return not any(character in joined for character in CSV_QUOTED)


def field_texts(field: Field, *, labels: bool) -> list[str] | None:
    """Every text the field can hold in an export (None for any text: free text): dates, numbers
    and yes/no hold none that CSV quotes or JSON escapes (an empty list stands for them), codes
    and missing data codes (or their labels) the code lists'."""
    texts: list[str] = []
    if field.is_derived:
        if field.variable.kind == BOOLEAN:
            texts = [text for pair in YES_NO_CHOICES for text in pair]
        elif field.variable.kind == CODE:
            if not field.variable.choices:
                return None
            texts = [str(code) for code, _label in field.variable.choices]
    elif field.field_type in ("yesno", "radio", "dropdown"):
        texts = [text for code, label in field.choices() for text in ((code, label) if labels else (code,))]
    elif not field.validation:  # free text
        return None
    if field.accepts_code:
        texts += [str(text) for code, label in MissingCode.choices for text in ((code, label) if labels else (code,))]
    return texts


def csv_line(part: int, values: list[str], columns: list[str], plain: Callable[[int, str], bool]) -> str:
    """The SQL of a branch's rows as CSV lines, as Python's csv module writes them (a blank
    value an empty field, a field quoted when it holds a comma, a quote or a line break), from
    the branch's column SQL (`values`): the commas of the blank columns are one constant, and
    only a column that may need quotes (`plain`) is looked at. Each value's SQL appears once
    and in its place, so the line takes the union's parameters in their order."""
    line = TextSQL()
    for number, (value, column) in enumerate(zip(values, columns, strict=True)):
        if number:
            line.constant(",")
        if value == BLANK or (column == REPEAT_INSTANCE and not part):
            continue
        if column == REPEAT_INSTANCE:
            line.expression(f"CAST({value} AS text)")
        elif plain(part, column):
            line.expression(value)
        elif "%s" in value:  # a parameter: read once, by a subquery
            line.expression(f"(SELECT {_csv_quoted('v')} FROM (SELECT {value} AS v) q)")  # noqa: S608
        else:
            line.expression(_csv_quoted(value))
    return line.sql


def _csv_quoted(value: str) -> str:
    return (f"CASE WHEN {value} ~ E'[\",\\r\\n]' THEN '\"' || replace({value}, '\"', '\"\"') || '\"' "
            f"ELSE {value} END")


JSON_SEPARATOR = "\x1f"  # between a row's JSON values: a JSON text holds no raw control character
RECORDS_PER_COPY_ROW = 32


def _json_slot(part: int, value: str, column: str) -> bool:
    """Whether the column's JSON value in a row of the branch comes from the database (else "")."""
    return value != BLANK and not (column == REPEAT_INSTANCE and not part)


# A piece of a row's JSON object between two of its values as long as this or longer is the
# client's to write; a shorter one (a key or a few blank keys) the database's, in the line.
JSON_CLIENT_PIECE = 128


def _json_object(part: int, values: list[str], columns: list[str],
                 plain: Callable[[int, str], bool]) -> tuple[list[str], list[str]]:
    """A branch's rows' JSON object keyed by the columns in their order, as the SQL of each
    value the branch holds and the text around them (one more: before the first, between each
    two, after the last). A value is its JSON text ("" when blank; the instance a number), or
    the text as it is when it never needs an escape (`plain`: codes, dates, numbers), which
    the text around quotes. The columns the branch leaves blank are "" in the text around."""
    around, slots, current = [], [], "{"
    for number, (value, column) in enumerate(zip(values, columns, strict=True)):
        current += ("," if number else "") + json.dumps(column, ensure_ascii=False) + ":"
        if not _json_slot(part, value, column):
            current += '""'
        elif column == REPEAT_INSTANCE:
            around.append(current)
            slots.append(f"CAST({value} AS text)")
            current = ""
        elif plain(part, column):
            around.append(current + '"')
            slots.append(value)  # a blank value (NULL) is nothing in the line (``TextSQL``)
            current = '"'
        else:
            around.append(current)
            slots.append(f"COALESCE(CAST(to_json({value}) AS text), '\"\"')")
            current = ""
    around.append(current + "}")
    return around, slots


def _client_piece(around: list[str], number: int) -> bool:
    """Whether the text before the value `number` (or after the last) is written by the client."""
    return number in (0, len(around) - 1) or len(around[number]) >= JSON_CLIENT_PIECE


def json_line(part: int, values: list[str], columns: list[str],
              plain: Callable[[int, str], bool]) -> tuple[str, list[bytes]]:
    """A branch's rows' JSON objects as the SQL of their lines and the pieces the client writes
    around what the lines hold between their separators (the texts before the first value and
    after the last, and the long ones between: a run of blank columns). A line holds the values
    and the short texts between them, with a ``JSON_SEPARATOR`` in place of each client's piece
    but the last; it starts with one, where the first piece goes."""
    around, slots = _json_object(part, values, columns, plain)
    line = TextSQL()
    for number, slot in enumerate(slots):
        line.constant(JSON_SEPARATOR if _client_piece(around, number) else around[number])
        line.expression(slot)
    return line.sql, [text.encode() for number, text in enumerate(around) if _client_piece(around, number)]


def record_counts(query: RecordQuery, tally: Counter) -> dict[str, int]:
    """Rows of each instrument in the export, from how many of its rows had each tally token
    (``RecordQuery``): records, records with a row of each single instrument, rows of each
    repeating one."""
    counts = dict.fromkeys(query.counted, 0)
    for token, number in tally.items():
        if token.startswith(RECORD_TALLY):
            for name, flag in zip(query.record_tally, token[len(RECORD_TALLY):], strict=True):
                if flag == "1":
                    counts[name] += number
        else:
            counts[query.row_tally[token]] += number
    return counts


def record_rows(query: RecordQuery, *, tally: Counter, chunk_size: int = CHUNK_SIZE) -> Iterator[tuple]:
    """The export's rows as tuples (text or None, the instance an int or None), streamed from a
    server-side cursor on PostgreSQL; each row's tally token counted in `tally`."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(query.sql, query.params)
        while batch := cursor.fetchmany(chunk_size):
            tally.update(row[0] for row in batch)
            for row in batch:
                yield row[1:]


@dataclass(frozen=True)
class RecordExport:
    """The export's columns and rows (dicts of strings, the instance an int or ""), and how
    many rows each instrument gave."""

    columns: list[str]
    rows: list[dict]
    counts: dict[str, int]


def record_export_for_user(*, user, records: list[str] | None, fields: list[Field], complete: list[Instrument],
                           labels: bool = False, data_access_groups: bool = False,
                           blank_for_gray: bool = False) -> RecordExport:
    """The whole export in memory (tests, small sets): the rows of `record_query_for_user` as
    REDCap's JSON export holds them."""
    with export_snapshot():
        query = record_query_for_user(user=user, records=records, fields=fields, complete=complete, labels=labels,
                                      data_access_groups=data_access_groups, blank_for_gray=blank_for_gray)
        tally = Counter()
        rows = [{column: "" if value is None else value for column, value in zip(query.columns, row, strict=True)}
                for row in record_rows(query, tally=tally)]
        return RecordExport(columns=query.columns, rows=rows, counts=record_counts(query, tally))
