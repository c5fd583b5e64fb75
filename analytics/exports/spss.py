"""SPSS system files (.sav), written here chunk by chunk from whole columns with numpy rather
than by pyreadstat, which takes the whole table as one DataFrame: memory grew with the table.

The layout written (uncompressed, little-endian, text in UTF-8; PSPP's "System File Format"
describes every record):

- the file header, 176 bytes: ``$FL2``, the product, layout code 2, the case size in 8-byte
  slots, compression 0, no weight variable, the case count, the bias 100, the creation date
  and time, the file label (64 bytes);
- a variable record (type 2) per slot of the case: a variable's own record (type 0 for a
  number, the width in bytes for a string; print and write formats; an 8-byte short name;
  the label; up to three discrete user-missing values), then one continuation record (type
  -1) for each further slot of a string. A string wider than 255 bytes (a very long string)
  is a run of segments, each a string variable of its own: one segment per 252 bytes of
  width, each 255 bytes wide but the last;
- the value labels of each labelled number (type 3), each followed by the index of the
  variable it labels (type 4);
- extension records (type 7): machine integer info (subtype 3), floating-point info (4),
  display parameters of each segment (11: measure, width, alignment), the long variable
  names (13), the widths of very long strings (14), the character encoding (20), the
  user-missing values of strings wider than 8 bytes (22);
- the end of the dictionary (type 999), then the cases: each variable's slots in order, a
  number a double (system-missing: -DBL_MAX), a string its bytes padded with blanks to its
  slots (a very long string 255 bytes in each segment's 256, then the last segment's).

The header needs the case count and each string's width, known only after the last chunk,
so the chunks' records wait in a temporary file (``RecordSpill``) as Stata's do.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import struct
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from analytics.exports.records import RecordSpill, blank_padded

SYSMIS = -sys.float_info.max
HIGHEST = sys.float_info.max
LOWEST = math.nextafter(-sys.float_info.max, 0.0)
NAME_BYTES = 64  # a long variable name
SHORT_NAME_BYTES = 8
LABEL_BYTES = 255  # a variable label
VALUE_LABEL_BYTES = 120
FILE_LABEL_BYTES = 64
MISSING_STRING_BYTES = 8  # a string's user-missing value
SHORT_STRING = 8  # widest string whose user-missing values fit its variable record
SEGMENT_WIDTH = 255  # widest string variable, and each segment of a very long string
SEGMENT_SPAN = 252  # the bytes of width each segment of a very long string stands for
MAX_STRING = 32767
MAX_NUMBER_WIDTH = 40
FORMAT_TYPES = {"A": 1, "F": 5, "DATE": 20}
NOMINAL, SCALE = 1, 3  # measures (2 is ordinal)
LEFT, RIGHT = 0, 1  # alignments
DISPLAY_WIDTHS = (8, 40)  # the narrowest and widest column a string is shown in
# Words SPSS keeps for its syntax: never a variable name.
RESERVED = frozenset({"ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"})
_NAME = re.compile(r"[^\W\d_][\w.@#$]*")
_FORMAT = re.compile(r"([A-Z]+)(\d+)(?:\.(\d+))?")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PRODUCT = b"@(#) SPSS DATA FILE - inocd22 analytics.exports.spss"
# Machine integer info: the release of SPSS whose records the file holds (long names, very
# long strings, UTF-8), IEEE doubles, little-endian, code page 65001 (UTF-8).
_RELEASE = (20, 0, 0)
_UTF8_CODE_PAGE = 65001


@dataclass
class SpssColumn:
    name: str  # a valid SPSS name of at most 64 bytes
    label: str  # at most 255 bytes of UTF-8
    values: np.ndarray  # float64 (NaN: system-missing), or objects: str ("" when empty)
    numeric: bool
    display_format: str = ""  # e.g. DATE11; a number is F, wide enough, with ``decimals`` places by default
    decimals: int = 0
    nominal: bool = False  # a number's measure: nominal (a code list's number) rather than scale
    # At most three discrete user-missing values: numbers, or strings of at most 8 bytes.
    missing_values: tuple = ()
    value_labels: dict[float, str] | None = None  # of a number


@dataclass
class _Layout:
    """A column as the file lays it out, once its data are known."""

    column: SpssColumn
    width: int  # a string's width in bytes; 0 for a number
    print_format: int
    display_width: int
    short_names: list[str]  # one per segment

    @property
    def segment_widths(self) -> list[int]:
        """Each segment's width (a number is one segment of width 0)."""
        if self.width <= SEGMENT_WIDTH:
            return [self.width]
        count = len(self.short_names)
        return [SEGMENT_WIDTH] * (count - 1) + [self.width - SEGMENT_SPAN * (count - 1)]

    @property
    def slots(self) -> int:
        return sum(_slots(width) for width in self.segment_widths)


