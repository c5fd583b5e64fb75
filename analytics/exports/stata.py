"""Stata files (format 118, Stata 14 and later), written here from whole columns with numpy
rather than by pyreadstat, which converts and writes value by value: on a registry of
100 000 patients that alone took several times as long as the database reading the rows.

The 118 layout: tagged sections (header, a map of their offsets, variable types, names,
sort list, display formats, value-label names, variable labels, characteristics, the data
as fixed-width little-endian records, strLs, value-label tables). A number is a double; a
missing one is ``.`` and the extended missing values ``.a`` to ``.z`` are the doubles just
above it (see ``MISSING_BASE``); a string is a ``str#`` of its longest value's bytes, padded
with NUL bytes, in UTF-8.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from analytics.exports.records import RecordSpill

MISSING_BASE = 0x7FE0000000000000  # `.`; `.a` is this + 1 << 40, `.b` + 2 << 40, ...
_LETTER_STEP = 1 << 40
DOUBLE = 65526
MAX_STR = 2045
NAME_BYTES, FORMAT_BYTES, LABEL_BYTES = 129, 57, 321
NAME_LENGTH, LABEL_LENGTH = 32, 80


@dataclass
class StataColumn:
    name: str  # at most 32 characters
    label: str  # at most 80 characters
    values: np.ndarray  # float64 (NaN missing), or objects: str (a string column)
    numeric: bool
    display_format: str = ""  # e.g. %td for a date; %9.0g / %-Ns by default
    # Extended missing values of a numeric column: a mask per letter ("u" → rows that are .u).
    extended_missing: dict[str, np.ndarray] = field(default_factory=dict)
    value_labels: dict[int, str] | None = None


def missing_double(letter: str = "") -> float:
    """The double that is Stata's `.` or its extended missing value `.<letter>`."""
    number = MISSING_BASE + (ord(letter) - ord("a") + 1) * _LETTER_STEP if letter else MISSING_BASE
    return struct.unpack("<d", struct.pack("<Q", number))[0]


def _fixed(text: str, length: int) -> bytes:
    data = text.encode("utf-8")[: length - 1]
    return data.ljust(length, b"\0")


def _tag(name: str, body: bytes = b"") -> bytes:
    return f"<{name}>".encode() + body + f"</{name}>".encode()


def _numeric_bytes(column: StataColumn) -> np.ndarray:
    values = np.asarray(column.values, dtype="<f8").copy()
    bits = values.view("<u8")
    bits[np.isnan(values)] = MISSING_BASE
    for letter, mask in column.extended_missing.items():
        bits[mask] = MISSING_BASE + (ord(letter) - ord("a") + 1) * _LETTER_STEP
    return values


def _string_bytes(column: StataColumn) -> tuple[np.ndarray, int]:
    """The column as UTF-8 bytes of one width (its longest value's, at least 1)."""
    try:
        # ASCII (study IDs, codes): numpy's own conversion, straight from the str objects.
        encoded = np.asarray(column.values, dtype=object).astype("S")
    except UnicodeEncodeError:
        encoded = np.char.encode(np.asarray(column.values, dtype=str), "utf-8")
    width = min(max(encoded.dtype.itemsize, 1), MAX_STR)
    return encoded.astype(f"S{width}"), width


def _value_label_table(name: str, labels: dict[int, str]) -> bytes:
    items = sorted(labels.items())
    texts = [label.encode("utf-8") + b"\0" for _value, label in items]
    offsets, position = [], 0
    for text in texts:
        offsets.append(position)
        position += len(text)
    table = (struct.pack("<ii", len(items), position) + struct.pack(f"<{len(items)}i", *offsets)
             + struct.pack(f"<{len(items)}i", *(int(value) for value, _label in items)) + b"".join(texts))
    return _tag("lbl", struct.pack("<i", len(table)) + _fixed(name, NAME_BYTES) + b"\0\0\0" + table)


def write_dta(handle, *, columns: Sequence[StataColumn], rows: int, data_label: str = "",
              created: dt.datetime | None = None) -> None:
    """One dataset as a Stata 118 file, written to the binary ``handle``, from whole columns."""
    if any(len(column.values) != rows for column in columns):
        raise ValueError("every column must hold `rows` values")
    write_dta_chunks(handle, chunks=[columns], data_label=data_label, created=created)


