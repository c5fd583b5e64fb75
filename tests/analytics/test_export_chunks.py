"""Stata files written chunk by chunk (memory holds one chunk) are the files written whole:
the same bytes from the same columns, the same rows, missing values and value labels from
the database; the table's CSV parsed as it arrives is the CSV parsed whole; the JSON that
COPY hands over in blocks is the JSON of the rows."""

from __future__ import annotations

import datetime as dt
import gc
import io
import re
import tempfile
import zipfile

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from django.db import DataError, connection, transaction

from analytics.exports import formats
from analytics.exports.dataset import (
    READ_AHEAD_BLOCKS,
    ExportOptions,
    blocks_joined,
    copy_binary_rows,
    copy_blocks,
    copy_text_unescaped,
    read_ahead,
    table_columns,
    table_csv_copy,
    table_rows,
)
from analytics.exports.formats import table_frame_from_csv, table_frames_from_csv
from analytics.exports.services import export_bytes
from analytics.exports.sql import TextSQL
from analytics.exports.stata import StataColumn, write_dta, write_dta_chunks
from analytics.exports.variables import export_tables
from analytics.exports.xport import sas_names
from tests.analytics.test_export_missing_codes import coded, read_xport_cells  # noqa: F401 (a fixture)
from tests.factories import AdverseEventFactory, BaselineFactory, IOCycleFactory, PatientFactory

CREATED = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)


def _columns(start: int, stop: int) -> list[StataColumn]:
    """Rows start..stop of a small dataset: text of growing widths (and non-ASCII), numbers
    with missing and extended missing values, a labelled code."""
    rows = np.arange(start, stop)
    numbers = rows / 4
    numbers[rows % 3 == 0] = np.nan
    return [
        StataColumn("study_id", "Study ID", np.array([f"P{'x' * (row % 7)}{row}" for row in rows], dtype=object),
                    False),
        StataColumn("term", "Term", np.array(["é" * (row % 5) for row in rows], dtype=object), False),
        StataColumn("dose", "Dose", numbers, True, extended_missing={"u": rows % 5 == 1, "d": rows % 5 == 2}),
        StataColumn("grade", "Grade", (rows % 3 + 1).astype("float64"), True, value_labels={1: "One", 2: "Two",
                                                                                             3: "Three"}),
        StataColumn("onset", "Onset", rows.astype("float64") * 10, True, display_format="%td"),
    ]


def test_a_file_written_in_chunks_is_the_file_written_whole(tmp_path):
    whole = io.BytesIO()
    write_dta(whole, columns=_columns(0, 23), rows=23, data_label="chunks", created=CREATED)
    chunked = io.BytesIO()
    write_dta_chunks(chunked, chunks=[_columns(0, 5), _columns(5, 6), _columns(6, 6), _columns(6, 23)],
                     data_label="chunks", created=CREATED)
    assert chunked.getvalue() == whole.getvalue()
    path = tmp_path / "chunks.dta"
    path.write_bytes(chunked.getvalue())
    frame, meta = pyreadstat.read_dta(str(path), user_missing=True)
    assert frame["study_id"].tolist() == [f"P{'x' * (row % 7)}{row}" for row in range(23)]
    assert frame["term"].tolist()[:5] == ["", "é", "éé", "ééé", "éééé"]
    dose = frame["dose"].tolist()
    assert (dose[1], dose[2], dose[4], np.isnan(dose[3])) == ("u", "d", 1.0, True)
    assert meta.variable_value_labels["grade"] == {1: "One", 2: "Two", 3: "Three"}
    assert pd.read_stata(path)["grade"].tolist()[:3] == ["One", "Two", "Three"]


def test_an_empty_table_is_one_empty_chunk():
    empty = io.BytesIO()
    write_dta_chunks(empty, chunks=[_columns(0, 0)], created=CREATED)
    whole = io.BytesIO()
    write_dta(whole, columns=_columns(0, 0), rows=0, created=CREATED)
    assert empty.getvalue() == whole.getvalue()
    with pytest.raises(ValueError, match="no chunk"):
        write_dta_chunks(io.BytesIO(), chunks=[])


@pytest.fixture
def registry(coded, center):  # noqa: F811 (the fixture imported above)
    """The coded casebooks and a few more patients with several rows each."""
    for number in range(4):
        patient = PatientFactory(center=center)
        BaselineFactory(patient=patient)
        for cycle in range(1, 3):
            IOCycleFactory(patient=patient, cycle_number=cycle,
                           start_date=patient.c1d1_date + dt.timedelta(days=28 * (cycle - 1)))
        AdverseEventFactory(patient=patient, grade=number % 4 + 1)
    return coded


def _stat_files(user, options) -> dict[str, bytes]:
    _log, data = export_bytes(user=user, options=options)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()
                if name.endswith(f".{options.file_format}")}


def _read(content: bytes):
    with tempfile.NamedTemporaryFile(suffix=".dta") as handle:
        handle.write(content)
        handle.flush()
        frame, meta = pyreadstat.read_dta(handle.name, user_missing=True)
        labelled = pd.read_stata(handle.name)
    return frame, meta, labelled


