"""File formats of a de-identified dataset, each a generator of bytes.

- CSV: a zip written incrementally to a non-seekable sink (zipfile then uses data
  descriptors), one CSV per table plus the data dictionary; memory holds one chunk.
- JSON: one document written row by row (on PostgreSQL, blocks of the objects the database
  writes).
- CDISC ODM 1.3.2: metadata (every OID defined), then one SubjectData per patient, the
  tables' cursors merged on the patient key; memory holds one patient.
- Stata .dta, SPSS .sav, SAS .xpt: ``analytics.exports.stata`` (Stata 118),
  ``analytics.exports.spss`` (SPSS system file) and ``analytics.exports.xport`` (SAS
  transport v5) write one table to a temporary file, which is streamed into a zip with the
  dictionary as soon as it is written. On PostgreSQL the table is read from the CSV the
  database writes (COPY), parsed as it arrives, and converted column by column
  (``table_frames_from_csv``), elsewhere from the rows (``table_frame``). Each file is
  written frame by frame (``STAT_CHUNK_ROWS`` rows; ``analytics.exports.records``), so
  memory holds one frame, whatever the table.

A question answered with a missing-data code is written as ``analytics.exports.dictionary``
describes: an empty value and the code in ``<name>_missing``, and the format's own missing
value where it has one (Stata extended missing, SPSS user-missing, SAS special missing, ODM
IsNull with the code flagged).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from analytics.exports.dataset import (
    STAT_DATE_EPOCHS,
    ExportOptions,
    coded_columns,
    csv_codes_as_numbers,
    csv_date_epoch,
    decimal_places,
    has_code_list,
    numeric_codes,
    table_columns,
    variable_type,
)
from analytics.exports.dictionary import (
    CTCAE_TERM_COLUMNS,
    MISSING_CODE_COLUMNS,
    ODM_MISSING_CODE_LIST,
    SAS_MISSING,
    SPSS_MISSING,
    STATA_MISSING,
    code_list,
    ctcae_term_entries,
    dictionary_csv_rows,
    missing_code_entries,
    table_csv_rows,
)
from analytics.exports.records import RecordSpill, blank_padded
from analytics.exports.spss import SpssColumn, write_sav_chunks
from analytics.exports.stata import StataColumn, write_dta_chunks
from analytics.exports.variables import BOOLEAN, CODE, DATE, MISSING, Table, Variable, sas_dataset_names
from analytics.exports.xport import XportColumn, ibm_floats, sas_names, write_xport_chunks
from patients.clinical import MissingCode

FLUSH_ROWS = 1000
FLUSH_BYTES = 256 * 1024
# Rows of a Stata, SPSS or SAS file converted and laid out at a time (memory holds one such chunk).
STAT_CHUNK_ROWS = 20_000
STUDY_OID = "INO-CD22"
README = (
    "De-identified dataset of the INO-CD22 registry.\n"
    "Patient key: study_id (pseudonymous). No local hospital ID, initials, date of birth or free text.\n"
    "See data_dictionary.csv for every variable, its type, unit and code list.\n"
    "A question answered with a missing-data code has no value and its code (UNK, ND, NA) in the\n"
    "column <variable>_missing; missing_codes.csv says what stands for each code in each format.\n"
    "ctcae_v5_terms.csv lists the CTCAE v5.0 terms (MedDRA code, term, system organ class).\n"
    "Stata, SPSS and SAS files: a variable with a code list is a number labelled with the codes' labels\n"
    "(SAS: formats.sas), in both value modes, so an empty one is missing; a text variable without a code\n"
    "list (CTCAE term, class, specified term) is empty text when empty: \"\" in Stata and SPSS, blank in SAS,\n"
    "which missing() takes as missing. Dates are numbers with a date format. SAS names datasets and\n"
    "variables in 8 characters and labels in 40: see sas_dataset, sas_name and sas_label in the dictionary.\n"
    "pandas.read_sas reads a SAS zero as 5.4e-79 (its IBM-float conversion); SAS, R and pyreadstat read 0.\n"
)


@dataclass
class ExportSource:
    """What a format writer reads: the tables, a row iterator per table, the dictionary."""

    options: ExportOptions
    tables: tuple[Table, ...]
    rows: Callable[[Table], Iterator[tuple]]  # (patient pk, row) in patient order
    dictionary: list[dict]
    meta: dict
    # The table's rows as CSV bytes written by the database, when it can (else None).
    csv_blocks: Callable[[Table], Iterator[bytes]] | None = None
    # The table's rows as JSON objects written by the database, when it can (else None): blocks
    # of objects separated by ",\n".
    json_blocks: Callable[[Table], Iterator[bytes]] | None = None


class ByteSink:
    """A write-only, non-seekable file whose bytes the generator hands on and forgets."""

    def __init__(self):
        self._chunks: list[bytes] = []

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _zip_writer(sink: ByteSink) -> zipfile.ZipFile:
    # Level 1: most of deflate's gain on CSV at a fraction of its time.
    return zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)


def _csv_entry(archive: zipfile.ZipFile, sink: ByteSink, name: str, rows: Iterable[Iterable]) -> Iterator[bytes]:
    with archive.open(name, "w", force_zip64=True) as entry:
        text = io.TextIOWrapper(entry, encoding="utf-8", newline="", write_through=False)
        writer = csv.writer(text, lineterminator="\n")
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) >= FLUSH_ROWS:
                writer.writerows(batch)
                batch.clear()
                text.flush()
                yield sink.drain()
        writer.writerows(batch)
        text.flush()
        text.detach()
    yield sink.drain()


def _csv_blocks_entry(archive: zipfile.ZipFile, sink: ByteSink, name: str, header: list[str],
                      blocks: Iterable[bytes]) -> Iterator[bytes]:
    """A CSV entry whose rows arrive as CSV bytes already (from the database's COPY)."""
    with archive.open(name, "w", force_zip64=True) as entry:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(header)
        entry.write(text.getvalue().encode())
        pending = 0
        for block in blocks:
            entry.write(block)
            pending += len(block)
            if pending >= FLUSH_BYTES:
                pending = 0
                yield sink.drain()
    yield sink.drain()


def write_csv_zip(source: ExportSource) -> Iterator[bytes]:
    sink = ByteSink()
    archive = _zip_writer(sink)
    archive.writestr("README.txt", README)
    for table in source.tables:
        header = [variable.name for variable in table_columns(table)]
        if source.csv_blocks is not None:
            yield from _csv_blocks_entry(archive, sink, f"{table.name}.csv", header, source.csv_blocks(table))
            continue
        rows = (row for _pk, row in source.rows(table))
        yield from _csv_entry(archive, sink, f"{table.name}.csv", _prepend(header, rows))
    yield from _dictionary_entries(archive, sink, source)
    archive.close()
    yield sink.drain()


def _dictionary_entries(archive: zipfile.ZipFile, sink: ByteSink, source: ExportSource) -> Iterator[bytes]:
    """The dictionary's files of a zip: the variables, the missing-data codes, the CTCAE terms."""
    yield from _csv_entry(archive, sink, "data_dictionary.csv", dictionary_csv_rows(source.dictionary))
    yield from _csv_entry(archive, sink, "missing_codes.csv", table_csv_rows(missing_code_entries(),
                                                                             MISSING_CODE_COLUMNS))
    yield from _csv_entry(archive, sink, "ctcae_v5_terms.csv", table_csv_rows(ctcae_term_entries(),
                                                                              CTCAE_TERM_COLUMNS))


def _prepend(first, rest: Iterable) -> Iterator:
    yield first
    yield from rest


def _json_default(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def _json_object(keys: list[str], row: Iterable, dumps: Callable) -> str:
    """A row's JSON object: a decimal written with its column's decimal places (the rows give
    them, see ``table_rows``), as the database writes it; json would write the float."""
    return "{" + ", ".join(key + (str(value) if isinstance(value, Decimal) else dumps(value))
                           for key, value in zip(keys, row, strict=True)) + "}"


def write_json(source: ExportSource) -> Iterator[bytes]:
    dumps = json.JSONEncoder(default=_json_default, ensure_ascii=False).encode
    yield ('{"meta": ' + dumps(source.meta) + ',\n"dictionary": ' + dumps(source.dictionary)
           + ',\n"missing_codes": ' + dumps(missing_code_entries())
           + ',\n"ctcae_terms": ' + dumps(ctcae_term_entries()) + ',\n"tables": {').encode()
    for number, table in enumerate(source.tables):
        names = [variable.name for variable in table_columns(table)]
        yield (("," if number else "") + "\n" + dumps(table.name) + ": [").encode()
        if source.json_blocks is not None:
            separator = b"\n"
            for block in source.json_blocks(table):
                yield separator + block
                separator = b",\n"
            yield b"]"
            continue
        keys = [dumps(name) + ": " for name in names]
        objects = (_json_object(keys, row, dumps) for _pk, row in source.rows(table))
        batch, separator = [], "\n"
        for text in objects:
            batch += (separator, text)
            separator = ",\n"
            if len(batch) >= 2 * FLUSH_ROWS:
                yield "".join(batch).encode()
                batch.clear()
        batch.append("]")
        yield "".join(batch).encode()
    yield b"\n}}\n"


# --- CDISC ODM 1.3.2 -----------------------------------------------------------------

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
EVENT_OID = "SE.REGISTRY"
MDV_OID = "MDV.1"


def form_oid(table: Table) -> str:
    return f"F.{table.name.upper()}"


def item_group_oid(table: Table) -> str:
    return f"IG.{table.name.upper()}"


def item_oid(table: Table, variable: Variable) -> str:
    return f"IT.{table.name.upper()}.{variable.name.upper()}"


def code_list_oid(table: Table, variable: Variable) -> str:
    return f"CL.{table.name.upper()}.{variable.name.upper()}"


def odm_data_type(variable: Variable, options: ExportOptions) -> str:
    kind = variable_type(variable, options)
    return {"integer": "integer", "decimal": "float", "date": "date"}.get(kind, "text")


def _odm_value(value) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _translated(text: str) -> str:
    return f'<TranslatedText xml:lang="en">{escape(text)}</TranslatedText>'


def odm_metadata(source: ExportSource) -> str:
    options = source.options
    parts = [f'<MetaDataVersion OID="{MDV_OID}" Name="INO-CD22 de-identified export">', "<Protocol>",
             f'<StudyEventRef StudyEventOID="{EVENT_OID}" OrderNumber="1" Mandatory="Yes"/>', "</Protocol>",
             f'<StudyEventDef OID="{EVENT_OID}" Name="Registry casebook" Repeating="No" Type="Common">']
    for number, table in enumerate(source.tables, start=1):
        parts.append(f'<FormRef FormOID="{form_oid(table)}" OrderNumber="{number}" Mandatory="No"/>')
    parts.append("</StudyEventDef>")
    for table in source.tables:
        parts.append(f'<FormDef OID="{form_oid(table)}" Name={quoteattr(str(table.label))} Repeating="No">'
                     f'<ItemGroupRef ItemGroupOID="{item_group_oid(table)}" Mandatory="No"/></FormDef>')
    for table in source.tables:
        repeating = "Yes" if table.repeating else "No"
        parts.append(f'<ItemGroupDef OID="{item_group_oid(table)}" Name="{table.name}" Repeating="{repeating}">')
        for number, variable in enumerate(table.variables, start=1):
            parts.append(f'<ItemRef ItemOID="{item_oid(table, variable)}" OrderNumber="{number}" Mandatory="No"/>')
        parts.append("</ItemGroupDef>")
    code_lists = []
    for table in source.tables:
        for variable in table.variables:
            data_type = odm_data_type(variable, options)
            parts.append(f'<ItemDef OID="{item_oid(table, variable)}" Name="{variable.name}" DataType="{data_type}">')
            parts.append(f"<Question>{_translated(str(variable.label))}</Question>")
            if has_code_list(variable):
                parts.append(f'<CodeListRef CodeListOID="{code_list_oid(table, variable)}"/>')
                items = "".join(
                    f"<CodeListItem CodedValue={quoteattr(item['label'] if options.values == 'labels' else item['code'])}>"
                    f"<Decode>{_translated(item['label'])}</Decode></CodeListItem>"
                    for item in code_list(variable)
                )
                code_lists.append(f'<CodeList OID="{code_list_oid(table, variable)}" Name="{variable.name}" '
                                  f'DataType="{data_type}">{items}</CodeList>')
            parts.append("</ItemDef>")
    parts.extend(code_lists)
    items = "".join(f"<CodeListItem CodedValue={quoteattr(code)}><Decode>{_translated(str(label))}</Decode>"
                    "</CodeListItem>" for code, label in MissingCode.choices)
    parts.append(f'<CodeList OID="{ODM_MISSING_CODE_LIST}" Name="missing_data_code" DataType="text">{items}</CodeList>')
    parts.append("</MetaDataVersion>")
    return "".join(parts)


class _Peekable:
    def __init__(self, iterator: Iterator):
        self._iterator = iterator
        self.head = next(iterator, None)

    def take_while_patient(self, patient_pk) -> list:
        taken = []
        while self.head is not None and self.head[0] <= patient_pk:
            if self.head[0] == patient_pk:
                taken.append(self.head[1])
            self.head = next(self._iterator, None)
        return taken


def write_odm(source: ExportSource) -> Iterator[bytes]:
    meta = source.meta
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ODM xmlns="{ODM_NS}" ODMVersion="1.3.2" FileType="Snapshot" '
        f'FileOID={quoteattr("INO-CD22.export." + str(meta.get("export_id", "")))} '
        f'CreationDateTime="{meta["created"]}" SourceSystem="inocd22">\n'
        f'<Study OID="{STUDY_OID}"><GlobalVariables><StudyName>INO-CD22</StudyName>'
        "<StudyDescription>De-identified INO-CD22 registry dataset</StudyDescription>"
        "<ProtocolName>INO-CD22</ProtocolName></GlobalVariables>"
    ).encode()
    yield odm_metadata(source).encode()
    yield f'</Study>\n<ClinicalData StudyOID="{STUDY_OID}" MetaDataVersionOID="{MDV_OID}">\n'.encode()
    patients_table, *form_tables = source.tables
    cursors = [(table, _Peekable(source.rows(table))) for table in form_tables]
    item_oids = {table.name: _odm_items(table) for table in source.tables}
    batch = []
    for patient_pk, patient_row in source.rows(patients_table):
        parts = [f"<SubjectData SubjectKey={quoteattr(patient_row[0])}>"
                 f'<StudyEventData StudyEventOID="{EVENT_OID}">']
        parts.append(_odm_form(patients_table, [patient_row], item_oids))
        for table, cursor in cursors:
            rows = cursor.take_while_patient(patient_pk)
            if rows:
                parts.append(_odm_form(table, rows, item_oids))
        parts.append("</StudyEventData></SubjectData>\n")
        batch.append("".join(parts))
        if len(batch) >= FLUSH_ROWS // 10:
            yield "".join(batch).encode()
            batch.clear()
    yield "".join(batch).encode()
    yield b"</ClinicalData>\n</ODM>\n"


def _odm_items(table: Table) -> list[tuple[str, int, int | None]]:
    """(item OID, position of its value in a row, position of its missing-data code or None)."""
    codes = coded_columns(table)
    return [(item_oid(table, variable), number, codes.get(number))
            for number, variable in enumerate(table_columns(table)) if number and variable.kind != MISSING]


def _odm_form(table: Table, rows: list[tuple], item_oids: dict) -> str:
    """The rows of a table; a coded answer is an ItemData without Value, ``IsNull="Yes"``, whose
    Annotation flags the code."""
    items = item_oids[table.name]
    parts = [f'<FormData FormOID="{form_oid(table)}">']
    for repeat, row in enumerate(rows, start=1):
        repeat_key = f' ItemGroupRepeatKey="{repeat}"' if table.repeating else ""
        parts.append(f'<ItemGroupData ItemGroupOID="{item_group_oid(table)}"{repeat_key}>')
        for oid, number, code_number in items:
            value = row[number]
            if value is not None:
                parts.append(f'<ItemData ItemOID="{oid}" Value={quoteattr(_odm_value(value))}/>')
            elif code_number is not None and row[code_number]:
                parts.append(f'<ItemData ItemOID="{oid}" IsNull="Yes"><Annotation SeqNum="1"><Flag>'
                             f'<FlagValue CodeListOID="{ODM_MISSING_CODE_LIST}">{escape(row[code_number])}</FlagValue>'
                             "</Flag></Annotation></ItemData>")
        parts.append("</ItemGroupData>")
    parts.append("</FormData>")
    return "".join(parts)


# --- Stata, SPSS, SAS -----------------------------------------------------------------------

STAT_EXTENSIONS = {"dta": "dta", "sav": "sav", "xpt": "xpt"}
# Longest variable label each format keeps: characters (Stata, SAS), bytes of UTF-8 (SPSS).
LABEL_LIMITS = {"dta": 80, "sav": 255, "xpt": 40}


def stat_label(variable: Variable, file_format: str) -> str:
    """The variable's label in the file: SAS keeps 40 characters, so SAS gets the label
    written to fit (``Variable.sas_label``); Stata (80 characters) and SPSS (255 bytes) keep
    the question, or that short label where the question is longer."""
    label = str(variable.label)
    length = len(label.encode("utf-8")) if file_format == "sav" else len(label)
    if file_format == "xpt" or length > LABEL_LIMITS[file_format]:
        return variable.sas_label  # the label written to fit, never the question cut
    return label


def stat_value_labels(variable: Variable, options: ExportOptions, *, coded: bool = False) -> dict | None:
    """Numeric code → label, for the columns that carry a code list (in both value modes:
    Stata, SPSS and SAS hold them as labelled numbers), and (SPSS: ``coded``) the
    user-missing numbers of the missing-data codes. A continuous variable has none (the
    top-coded age is flagged by ``age_90_or_over``, not labelled)."""
    labels = None
    if variable.kind != MISSING and has_code_list(variable):
        labels = {float(item["numeric_code"]): item["label"] for item in code_list(variable)}
    if coded:
        labels = {**(labels or {}), **{float(SPSS_MISSING[code]): f"{label} ({code})"
                                       for code, label in MissingCode.choices}}
    return labels


def _has_numeric_codes(variable: Variable) -> bool:
    return variable.kind in (CODE, BOOLEAN) and has_code_list(variable)


def _is_numeric(variable: Variable, options: ExportOptions) -> bool:
    """Whether the variable is a number (or a date) in Stata, SPSS and SAS files."""
    if _has_numeric_codes(variable):
        return True
    return variable.kind == DATE or variable_type(variable, options) in ("integer", "decimal")


def _missing_value(variable: Variable, code: str, options: ExportOptions):
    """What stands for a coded answer in the column (see ``analytics.exports.dictionary``)."""
    file_format = options.file_format
    if not _is_numeric(variable, options):
        return code if file_format == "sav" else ""
    if file_format == "dta":
        return STATA_MISSING[code]
    if file_format == "sav":
        return float(SPSS_MISSING[code])
    return SAS_MISSING[code]


# A date is a number in each format: days since 1960 (Stata, SAS), seconds since the
# Gregorian calendar began (SPSS), with the format's date display format, so that a date
# column is a date even when every value is empty.
DATE_NUMBERS = {file_format: (epoch, 86400 if file_format == "sav" else 1)
                for file_format, epoch in STAT_DATE_EPOCHS.items()}
DATE_DISPLAY = {"dta": "%td", "sav": "DATE11"}


def table_frame(table: Table, rows: Iterable[tuple], options: ExportOptions):
    """One table as a DataFrame typed for the Stata, SPSS and SAS writers: numbers as float64
    (NaN missing), dates as the format's date numbers, a code list's codes as their numbers
    (the labels are value labels). A coded answer is the format's own missing value
    (``_missing_value``); a Stata or SAS column holding one is of objects (the numbers and the
    letters of the missing values)."""
    import pandas as pd

    columns = table_columns(table)
    data = list(zip(*(row for _pk, row in rows), strict=True)) or [() for _ in columns]
    codes_of = {number: data[code_number] for number, code_number in coded_columns(table).items()}
    epoch, scale = DATE_NUMBERS[options.file_format]
    frame = {}
    for number, (variable, values) in enumerate(zip(columns, data, strict=True)):
        kind = variable_type(variable, options)
        if _has_numeric_codes(variable):
            numbers = numeric_codes(variable)
            values = [float(numbers[str(value)]) if value is not None else None for value in values]
        elif kind == "date":
            values = [float((value - epoch).days * scale) if value is not None else None for value in values]
        elif kind in ("integer", "decimal"):
            values = [float(value) if value is not None else None for value in values]
        else:
            values = ["" if value is None else str(value) for value in values]
        codes = codes_of.get(number)
        coded = codes is not None and any(codes)
        if coded:
            values = [_missing_value(variable, code, options) if code else value
                      for value, code in zip(values, codes, strict=True)]
        if _is_numeric(variable, options) and not (coded and options.file_format != "sav"):
            frame[variable.name] = pd.Series(values, dtype="float64")
        else:
            frame[variable.name] = pd.Series(values, dtype=object)
    return pd.DataFrame(frame, columns=[variable.name for variable in columns])


def table_frame_from_csv(table: Table, blocks: Iterable[bytes], options: ExportOptions):
    """``table_frame`` of the table's CSV as the database writes it (``csv_blocks``): the
    same frame, its columns converted whole by pandas rather than value by value."""
    import pandas as pd

    frames = list(table_frames_from_csv(table, blocks, options, chunk_rows=None))
    return frames[0] if len(frames) == 1 else pd.concat(frames)


class _BlockReader(io.RawIOBase):
    """A readable file over an iterator of byte blocks, for pandas to parse as they arrive."""

    def __init__(self, blocks: Iterable[bytes]):
        self._blocks = iter(blocks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = memoryview(bytes(block))
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def table_frames_from_csv(table: Table, blocks: Iterable[bytes], options: ExportOptions, *,
                          chunk_rows: int | None = STAT_CHUNK_ROWS) -> Iterator:
    """``table_frame_from_csv`` in frames of at most ``chunk_rows`` rows (all of them when
    None), parsed from the blocks as they arrive: memory holds one frame. An empty table is
    one empty frame, so that a writer always has the columns."""
    import pandas as pd

    columns = table_columns(table)
    names = [variable.name for variable in columns]
    # Every value as text ("NA" is a code, not a missing value), an empty field as "" (which
    # spares pandas a pass over the column for missing values), but in the numbers: missing.
    numbers = {variable.name: "float64" for variable in columns
               if (not _has_numeric_codes(variable) and variable_type(variable, options) in ("integer", "decimal"))
               or (variable_type(variable, options) == "date" and csv_date_epoch(options))
               or (_has_numeric_codes(variable) and csv_codes_as_numbers(options))}
    reader = io.BufferedReader(_BlockReader(blocks), buffer_size=1 << 20)
    if not reader.peek(1):
        yield table_frame(table, [], options)
        return
    parsed = pd.read_csv(reader, header=None, names=names, dtype={name: numbers.get(name, object) for name in names},
                         keep_default_na=False, na_values={name: [""] for name in numbers}, encoding="utf-8",
                         chunksize=chunk_rows)
    if chunk_rows is None:
        yield _frame_converted(table, parsed, options)
        return
    with parsed:
        for raw in parsed:
            yield _frame_converted(table, raw.reset_index(drop=True), options)


def _frame_converted(table: Table, raw, options: ExportOptions):
    """The frame of ``table_frame`` from the table's CSV read as text, an empty field "" (numbers
    as float64, an empty one NaN)."""
    import numpy as np
    import pandas as pd

    columns = table_columns(table)
    names = [variable.name for variable in columns]
    codes_of = {number: raw[names[code_number]] for number, code_number in coded_columns(table).items()}
    epoch, scale = DATE_NUMBERS[options.file_format]
    frame = {}
    for number, variable in enumerate(columns):
        values = raw[variable.name]
        kind = variable_type(variable, options)
        if _has_numeric_codes(variable) and csv_codes_as_numbers(options):  # the numbers already
            series = values
        elif _has_numeric_codes(variable):
            series = pd.Series(_code_numbers(values, numeric_codes(variable)), index=values.index)
        elif kind == "date" and csv_date_epoch(options):  # days from the epoch already
            series = values * scale if scale != 1 else values
        elif kind == "date":
            days = values.to_numpy().astype("datetime64[D]")  # "" is NaT
            offsets = (days - np.datetime64(epoch, "D")).astype("float64") * scale
            series = pd.Series(np.where(np.isnat(days), np.nan, offsets), index=values.index)
        elif kind in ("integer", "decimal"):
            series = values
        else:
            series = values
        codes = codes_of.get(number)
        mask = codes is not None and codes.to_numpy() != ""
        coded = codes is not None and mask.any()
        if coded:
            stand_in = {code: _missing_value(variable, code, options) for code in SAS_MISSING}
            if not (_is_numeric(variable, options) and options.file_format == "sav"):
                series = series.astype(object)
            series[mask] = codes[mask].map(stand_in)
        if _is_numeric(variable, options) and not (coded and options.file_format != "sav"):
            series = series.astype("float64")
        frame[variable.name] = series
    return pd.DataFrame(frame, columns=names)


def _code_numbers(values, numbers: dict[str, int]):
    """The numbers of a column of codes (float64, NaN where empty or not a code), looked up
    for the whole column at once: pandas' ``map`` goes value by value on a column of text."""
    import numpy as np
    import pandas as pd

    positions = pd.Index(list(numbers)).get_indexer(values)
    found = np.append(np.array(list(numbers.values()), dtype="float64"), np.nan)
    return found[positions]  # position -1 (not found) is the NaN appended last


def _date_columns(table: Table, options: ExportOptions) -> list[str]:
    return [variable.name for variable in table_columns(table) if variable_type(variable, options) == "date"]


def table_frames(source: ExportSource, table: Table, *, chunk_rows: int) -> Iterator:
    """The table's frames for a Stata, SPSS or SAS file, of at most ``chunk_rows`` rows: from
    the database's CSV when it writes one, else from the rows. An empty table is one empty
    frame."""
    if source.csv_blocks is not None:
        yield from table_frames_from_csv(table, source.csv_blocks(table), source.options, chunk_rows=chunk_rows)
        return
    rows = source.rows(table)
    batch = list(itertools.islice(rows, chunk_rows))
    yield table_frame(table, batch, source.options)
    while batch := list(itertools.islice(rows, chunk_rows)):
        yield table_frame(table, batch, source.options)


def _write_stat_file(frames: Iterator, path: str, table: Table, options: ExportOptions) -> None:
    """The table's file at ``path``, written frame by frame."""
    columns = table_columns(table)
    file_format = options.file_format
    labels = [stat_label(variable, file_format) for variable in columns]
    if file_format == "xpt":
        _write_xport_file(frames, path, table, options, labels)
        return
    codable = {variable.name for variable in columns if table.accepts_code(variable)}
    value_labels = {
        variable.name: found for variable in columns
        if (found := stat_value_labels(variable, options, coded=file_format == "sav" and variable.name in codable
                                       and _is_numeric(variable, options))) is not None
    }
    dates = {name: DATE_DISPLAY[file_format] for name in _date_columns(table, options)}
    if file_format == "dta":
        _write_dta_file(frames, path, table, options, labels, value_labels, dates)
    else:
        _write_sav_file(frames, path, table, options, labels, value_labels, dates, codable)


def _write_dta_file(frames: Iterator, path: str, table: Table, options: ExportOptions, labels: list[str],
                    value_labels: dict, dates: dict) -> None:
    """The table as a Stata file (``analytics.exports.stata``), frame by frame: a coded number
    is its extended missing value (.u, .d, .n), a code list's number carries its value labels."""
    variables = table_columns(table)
    numeric = [_is_numeric(variable, options) for variable in variables]
    stata_labels = {variable.name: {int(number): text for number, text in value_labels[variable.name].items()}
                    for variable in variables if variable.name in value_labels}
    chunks = (_stata_columns(frame, variables, numeric, labels, stata_labels, dates) for frame in frames)
    with open(path, "wb") as handle:
        write_dta_chunks(handle, chunks=chunks, data_label=f"INO-CD22 {table.name}")


def _stata_columns(frame, variables: list[Variable], numeric: list[bool], labels: list[str], value_labels: dict,
                   dates: dict) -> list[StataColumn]:
    import pandas as pd

    columns = []
    for variable, is_numeric, label in zip(variables, numeric, labels, strict=True):
        values = frame[variable.name]
        extended = {}
        if is_numeric and values.dtype == object:
            extended = {letter: (values == letter).to_numpy() for letter in STATA_MISSING.values()}
            values = pd.to_numeric(values.where(~values.isin(list(STATA_MISSING.values()))), errors="coerce")
        columns.append(StataColumn(
            variable.name, label, values.to_numpy(dtype="float64") if is_numeric else values.to_numpy(dtype=object),
            is_numeric, display_format=dates.get(variable.name, ""), extended_missing=extended,
            value_labels=value_labels.get(variable.name)))
    return columns


def _write_sav_file(frames: Iterator, path: str, table: Table, options: ExportOptions, labels: list[str],
                    value_labels: dict, dates: dict, codable: set[str]) -> None:
    """The table as an SPSS system file (``analytics.exports.spss``), frame by frame: a coded
    answer is a user-missing value (a number's ``SPSS_MISSING`` number, labelled with its
    code; a string's code), a code list's number carries its value labels and is nominal."""
    import numpy as np

    columns = []  # each frame's columns are these with the frame's values
    for variable, label in zip(table_columns(table), labels, strict=True):
        numeric = _is_numeric(variable, options)
        missing = tuple(float(number) for number in SPSS_MISSING.values()) if numeric else tuple(SPSS_MISSING)
        columns.append(SpssColumn(
            variable.name, label, np.empty(0), numeric, display_format=dates.get(variable.name, ""),
            decimals=decimal_places(table, variable) or 0, nominal=_has_numeric_codes(variable),
            missing_values=missing if variable.name in codable else (), value_labels=value_labels.get(variable.name)))
    chunks = ([replace(column, values=frame[column.name].to_numpy(dtype="float64" if column.numeric else object))
               for column in columns] for frame in frames)
    with open(path, "wb") as handle:
        write_sav_chunks(handle, chunks=chunks, file_label=f"INO-CD22 {table.name}")




def _write_xport_file(frames: Iterator, path: str, table: Table, options: ExportOptions, labels: list[str]) -> None:
    """The table as a SAS transport (v5) file, frame by frame: 8-character names (``sas_names``),
    dates as SAS dates (DATE9.), a coded number as its special missing value; each frame's
    observations laid out column by column with numpy. A text column's length, which the
    header gives, is known after the last frame: the records wait in a ``RecordSpill``."""
    columns = table_columns(table)
    names = sas_names([variable.name for variable in columns])
    numeric = [_is_numeric(variable, options) for variable in columns]
    with RecordSpill(pad=b" ") as spill:
        template = None
        for frame in frames:
            records = _xport_records(frame, columns, numeric)
            template = template or records.dtype
            spill.append(records)
        dtype = spill.dtype(template)
        xport_columns = []
        for number, (variable, label, is_numeric) in enumerate(zip(columns, labels, numeric, strict=True)):
            if is_numeric:
                date = variable_type(variable, options) == "date"
                xport_columns.append(XportColumn(names[variable.name], label, True, format_name="DATE" if date else "",
                                                 format_width=9 if date else 0))
            else:
                xport_columns.append(XportColumn(names[variable.name], label, False,
                                                 dtype.fields[f"v{number}"][0].itemsize))
        with open(path, "wb") as handle:
            write_xport_chunks(handle, columns=xport_columns, chunks=spill.widened(dtype),
                               dataset_name=sas_dataset_names()[table.name], dataset_label=f"INO-CD22 {table.name}")


def _xport_records(frame, columns: list[Variable], numeric: list[bool]):
    """One frame's observations as SAS transport records (text blank-padded to this frame's
    longest value, at least one byte)."""
    import numpy as np
    import pandas as pd

    fields, arrays = [], []
    for number, (variable, is_numeric) in enumerate(zip(columns, numeric, strict=True)):
        values = frame[variable.name]
        if is_numeric:
            letters = {}
            if values.dtype == object:
                letters = {letter: (values == letter).to_numpy() for letter in SAS_MISSING.values()}
                values = pd.to_numeric(values.where(~values.isin(list(SAS_MISSING.values()))), errors="coerce")
            arrays.append(ibm_floats(values.to_numpy(dtype="float64"), letters))
            fields.append((f"v{number}", ">u8"))
        else:
            text = values.to_numpy(dtype=object)  # empty text is "" in every frame
            try:
                encoded = text.astype("S")  # ASCII: numpy's own conversion, straight from the str objects
            except UnicodeEncodeError:
                encoded = np.char.encode(np.asarray(text, dtype=str), "utf-8")
            length = max(encoded.dtype.itemsize, 1)
            arrays.append(blank_padded(encoded.astype(f"S{length}")))
            fields.append((f"v{number}", f"S{length}"))
    records = np.empty(len(frame), dtype=np.dtype(fields))
    for (name, _kind), array in zip(fields, arrays, strict=True):
        records[name] = array
    return records


def sas_formats_program(source: ExportSource) -> str:
    """PROC FORMAT for the code lists: SAS transport files carry no value labels. A variable
    that takes a missing-data code has its special missing values .U, .D, .N labelled too."""
    lines = ["/* Value formats of the INO-CD22 export: a code list's variable is a number in the SAS files",
             "   (in both value modes); apply these with a FORMAT statement, naming the variables by their",
             "   SAS names and the datasets by theirs (sas_name, sas_dataset in data_dictionary.csv). */",
             "proc format;"]
    for table in source.tables:
        names = sas_names([variable.name for variable in table_columns(table)])
        for variable in table.variables:
            labels = stat_value_labels(variable, source.options)
            pairs = [f'{int(number)}="{label.replace(chr(34), chr(39))}"' for number, label in (labels or {}).items()]
            if table.accepts_code(variable) and _is_numeric(variable, source.options):
                pairs += [f'.{SAS_MISSING[code]}="{label} ({code})"' for code, label in MissingCode.choices]
            if pairs:
                name = f"{table.name[:8]}_{variable.name}"[:28].rstrip("_") + "f"
                lines.append(f"  value {name} {' '.join(pairs)}; /* {table.name}.{variable.name}: "
                             f"{names[variable.name]} */")
    lines.append("run;")
    return "\n".join(lines) + "\n"


def write_stat_zip(source: ExportSource) -> Iterator[bytes]:
    extension = STAT_EXTENSIONS[source.options.file_format]
    sink = ByteSink()
    archive = _zip_writer(sink)
    archive.writestr("README.txt", README)
    with tempfile.TemporaryDirectory(prefix="inocd22-export-") as folder:
        for table in source.tables:
            frames = table_frames(source, table, chunk_rows=STAT_CHUNK_ROWS)
            path = os.path.join(folder, f"{table.name}.{extension}")
            _write_stat_file(frames, path, table, source.options)
            archive.write(path, arcname=f"{table.name}.{extension}")
            os.remove(path)
            yield sink.drain()
    if source.options.file_format == "xpt":
        archive.writestr("formats.sas", sas_formats_program(source))
    yield from _dictionary_entries(archive, sink, source)
    archive.close()
    yield sink.drain()


WRITERS = {
    "csv": write_csv_zip,
    "json": write_json,
    "odm": write_odm,
    "dta": write_stat_zip,
    "sav": write_stat_zip,
    "xpt": write_stat_zip,
}
CONTENT_TYPES = {"csv": "application/zip", "json": "application/json", "odm": "application/xml",
                 "dta": "application/zip", "sav": "application/zip", "xpt": "application/zip"}
FILE_EXTENSIONS = {"csv": "csv.zip", "json": "json", "odm": "odm.xml", "dta": "dta.zip", "sav": "sav.zip",
                   "xpt": "xpt.zip"}