def chunk_records(columns: Sequence[StataColumn]) -> np.ndarray:
    """The rows of ``columns`` as Stata's fixed-width records (text at this chunk's widest value)."""
    fields, arrays = [], []
    for number, column in enumerate(columns):
        if column.numeric:
            arrays.append(_numeric_bytes(column))
            fields.append((f"v{number}", "<f8"))
        else:
            array, width = _string_bytes(column)
            arrays.append(array)
            fields.append((f"v{number}", f"S{width}"))
    rows = len(arrays[0]) if arrays else 0
    records = np.empty(rows, dtype=np.dtype(fields))
    for (name, _kind), array in zip(fields, arrays, strict=True):
        records[name] = array
    return records


def write_dta_chunks(handle, *, chunks: Iterable[Sequence[StataColumn]], data_label: str = "",
                     created: dt.datetime | None = None) -> None:
    """One dataset as a Stata 118 file, written to the binary ``handle`` from chunks of rows
    (each a sequence of the same columns, at least one chunk, possibly empty): memory holds one
    chunk. The header needs the observation count and each text column's width, which are known
    only after the last chunk, so the chunks' records wait in a temporary file (``RecordSpill``)."""
    columns = None
    with RecordSpill() as spill:
        for chunk in chunks:
            columns = columns or chunk
            spill.append(chunk_records(chunk))
        if columns is None:
            raise ValueError("no chunk: even an empty table has one chunk of its columns")
        dtype = spill.dtype(chunk_records([_empty(column) for column in columns]).dtype)
        _write_file(handle, columns=columns, rows=spill.rows, dtype=dtype, data=spill.widened(dtype),
                    data_label=data_label, created=created or dt.datetime.now(dt.UTC))


def _empty(column: StataColumn) -> StataColumn:
    return StataColumn(column.name, column.label, np.empty(0, dtype="float64" if column.numeric else object),
                       column.numeric)


def _write_file(handle, *, columns: Sequence[StataColumn], rows: int, dtype: np.dtype, data: Iterable,
                data_label: str, created: dt.datetime) -> None:
    stamp = created.strftime("%d %b %Y %H:%M").encode("ascii")
    label = data_label.encode("utf-8")[:80]
    header = _tag("header", _tag("release", b"118") + _tag("byteorder", b"LSF")
                  + _tag("K", struct.pack("<H", len(columns))) + _tag("N", struct.pack("<Q", rows))
                  + _tag("label", struct.pack("<H", len(label)) + label)
                  + _tag("timestamp", struct.pack("<B", len(stamp)) + stamp))
    types, formats = [], []
    for number, column in enumerate(columns):
        if column.numeric:
            types.append(DOUBLE)
            formats.append(column.display_format or "%10.0g")
        else:
            width = dtype.fields[f"v{number}"][0].itemsize
            types.append(width)
            formats.append(column.display_format or f"%-{min(width, 244)}s")
    labelled = [column for column in columns if column.value_labels]
    sections = [
        ("variable_types", struct.pack(f"<{len(types)}H", *types)),
        ("varnames", b"".join(_fixed(column.name, NAME_BYTES) for column in columns)),
        ("sortlist", bytes(2 * (len(columns) + 1))),
        ("formats", b"".join(_fixed(text, FORMAT_BYTES) for text in formats)),
        ("value_label_names", b"".join(_fixed(column.name if column.value_labels else "", NAME_BYTES)
                                       for column in columns)),
        ("variable_labels", b"".join(_fixed(column.label, LABEL_BYTES) for column in columns)),
        ("characteristics", b""),
        ("data", None),  # rows × dtype.itemsize bytes, written chunk by chunk
        ("strls", b""),
        ("value_labels", b"".join(_value_label_table(column.name, column.value_labels) for column in labelled)),
    ]
    opening = b"<stata_dta>" + header
    map_length = len(_tag("map", bytes(14 * 8)))
    offsets = [0, len(opening)]
    position = len(opening) + map_length
    for name, body in sections:
        offsets.append(position)
        position += len(_tag(name)) + (rows * dtype.itemsize if body is None else len(body))
    offsets.append(position)  # </stata_dta>
    offsets.append(position + len(b"</stata_dta>"))  # end of file
    handle.write(opening)
    handle.write(_tag("map", struct.pack("<14Q", *offsets)))
    for name, body in sections:
        handle.write(f"<{name}>".encode())
        if body is None:
            for block in data:
                handle.write(block)
        else:
            handle.write(body)
        handle.write(f"</{name}>".encode())
    handle.write(b"</stata_dta>")