# The time stamps of the headers (Stata's, SAS's), the only bytes that may differ.
STAMPS = re.compile(rb"<timestamp>.{18}</timestamp>|\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d", re.DOTALL)


@pytest.mark.parametrize(("dates", "values"), [("relative", "codes"), ("shifted", "labels")])
@pytest.mark.parametrize("file_format", ["dta", "xpt"])
def test_an_export_written_in_chunks_of_two_rows_is_the_export_written_whole(registry, statistician, monkeypatch,
                                                                             file_format, dates, values):
    options = ExportOptions(file_format, dates, values)
    whole = _stat_files(statistician, options)
    monkeypatch.setattr(formats, "STAT_CHUNK_ROWS", 2)
    chunked = _stat_files(statistician, options)
    assert whole.keys() == chunked.keys() == {f"{table.name}.{file_format}" for table in export_tables()}
    for name, content in whole.items():
        assert STAMPS.sub(b"", chunked[name]) == STAMPS.sub(b"", content), name
    patient, _other = registry
    if file_format == "xpt":
        header, rows = read_xport_cells(chunked["baseline.xpt"])
        cells = dict(zip(header, rows[0], strict=True))
        names = sas_names(table_columns_of("baseline"))
        assert cells[names["study_id"]].strip().decode() == patient.study_id
        assert [cells[names[name]] for name in ("cd22_expression_pct", "ecog")] == [b"U" + bytes(7), b"D" + bytes(7)]
        return
    frame, meta, labelled = _read(chunked["baseline.dta"])
    row = frame[frame["study_id"] == patient.study_id].iloc[0]
    assert (row["cd22_expression_pct"], row["ecog"], row["ph_status"]) == ("u", "d", "n")
    assert meta.variable_value_labels["ph_status"]
    assert len(labelled) == len(frame) > 2


def table_columns_of(name: str) -> list[str]:
    table = next(table for table in export_tables() if table.name == name)
    return [variable.name for variable in table_columns(table)]


def test_the_rows_of_a_chunked_file_are_the_database_rows(registry, statistician, monkeypatch):
    from django.db import transaction

    monkeypatch.setattr(formats, "STAT_CHUNK_ROWS", 3)
    options = ExportOptions("dta", "relative", "codes")
    files = _stat_files(statistician, options)
    with transaction.atomic():
        for table in export_tables():
            frame, _meta, _labelled = _read(files[f"{table.name}.dta"])
            rows = [row for _pk, row in table_rows(table, user=statistician, options=options)]
            assert len(frame) == len(rows), table.name
            assert table.name not in ("patients", "io_cycles", "adverse_events") or len(rows) > 3, table.name
            assert frame["study_id"].tolist() == [row[0] for row in rows], table.name


def test_the_csv_parsed_as_it_arrives_is_the_csv_parsed_whole(registry, statistician, database_copy):
    """Blocks that cut rows anywhere, frames of one row: the same frame once put together."""
    from django.db import transaction

    options = ExportOptions("dta", "shifted", "codes")
    with transaction.atomic():
        for table in export_tables():
            data = b"".join(table_csv_copy(table, user=statistician, options=options))
            whole = table_frame_from_csv(table, [data], options)
            bytewise = [data[start:start + 1] for start in range(len(data))]
            frames = list(table_frames_from_csv(table, bytewise, options, chunk_rows=1))
            assert len(frames) == max(len(whole), 1), table.name
            assert [list(frame.columns) for frame in frames[:1]] == [[v.name for v in table_columns(table)]]
            pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), whole, obj=table.name)


AWKWARD = 'back\\slash \\\\ "quoted" tab\tnew\nline \\n é {"x": 1}\n{'


@pytest.mark.parametrize(("dates", "values"), [("relative", "codes"), ("shifted", "labels")])
def test_json_written_through_copy_is_the_json_of_the_rows(registry, statistician, database_copy, dates, values):
    """Backslashes, quotes, control characters and braces in a text, many rows: the objects
    COPY hands over are the rows' objects, value for value."""
    import json
    from decimal import Decimal

    from django.db import transaction

    from analytics.exports.dataset import table_json_copy

    patient, _other = registry
    AdverseEventFactory(patient=patient, ctcae_term_id="10005329", other_specify=AWKWARD, grade=2)
    options = ExportOptions("json", dates, values)

    def plain(value):
        if isinstance(value, Decimal):
            return float(value)
        return value.isoformat() if isinstance(value, dt.date) else value

    with transaction.atomic():
        for table in export_tables():
            names = [variable.name for variable in table_columns(table)]
            text = b"".join(table_json_copy(table, user=statistician, options=options)).decode()
            rows = [dict(zip(names, map(plain, row), strict=True))
                    for _pk, row in table_rows(table, user=statistician, options=options)]
            assert json.loads(f"[{text}]") == rows, table.name
    _log, data = export_bytes(user=statistician, options=options)
    events = json.loads(data)["tables"]["adverse_events"]
    assert AWKWARD in [event["other_specify"] for event in events]


