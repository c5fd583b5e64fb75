"""The bytes of a REDCap record export, streamed from the database, and its log.

On PostgreSQL the database writes the text: the query's CSV twin writes each row's CSV line
(a blank value an empty field, quotes where Python's csv module puts them) and its JSON twin
each row's JSON object, keyed by the export's columns in their order (a blank value "", the
instance a number), both sent by COPY's text format, whose escapes are undone here. Elsewhere
(SQLite, the embedded default) the same query's rows are read from a cursor and written by
the csv and json modules, with the same bytes. Either way memory holds a block of rows,
never the export.

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

from analytics.exports.dataset import (
    COPY_BLOCK_BYTES,
    blocks_joined,
    copy_blocks,
    copy_read,
    copy_text_unescaped,
    read_ahead,
)
from analytics.models import ExportStatus
from redcap_api.selectors import (
    JSON_LINES,
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


def _tallied_lines(block: bytes, tally: Counter) -> tuple[list[bytes], list[str]]:
    """A block of COPY rows, each the lines of a group of records and, after a tab, their tally
    tokens separated by spaces: each row's lines (still in COPY's text format) and the tokens
    of all the lines in order, counted in `tally`. The lines escape their tabs, so a row's
    last tab is the one between the two."""
    lines, tokens = [], []
    for row in block[:-1].split(b"\n"):
        row_lines, row_tokens = row.rsplit(b"\t", 1)
        lines.append(row_lines)
        tokens.append(row_tokens)
    tokens = b" ".join(tokens).decode().split(" ")
    tally.update(tokens)
    return lines, tokens


def record_csv_rows(query: RecordQuery, *, tally: Counter) -> Iterator[bytes]:
    """The export's rows as CSV (no header), their tally tokens counted in `tally`."""
    if database_writes_text():
        for block in copy_blocks(f"COPY ({query.csv_sql}) TO STDOUT", query.params):
            lines, _tokens = _tallied_lines(block, tally)
            yield copy_text_unescaped(b"\n".join(lines) + b"\n")
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
    lines of a group of records, separated by ``JSON_LINES``, then their tally tokens, one per
    line in the same order, which name each line's pieces (``query.json_pieces``) and are
    counted in `tally`. COPY's text format's escapes are undone in the lines: a JSON text holds
    no raw control character, so the lines' separators, the values' separators and the tab
    before the tokens are the only ones.

    A block's lines are one list of their values, each line's led by its empty start, and
    their pieces one list, made by mapping the tokens: the two are interleaved and joined at
    once. Nothing is done line by line in Python, and a line is never a bytes object of its own."""
    separator, lines_separator = JSON_SEPARATOR.encode(), JSON_LINES.encode()
    # The last piece of a row ends with the comma before the next row.
    pieces = {token: [*around[:-1], around[-1] + b","] for token, around in query.json_pieces.items()}

    def block_objects(block: bytes) -> bytes:
        lines, tokens = _tallied_lines(block, tally)
        values = copy_text_unescaped(lines_separator.join(lines)).replace(lines_separator, separator).split(separator)
        joined: list = [b""] * (2 * len(values))
        joined[0::2] = values
        joined[1::2] = itertools.chain.from_iterable(map(pieces.__getitem__, tokens))
        return b"".join(joined)

    def objects(blocks: Generator[bytes, None, None]) -> Iterator[bytes]:
        # Closed on the way out, an error here included: the COPY's reading thread stops.
        with contextlib.closing(blocks):
            held = b"["
            for block in blocks:
                yield held
                held = block_objects(block)
            yield held[:-1] + b"]" if held != b"[" else b"[]"

    with connection.cursor() as cursor, connection.wrap_database_errors:
        # Three at once: a thread reads the COPY (the database never waits for its rows to be
        # read), another makes the objects, and the caller hashes and sends them. A block of
        # objects is many times the COPY block it is made from, so the second thread holds few.
        copied = read_ahead(copy_read(cursor.cursor, f"COPY ({query.json_sql}) TO STDOUT", query.params))
        yield from read_ahead(objects(copied), ahead=JSON_BLOCKS_AHEAD)


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
