"""The bytes of a REDCap record export, streamed from the database, and its log.

On PostgreSQL the database writes the text: the query's CSV twin writes each row's CSV line
(a blank value an empty field, quotes where Python's csv module puts them) and its JSON twin
each row's JSON object, keyed by the export's columns in their order (a blank value "", the
instance a number), both sent by COPY's binary format as they are, the lines of many records
a COPY row. Elsewhere (SQLite, the embedded default) the same query's rows are read from a
cursor and written by the csv and json modules, with the same bytes. Either way memory holds
a block of rows, never the export.

The whole export reads one snapshot (REPEATABLE READ on PostgreSQL); the log (rows per
instrument, tallied from the rows as they are read, size and SHA-256 of what was sent) is
written once the last byte is out. Each COPY row carries its rows' tally tokens after the
lines, so no second query counts them.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import itertools
import json
from collections import Counter
from collections.abc import Callable, Generator, Iterator

from django.db import connection

from analytics.exports.dataset import COPY_BLOCK_BYTES, blocks_joined, copy_binary_rows, read_ahead
from analytics.models import ExportStatus
from redcap_api.selectors import (
    JSON_SEPARATOR,
    RecordQuery,
    export_snapshot,
    record_counts,
    record_query_for_user,
    record_rows,
)
from redcap_api.services import record_export_log

JSON_BLOCKS_AHEAD = 2


def database_writes_text() -> bool:
    """Whether the database writes the CSV (COPY) and the JSON objects itself."""
    return connection.vendor == "postgresql"


def csv_header(columns: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(columns)
    return out.getvalue().encode()


def _copied_lines(cursor, sql: str, params) -> Generator[tuple[bytes, bytes], None, None]:
    """The COPY rows of a query of grouped lines (``RecordQuery.csv_sql``, ``json_sql``), each
    the lines of a group of records and their tally tokens, read ahead by a thread."""
    return read_ahead(copy_binary_rows(cursor.cursor, sql, params, columns=2))


def _tallied(tokens: bytes, tally: Counter) -> list[str]:
    """A COPY row's tally tokens (separated by spaces, one per line), counted in `tally`."""
    tokens = tokens.decode().split(" ")
    tally.update(tokens)
    return tokens


def record_csv_rows(query: RecordQuery, *, tally: Counter) -> Iterator[bytes]:
    """The export's rows as CSV (no header), their tally tokens counted in `tally`."""
    if database_writes_text():
        # The rows closed on the way out: the COPY's reading thread stops before the cursor closes.
        with (connection.cursor() as cursor, connection.wrap_database_errors,
              contextlib.closing(_copied_lines(cursor, query.csv_sql, query.params)) as rows):
            for lines, tokens in rows:
                _tallied(tokens, tally)
                yield lines + b"\n"
        return
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in record_rows(query, tally=tally):
        writer.writerow(row)  # None is written as an empty field
        if out.tell() >= COPY_BLOCK_BYTES:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue().encode()


def record_json_rows(query: RecordQuery, *, tally: Counter) -> Iterator[bytes]:
    """The export as a JSON array of the rows' objects, their tally tokens counted in `tally`."""
    if database_writes_text():
        yield from _database_json_rows(query, tally=tally)
        return

    def pieces():
        separator = "["
        for row in record_rows(query, tally=tally):
            yield (separator + json.dumps(
                {column: "" if value is None else value for column, value in zip(query.columns, row, strict=True)},
                ensure_ascii=False, separators=(",", ":"))).encode()
            separator = ","
        yield b"[]" if separator == "[" else b"]"

    yield from blocks_joined(pieces())


def _database_json_rows(query: RecordQuery, *, tally: Counter) -> Iterator[bytes]:
    """The JSON array of the rows' objects, each its branch's pieces around the JSON values the
    database wrote (`redcap_api.selectors.json_line`), one row a line. A COPY row holds the
    lines of a group of records, then their tally tokens, one per line in the same order,
    which name each line's pieces (``query.json_pieces``) and are counted in `tally`. A JSON
    text holds no raw control character, so the separators the lines start with and hold are
    the only ones.

    A COPY row's lines are one list of their values, each line's led by its empty start, and
    their pieces one list, made by mapping the tokens: the two are interleaved and joined at
    once. Nothing is done line by line in Python, and a line is never a bytes object of its own."""
    separator = JSON_SEPARATOR.encode()
    # The last piece of a row ends with the comma before the next row.
    pieces = {token: [*around[:-1], around[-1] + b","] for token, around in query.json_pieces.items()}

    def row_objects(lines: bytes, tokens: bytes) -> bytes:
        values = lines.split(separator)
        joined: list = [b""] * (2 * len(values))
        joined[0::2] = values
        joined[1::2] = itertools.chain.from_iterable(map(pieces.__getitem__, _tallied(tokens, tally)))
        return b"".join(joined)

    def objects(rows: Generator[tuple[bytes, bytes], None, None]) -> Iterator[bytes]:
        # Closed on the way out, an error here included: the COPY's reading thread stops.
        with contextlib.closing(rows):
            held = b"["
            for lines, tokens in rows:
                yield held
                held = row_objects(lines, tokens)
            yield held[:-1] + b"]" if held != b"[" else b"[]"

    with connection.cursor() as cursor, connection.wrap_database_errors:
        # Three at once: a thread reads the COPY (the database never waits for its rows to be
        # read), another makes the objects, and the caller hashes and sends them. The objects
        # of a COPY row are many times its size, so the second thread holds few.
        yield from read_ahead(objects(_copied_lines(cursor, query.json_sql, query.params)), ahead=JSON_BLOCKS_AHEAD)


def record_export_stream(*, user, fmt: str, header: Callable[[list[str]], list[str]] | None = None,
                         log_parameters: dict, deidentified: bool, labels: bool, **query_arguments) -> Iterator[bytes]:
    """The bytes of the record export (`fmt` csv or json) of `record_query_for_user(user=user,
    labels=labels, **query_arguments)`, then its log: completed with the rows per instrument,
    the size and the SHA-256 of the bytes, or failed with what had been read and sent when the
    stream stops early (an error, a client gone)."""
    digest = hashlib.sha256()
    size = 0
    query = None
    tally = Counter()
    status = ExportStatus.FAILED
    try:
        with export_snapshot():
            query = record_query_for_user(user=user, labels=labels, **query_arguments)
            if fmt == "csv":
                blocks = _chained(csv_header(header(query.columns) if header else query.columns),
                                  record_csv_rows(query, tally=tally))
            else:
                blocks = record_json_rows(query, tally=tally)
            # Closed before the snapshot ends, when the stream stops early too: their threads
            # stop reading the COPY, which would otherwise keep the connection from the rollback.
            with contextlib.closing(blocks):
                for block in blocks:
                    digest.update(block)
                    size += len(block)
                    yield block
        status = ExportStatus.COMPLETED
    finally:
        counts = record_counts(query, tally) if query else {}
        record_export_log(user=user, counts=counts, size=size, sha256=digest.hexdigest(), status=status,
                          deidentified=deidentified, labels=labels, parameters=log_parameters)


def _chained(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