def test_rows_waiting_for_their_block_are_not_tracked_by_the_garbage_collector():
    """COPY hands over each row as a memoryview, which the garbage collector tracks: a block's
    thousands of them, held until the block is full, would set off collections of the whole
    heap. Joined as bytes, they leave the collector's count where it was."""
    rows = [f"P{number},1,2\n".encode() for number in range(5000)]
    counted = []

    def pieces():
        gc.collect()
        start = gc.get_count()[0]
        for row in rows:
            yield memoryview(row)
        counted.append(gc.get_count()[0] - start)  # every row is waiting in the one block

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        blocks = list(blocks_joined(pieces(), block_bytes=1 << 30))
    finally:
        if was_enabled:
            gc.enable()
    assert blocks == [b"".join(rows)]
    assert counted[0] < 100


# --- COPY read ahead of its caller by a thread --------------------------------------------

SERIES = "COPY (SELECT n, repeat('x', 100) FROM generate_series(1, %s) AS n) TO STDOUT"


def read_to_the_end(blocks) -> tuple[list[bytes], object]:
    """The blocks of a generator, and what it returns (a COPY's row count)."""
    read = []
    while True:
        try:
            read.append(next(blocks))
        except StopIteration as done:
            return read, done.value


def test_the_blocks_read_ahead_are_the_copy_in_order_with_its_row_count(database_copy):
    read, rows = read_to_the_end(copy_blocks(SERIES, [20_000]))
    assert len(read) > READ_AHEAD_BLOCKS  # more than the thread may hold: it waited for the caller
    assert b"".join(read) == b"".join(f"{n}\t{'x' * 100}\n".encode() for n in range(1, 20_001))
    assert rows == 20_000


@pytest.mark.parametrize("texts", [
    ["line\nbreak", "tab\tand\rreturn", "bell\b form\f vertical\v", "plain"],  # no backslash of its own
    ["back\\slash", "back\\nslash n", "\\\\two\n", "end\\"],  # backslashes of the texts' own
])
def test_copy_text_unescaped_gives_back_the_texts_postgresql_wrote(database_copy, texts):
    """Whatever the texts hold, the rows COPY's text format writes are the texts again, with or
    without a backslash of their own in the block (two ways of undoing the escapes)."""
    written = b"".join(read_to_the_end(copy_blocks("COPY (SELECT unnest(%s::text[])) TO STDOUT", [texts]))[0])
    assert b"\\" in written
    assert copy_text_unescaped(written).decode() == "".join(f"{text}\n" for text in texts)


def test_copy_binary_rows_gives_each_field_as_the_bytes_the_database_holds(database_copy):
    """COPY's binary format: no escape to undo, whatever a text holds; NULL is None."""
    texts = ["tab\tline\nback\\slash", "é 日本", ""]
    with connection.cursor() as cursor:
        rows = list(copy_binary_rows(cursor.cursor, "SELECT t, NULL::text FROM unnest(%s::text[]) t", [texts],
                                     columns=2))
    assert rows == [(text.encode(), None) for text in texts]


@pytest.mark.parametrize("pieces", [1, 2, 3, 150])
def test_text_sql_is_its_constants_and_expressions_in_order_a_null_adding_nothing(db, pieces):
    """On either database: constants quoted (a quote, a percent sign), expressions of any type
    taken as text, NULL as nothing, parameters read in the pieces' order."""
    text, expected, params = TextSQL(), "", []
    for number in range(pieces):
        text.constant(f"'{number}%,")
        expected += f"'{number}%,"
        if number % 3 == 0:
            text.expression("NULL")
        elif number % 3 == 1:
            text.expression(f"{number} * 2")
            expected += str(number * 2)
        else:
            text.expression("%s")
            params.append(f"p{number}")
            expected += f"p{number}"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {text.sql}", params)
        assert cursor.fetchone()[0] == expected


class ClientGone(Exception):
    pass


def test_a_caller_that_stops_reading_cancels_the_copy_and_keeps_the_connection(database_copy):
    """As an export's stream closed by a client gone: the COPY is cancelled (its transaction,
    the export's snapshot, rolled back) and the connection serves the next query."""
    with pytest.raises(ClientGone), transaction.atomic():
        blocks = copy_blocks(SERIES, [2_000_000])  # about 200 MB, never read to the end
        next(blocks)
        blocks.close()
        raise ClientGone
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_an_error_of_the_database_mid_copy_is_raised_in_the_caller_as_django_s(database_copy):
    failing = "COPY (SELECT 1 / (20000 - n) FROM generate_series(1, %s) AS n) TO STDOUT"
    with pytest.raises(DataError, match="division by zero"), transaction.atomic():
        for _block in copy_blocks(failing, [30_000]):
            pass
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_an_error_of_the_blocks_made_ahead_is_raised_in_the_caller():
    def failing():
        yield b"first"
        raise ValueError("made wrong")

    read = read_ahead(failing())
    assert next(read) == b"first"
    with pytest.raises(ValueError, match="made wrong"):
        next(read)