def _segments(width: int) -> int:
    return 1 if width <= SEGMENT_WIDTH else -(-width // SEGMENT_SPAN)


def _slots(width: int) -> int:
    """8-byte slots of a segment of ``width`` bytes (a number: one)."""
    return max(-(-width // 8), 1)


def _storage(width: int) -> int:
    """Bytes of a string of ``width`` bytes in a case: its segments' slots."""
    count = _segments(width)
    if count == 1:
        return 8 * _slots(width)
    return 256 * (count - 1) + 8 * _slots(width - SEGMENT_SPAN * (count - 1))


def write_sav(handle, *, columns: Sequence[SpssColumn], rows: int, file_label: str = "",
              created: dt.datetime | None = None) -> None:
    """One dataset as an SPSS system file, written to the binary ``handle``, from whole columns."""
    if any(len(column.values) != rows for column in columns):
        raise ValueError("every column must hold `rows` values")
    write_sav_chunks(handle, chunks=[columns], file_label=file_label, created=created)


def chunk_records(columns: Sequence[SpssColumn]) -> np.ndarray:
    """The rows of ``columns`` as fixed-width records: a number a little-endian double
    (system-missing for NaN), a string its UTF-8 bytes blank-padded to this chunk's longest."""
    fields, arrays = [], []
    for number, column in enumerate(columns):
        if column.numeric:
            values = np.asarray(column.values, dtype="<f8")
            arrays.append(np.where(np.isnan(values), SYSMIS, values))
            fields.append((f"v{number}", "<f8"))
        else:
            encoded = _utf8(column.values)
            arrays.append(blank_padded(encoded))
            fields.append((f"v{number}", encoded.dtype))
    rows = len(arrays[0]) if arrays else 0
    records = np.empty(rows, dtype=np.dtype(fields))
    for (name, _kind), array in zip(fields, arrays, strict=True):
        records[name] = array
    return records


def _utf8(values) -> np.ndarray:
    """Text as UTF-8 bytes of one width, its longest value's (at least 1)."""
    try:
        # ASCII (study IDs, codes): numpy's own conversion, straight from the str objects.
        encoded = np.asarray(values, dtype=object).astype("S")
    except UnicodeEncodeError:
        encoded = np.char.encode(np.asarray(values, dtype=str), "utf-8")
    return encoded.astype(f"S{max(encoded.dtype.itemsize, 1)}")


def write_sav_chunks(handle, *, chunks: Iterable[Sequence[SpssColumn]], file_label: str = "",
                     created: dt.datetime | None = None) -> None:
    """One dataset as an SPSS system file, written to the binary ``handle`` from chunks of rows
    (each a sequence of the same columns, at least one chunk, possibly empty): memory holds one
    chunk. The first chunk's columns give the dictionary (names, labels, formats, missing
    values, value labels)."""
    columns, magnitudes = None, []
    with RecordSpill(pad=b" ") as spill:
        for chunk in chunks:
            if columns is None:
                columns = chunk
                _check(columns, file_label)
                magnitudes = [(0.0, 0.0)] * len(columns)
            spill.append(chunk_records(chunk))
            magnitudes = [_magnitude(column.values, seen) if column.numeric else seen
                          for column, seen in zip(chunk, magnitudes, strict=True)]
        if columns is None:
            raise ValueError("no chunk: even an empty table has one chunk of its columns")
        if spill.rows > 2**31 - 1:
            raise ValueError("an SPSS system file holds at most 2**31 - 1 cases")
        widths = [0 if column.numeric else _string_width(column, spill.text_width(f"v{number}"))
                  for number, column in enumerate(columns)]
        layouts = _layouts(columns, widths, magnitudes)
        stored = np.dtype([(f"v{number}", "<f8" if column.numeric else _stored_text(width))
                           for number, (column, width) in enumerate(zip(columns, widths, strict=True))])
        handle.write(_dictionary(layouts, rows=spill.rows, file_label=file_label,
                                 created=created or dt.datetime.now(dt.UTC)))
        for block in _segmented(spill.widened(stored), stored, layouts):
            handle.write(block)


def _stored_text(width: int) -> str:
    """A string field as the spill gives it back: blank-padded to its slots, or a very long
    string at its width (``_segmented`` lays it out in segments)."""
    return f"S{width}" if _segments(width) > 1 else f"S{_storage(width)}"


def _segmented(blocks: Iterator, stored: np.dtype, layouts: list[_Layout]) -> Iterator:
    """The cases as the file holds them: a very long string's bytes moved into its segments,
    255 of them in each segment's 256 bytes, blanks in the rest."""
    long_strings = [number for number, layout in enumerate(layouts) if len(layout.short_names) > 1]
    if not long_strings:
        yield from blocks
        return
    laid_out = np.dtype([(name, f"S{_storage(layout.width)}" if number in long_strings else stored.fields[name][0])
                         for number, (name, layout) in enumerate(zip(stored.names, layouts, strict=True))])
    for block in blocks:
        records = np.frombuffer(block, dtype=stored)
        cases = np.empty(len(records), dtype=laid_out)
        for number, name in enumerate(stored.names):
            if number not in long_strings:
                cases[name] = records[name]
                continue
            width = layouts[number].width
            text = np.ascontiguousarray(records[name]).view(np.uint8).reshape(len(records), width)
            cells = np.full((len(records), _storage(width)), ord(" "), dtype=np.uint8)
            for segment, start in enumerate(range(0, width, SEGMENT_WIDTH)):
                piece = text[:, start:start + SEGMENT_WIDTH]
                cells[:, 256 * segment:256 * segment + piece.shape[1]] = piece
            cases[name] = cells.view(f"S{_storage(width)}").reshape(len(records))
        yield memoryview(cases).cast("B")


def _magnitude(values, seen: tuple[float, float]) -> tuple[float, float]:
    """(largest, smallest) of the values and those ``seen`` before, NaN aside."""
    values = np.asarray(values, dtype="float64")
    return (float(np.fmax.reduce(values, initial=seen[0])), float(np.fmin.reduce(values, initial=seen[1])))


def _string_width(column: SpssColumn, longest: int) -> int:
    width = max([longest, 1, *(len(value.encode("utf-8")) for value in column.missing_values)])
    if width > MAX_STRING:
        raise ValueError(f"{column.name}: a value of {width} bytes, over SPSS's {MAX_STRING}")
    return width


def _check(columns: Sequence[SpssColumn], file_label: str) -> None:
    """Refuse what SPSS cannot hold, rather than cut it: names, labels, missing values."""
    if len(file_label.encode("utf-8")) > FILE_LABEL_BYTES:
        raise ValueError(f"file label over {FILE_LABEL_BYTES} bytes: {file_label!r}")
    seen = set()
    for column in columns:
        name = column.name
        if (not _NAME.fullmatch(name) or name.endswith(".") or len(name.encode("utf-8")) > NAME_BYTES
                or name.upper() in RESERVED):
            raise ValueError(f"{name!r} is not an SPSS variable name")
        if name.upper() in seen:
            raise ValueError(f"{name!r}: two variables of that name (SPSS names ignore case)")
        seen.add(name.upper())
        if len(column.label.encode("utf-8")) > LABEL_BYTES:
            raise ValueError(f"{name}: label over {LABEL_BYTES} bytes")
        if len(column.missing_values) > 3:
            raise ValueError(f"{name}: more than three user-missing values")
        if column.numeric:
            if not all(isinstance(value, int | float) for value in column.missing_values):
                raise ValueError(f"{name}: a number's user-missing values are numbers")
        elif not all(isinstance(value, str) and len(value.encode("utf-8")) <= MISSING_STRING_BYTES
                     for value in column.missing_values):
            raise ValueError(f"{name}: a string's user-missing values are strings of at most 8 bytes")
        if column.value_labels and not column.numeric:
            raise ValueError(f"{name}: value labels are written for numbers only")
        for label in (column.value_labels or {}).values():
            if len(label.encode("utf-8")) > VALUE_LABEL_BYTES:
                raise ValueError(f"{name}: value label over {VALUE_LABEL_BYTES} bytes: {label!r}")


def _layouts(columns: Sequence[SpssColumn], widths: list[int], magnitudes: list) -> list[_Layout]:
    names = _short_names([column.name for column in columns], [_segments(width) for width in widths])
    layouts = []
    for column, width, (largest, smallest), short_names in zip(columns, widths, magnitudes, names, strict=True):
        if column.numeric:
            extremes = [largest, smallest, *column.missing_values]
            kind, format_width, decimals = _number_format(column, max(map(abs, extremes)), min(extremes) < 0)
            display_width = format_width
        else:
            kind, format_width, decimals = "A", min(width, SEGMENT_WIDTH), 0
            display_width = min(max(width, DISPLAY_WIDTHS[0]), DISPLAY_WIDTHS[1])
        layouts.append(_Layout(column, width, _format_code(kind, format_width, decimals), display_width, short_names))
    return layouts


def _number_format(column: SpssColumn, largest: float, negative: bool) -> tuple[str, int, int]:
    """A number's format: the column's own (e.g. DATE11), else F with its decimal places, wide
    enough for its largest value and a sign (at least 8, at most 40 columns)."""
    if column.display_format:
        found = _FORMAT.fullmatch(column.display_format.upper())
        if not found or found[1] not in FORMAT_TYPES or found[1] == "A":
            raise ValueError(f"{column.name}: unknown display format {column.display_format!r}")
        return found[1], int(found[2]), int(found[3] or 0)
    digits = len(str(int(largest))) if math.isfinite(largest) and largest >= 1 else 1
    width = digits + negative + (column.decimals + 1 if column.decimals else 0)
    return "F", min(max(width, 8), MAX_NUMBER_WIDTH), column.decimals


def _format_code(kind: str, width: int, decimals: int) -> int:
    return FORMAT_TYPES[kind] << 16 | min(width, 255) << 8 | decimals


def _short_names(names: Sequence[str], segments: Sequence[int]) -> list[list[str]]:
    """Each variable's short names, one per segment, unique in the file: its name in capitals
    (ASCII letters, digits and _) cut to 8 bytes; a clash, or a further segment, ends in a number."""
    taken: set[str] = set()

    def unique(stem: str) -> str:
        candidate, number = stem[:SHORT_NAME_BYTES], 0
        while candidate in taken or candidate in RESERVED:
            number += 1
            candidate = stem[:SHORT_NAME_BYTES - len(str(number))] + str(number)
        taken.add(candidate)
        return candidate

    stems = [re.sub(r"[^A-Z0-9_]", "_", name.upper()) for name in names]
    stems = [stem if "A" <= stem[0] <= "Z" else "V" + stem for stem in stems]
    firsts = [unique(stem) for stem in stems]  # every variable's own name before any segment's
    return [[first, *(unique(stem) for _segment in range(1, count))]
            for first, stem, count in zip(firsts, stems, segments, strict=True)]


def _text(value: str, length: int) -> bytes:
    return value.encode("utf-8").ljust(length, b" ")


def _extension(subtype: int, size: int, data: bytes) -> bytes:
    return struct.pack("<4i", 7, subtype, size, len(data) // size) + data


def _dictionary(layouts: list[_Layout], *, rows: int, file_label: str, created: dt.datetime) -> bytes:
    """Every record before the cases."""
    slots = sum(layout.slots for layout in layouts)
    date = f"{created.day:02d} {_MONTHS[created.month - 1]} {created.year % 100:02d}".encode("ascii")
    parts = [struct.pack("<4s60s5id9s8s64s3s", b"$FL2", _PRODUCT.ljust(60, b" "), 2, slots, 0, 0, rows, 100.0,
                         date, created.strftime("%H:%M:%S").encode("ascii"), _text(file_label, FILE_LABEL_BYTES),
                         bytes(3))]
    labels, index = [], 1  # a variable's index: 1 + the slots before it
    for layout in layouts:
        parts.append(_variable_records(layout))
        if layout.column.value_labels:
            labels.append(_value_labels(layout.column.value_labels, index))
        index += layout.slots
    parts.extend(labels)
    parts.append(_extension(3, 4, struct.pack("<8i", *_RELEASE, -1, 1, 1, 2, _UTF8_CODE_PAGE)))
    parts.append(_extension(4, 8, struct.pack("<3d", SYSMIS, HIGHEST, LOWEST)))
    display = []
    for layout in layouts:
        measure = NOMINAL if not layout.column.numeric or layout.column.nominal else SCALE
        alignment = RIGHT if layout.column.numeric else LEFT
        display += [measure, layout.display_width, alignment] * len(layout.short_names)
    parts.append(_extension(11, 4, struct.pack(f"<{len(display)}i", *display)))
    parts.append(_extension(13, 1, "\t".join(f"{layout.short_names[0]}={layout.column.name}"
                                              for layout in layouts).encode("utf-8")))
    very_long = "".join(f"{layout.short_names[0]}={layout.width:05d}\0\t"
                        for layout in layouts if len(layout.short_names) > 1)
    if very_long:
        parts.append(_extension(14, 1, very_long.encode("ascii")))
    parts.append(_extension(20, 1, b"UTF-8"))
    long_missing = b"".join(_long_string_missing_values(layout) for layout in layouts
                            if layout.width > SHORT_STRING and layout.column.missing_values)
    if long_missing:
        parts.append(_extension(22, 1, long_missing))
    parts.append(struct.pack("<2i", 999, 0))
    return b"".join(parts)


def _variable_records(layout: _Layout) -> bytes:
    """A column's variable records: one per segment, each followed by its continuations."""
    column = layout.column
    records = []
    for segment, (short_name, width) in enumerate(zip(layout.short_names, layout.segment_widths, strict=True)):
        first = segment == 0
        label = column.label.encode("utf-8") if first else b""
        missing = column.missing_values if first and layout.width <= SHORT_STRING else ()
        print_format = layout.print_format if first else _format_code("A", width, 0)
        records.append(struct.pack("<6i8s", 2, width, bool(label), len(missing), print_format, print_format,
                                   short_name.encode("ascii").ljust(SHORT_NAME_BYTES, b" ")))
        if label:
            records.append(struct.pack("<i", len(label)) + label.ljust(-(-len(label) // 4) * 4, b" "))
        for value in missing:
            records.append(struct.pack("<d", value) if column.numeric else _text(value, MISSING_STRING_BYTES))
        continuation = struct.pack("<6i8s", 2, -1, 0, 0, 0, 0, b" " * SHORT_NAME_BYTES)
        records.append(continuation * (_slots(width) - 1))
    return b"".join(records)


def _value_labels(labels: dict[float, str], index: int) -> bytes:
    """A number's value labels (record 3) and the variable they label (record 4)."""
    parts = [struct.pack("<2i", 3, len(labels))]
    for value, label in labels.items():
        text = label.encode("utf-8")
        parts.append(struct.pack("<dB", float(value), len(text)) + text.ljust(-(-(len(text) + 1) // 8) * 8 - 1, b" "))
    parts.append(struct.pack("<3i", 4, 1, index))
    return b"".join(parts)


def _long_string_missing_values(layout: _Layout) -> bytes:
    """The user-missing values of a string wider than 8 bytes (record 22): its long name, their
    count, then one length (8) for them all, as SPSS writes it (PSPP before 2.0 reads a length
    before each value, and warns), and each value blank-padded to 8 bytes."""
    name = layout.column.name.encode("utf-8")
    values = layout.column.missing_values
    return (struct.pack("<i", len(name)) + name + struct.pack("<Bi", len(values), MISSING_STRING_BYTES)
            + b"".join(_text(value, MISSING_STRING_BYTES) for value in values))
