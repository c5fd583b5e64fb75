"""File formats of a de-identified dataset, each a generator of bytes.

- CSV: a zip written incrementally to a non-seekable sink (zipfile then uses data
  descriptors), one CSV per table plus the data dictionary; memory holds one chunk.
- JSON: one document written row by row.
- CDISC ODM 1.3.2: metadata (every OID defined), then one SubjectData per patient, the
  tables' cursors merged on the patient key; memory holds one patient.
- Stata .dta, SPSS .sav, SAS .xpt: pyreadstat writes a whole DataFrame to a file, so these
  are built one table at a time (memory grows with the largest table, not the registry)
  and each file is streamed into a zip with the dictionary as soon as it is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from analytics.exports.dataset import ExportOptions, table_columns, variable_type
from analytics.exports.dictionary import (
    code_list,
    dictionary_csv_rows,
    has_code_list,
    numeric_codes,
)
from analytics.exports.variables import AGE_TOP_CODE, BOOLEAN, CODE, DATE, Table, Variable

FLUSH_ROWS = 1000
FLUSH_BYTES = 256 * 1024
STUDY_OID = "INO-CD22"
README = (
    "De-identified dataset of the INO-CD22 registry.\n"
    "Patient key: study_id (pseudonymous). No local hospital ID, initials, date of birth or free text.\n"
    "See data_dictionary.csv for every variable, its type, unit and code list.\n"
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
    yield from _csv_entry(archive, sink, "data_dictionary.csv", dictionary_csv_rows(source.dictionary))
    archive.close()
    yield sink.drain()


def _prepend(first, rest: Iterable) -> Iterator:
    yield first
    yield from rest


def _json_default(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def write_json(source: ExportSource) -> Iterator[bytes]:
    dumps = json.JSONEncoder(default=_json_default, ensure_ascii=False).encode
    yield ('{"meta": ' + dumps(source.meta) + ',\n"dictionary": ' + dumps(source.dictionary) + ',\n"tables": {').encode()
    for number, table in enumerate(source.tables):
        names = [variable.name for variable in table_columns(table)]
        yield (("," if number else "") + "\n" + dumps(table.name) + ": [").encode()
        batch, first = [], True
        for _pk, row in source.rows(table):
            batch.append(("" if first else ",") + "\n" + dumps(dict(zip(names, row, strict=True))))
            first = False
            if len(batch) >= FLUSH_ROWS:
                yield "".join(batch).encode()
                batch.clear()
        yield ("".join(batch) + "]").encode()
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
    item_oids = {table.name: [item_oid(table, variable) for variable in table.variables] for table in source.tables}
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


def _odm_form(table: Table, rows: list[tuple], item_oids: dict) -> str:
    oids = item_oids[table.name]
    parts = [f'<FormData FormOID="{form_oid(table)}">']
    for repeat, row in enumerate(rows, start=1):
        repeat_key = f' ItemGroupRepeatKey="{repeat}"' if table.repeating else ""
        parts.append(f'<ItemGroupData ItemGroupOID="{item_group_oid(table)}"{repeat_key}>')
        for oid, value in zip(oids, row[1:], strict=True):
            if value is not None:
                parts.append(f'<ItemData ItemOID="{oid}" Value={quoteattr(_odm_value(value))}/>')
        parts.append("</ItemGroupData>")
    parts.append("</FormData>")
    return "".join(parts)


# --- Stata, SPSS, SAS (pyreadstat) -------------------------------------------------------

STAT_EXTENSIONS = {"dta": "dta", "sav": "sav", "xpt": "xpt"}
# Longest variable label each format keeps.
LABEL_LIMITS = {"dta": 80, "sav": 256, "xpt": 40}


def stat_label(variable: Variable, file_format: str) -> str:
    return str(variable.label)[: LABEL_LIMITS[file_format]]


def stat_value_labels(variable: Variable, options: ExportOptions) -> dict | None:
    """Numeric code → label, for the numeric columns that carry a code list (codes mode), and
    the '90+' label of the top-coded age."""
    if variable.name == "age_at_c1d1":
        return {float(AGE_TOP_CODE): "90+"}
    if options.values == "codes" and has_code_list(variable):
        return {float(item["numeric_code"]): item["label"] for item in code_list(variable)}
    return None


def table_frame(table: Table, rows: Iterable[tuple], options: ExportOptions):
    """One table as a DataFrame typed for pyreadstat: numbers as float64 (NaN missing), dates
    as dates, codes as their numbers (codes mode; the labels are value labels) or labels."""
    import pandas as pd

    columns = table_columns(table)
    data = list(zip(*(row for _pk, row in rows), strict=True)) or [() for _ in columns]
    frame = {}
    for variable, values in zip(columns, data, strict=True):
        kind = variable_type(variable, options)
        if variable.kind in (CODE, BOOLEAN) and options.values == "codes" and has_code_list(variable):
            numbers = numeric_codes(variable)
            frame[variable.name] = pd.Series(
                [float(numbers[str(value)]) if value is not None else None for value in values], dtype="float64"
            )
        elif kind in ("integer", "decimal"):
            frame[variable.name] = pd.Series([float(value) if value is not None else None for value in values],
                                             dtype="float64")
        elif variable.kind == DATE:
            # Python dates (not datetime64): pyreadstat then writes a date (%td, DATE11, DATE9.).
            frame[variable.name] = pd.Series(list(values), dtype=object)
        else:
            frame[variable.name] = pd.Series(["" if value is None else str(value) for value in values], dtype=object)
    return pd.DataFrame(frame, columns=[variable.name for variable in columns])


def _write_stat_file(frame, path: str, table: Table, options: ExportOptions) -> None:
    import pyreadstat

    columns = table_columns(table)
    file_format = options.file_format
    labels = [stat_label(variable, file_format) for variable in columns]
    value_labels = {
        variable.name: found for variable in columns if (found := stat_value_labels(variable, options)) is not None
    }
    file_label = f"INO-CD22 {table.name}"
    if file_format == "dta":
        pyreadstat.write_dta(frame, path, file_label=file_label, column_labels=labels,
                             variable_value_labels=value_labels)
    elif file_format == "sav":
        pyreadstat.write_sav(frame, path, file_label=file_label, column_labels=labels,
                             variable_value_labels=value_labels)
    else:
        pyreadstat.write_xport(frame, path, file_label=file_label, column_labels=labels,
                               table_name=table.name[:8].upper(), file_format_version=8)


def sas_formats_program(source: ExportSource) -> str:
    """PROC FORMAT for the code lists: SAS transport files carry no value labels."""
    lines = ["/* Value formats of the INO-CD22 export (codes mode): apply with a FORMAT statement. */",
             "proc format;"]
    for table in source.tables:
        for variable in table.variables:
            labels = stat_value_labels(variable, source.options)
            if labels:
                name = f"{table.name[:8]}_{variable.name}"[:28].rstrip("_") + "f"
                pairs = " ".join(f'{int(number)}="{label.replace(chr(34), chr(39))}"'
                                 for number, label in labels.items())
                lines.append(f"  value {name} {pairs}; /* {table.name}.{variable.name} */")
    lines.append("run;")
    return "\n".join(lines) + "\n"


def write_stat_zip(source: ExportSource) -> Iterator[bytes]:
    extension = STAT_EXTENSIONS[source.options.file_format]
    sink = ByteSink()
    archive = _zip_writer(sink)
    archive.writestr("README.txt", README)
    with tempfile.TemporaryDirectory(prefix="inocd22-export-") as folder:
        for table in source.tables:
            frame = table_frame(table, source.rows(table), source.options)
            path = os.path.join(folder, f"{table.name}.{extension}")
            _write_stat_file(frame, path, table, source.options)
            del frame
            archive.write(path, arcname=f"{table.name}.{extension}")
            os.remove(path)
            yield sink.drain()
    if source.options.file_format == "xpt" and source.options.values == "codes":
        archive.writestr("formats.sas", sas_formats_program(source))
    yield from _csv_entry(archive, sink, "data_dictionary.csv", dictionary_csv_rows(source.dictionary))
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
