"""SAS transport files (XPORT version 5), written here rather than by pyreadstat: pyreadstat
writes no SAS special missing value, and a coded value must be one (.U, .D, .N).

The version 5 layout, which SAS, R (haven) and pandas (``read_sas``) all read: 80-byte
header records, one 140-byte NAMESTR per variable, then the observations; names of at most
8 characters, labels of at most 40 bytes; numbers as 8-byte IBM hexadecimal floats, where a
missing value is its first byte (``.`` or the letter of a special missing value) followed by
seven zero bytes; text left-aligned and blank-padded.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

RECORD = 80
NAMESTR_LENGTH = 140
NAME_LENGTH = 8
LABEL_LENGTH = 40
_PREFIX = "HEADER RECORD*******"
_NAMESTR = struct.Struct(">hhhh8s40s8shhh2s8shhi52s")


@dataclass(frozen=True)
class XportColumn:
    name: str  # at most 8 characters (see ``sas_names``)
    label: str
    numeric: bool
    length: int = 8  # bytes of a text column
    format_name: str = ""  # e.g. DATE (with format_width 9) for SAS dates
    format_width: int = 0


def sas_names(names: Sequence[str]) -> dict[str, str]:
    """A SAS name of at most 8 characters for each name, unique in ``names`` and stable: the
    name itself when short enough, else its first 8 characters, a `<name>_missing` companion
    its first 6 and ``_m``; a clash takes a two-digit number at the end."""
    found: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        if len(name) <= NAME_LENGTH:
            candidate = name
        elif name.endswith("_missing"):
            candidate = name.removesuffix("_missing")[: NAME_LENGTH - 2] + "_m"
        else:
            candidate = name[:NAME_LENGTH]
        number = 1
        while candidate.lower() in taken:
            candidate = f"{candidate[: NAME_LENGTH - 2]}{number:02d}"
            number += 1
        taken.add(candidate.lower())
        found[name] = candidate
    return found


def ibm_float(value: float) -> bytes:
    """``value`` as an 8-byte IBM System/360 double: sign bit, base-16 exponent biased by 64,
    56-bit fraction."""
    if value == 0:
        return bytes(8)
    sign = 0x80 if value < 0 else 0
    mantissa, exponent2 = math.frexp(abs(value))  # abs(value) = mantissa * 2**exponent2, 0.5 <= mantissa < 1
    exponent16 = -(-exponent2 // 4)
    fraction = int(mantissa * 2.0 ** (56 + exponent2 - 4 * exponent16))
    if not 0 <= exponent16 + 64 < 128:
        raise ValueError(f"{value} is out of the range of an IBM float")
    return bytes([sign | (exponent16 + 64)]) + fraction.to_bytes(7, "big")


def missing_float(letter: str = "") -> bytes:
    """A missing number: ``.`` or the special missing value ``.A`` to ``.Z``, ``._``."""
    return (letter or ".").encode("ascii") + bytes(7)


def _text(value: str, length: int) -> bytes:
    return _fit(value, length).ljust(length, b" ")


def _fit(value: str, length: int) -> bytes:
    """``value`` in UTF-8 cut to ``length`` bytes without splitting a character."""
    data = value.encode("utf-8")
    while len(data) > length:
        value = value[:-1]
        data = value.encode("utf-8")
    return data


def _header(name: str, digits: str = "0" * 30) -> bytes:
    return f"{_PREFIX}{name:<8s}HEADER RECORD!!!!!!!{digits}  ".encode("ascii")


def _stamp(moment: dt.datetime) -> bytes:
    return moment.strftime("%d%b%y:%H:%M:%S").upper().encode("ascii")


def _padded(data: bytes) -> bytes:
    return data + b" " * (-len(data) % RECORD)


def text_length(values: Iterable[str]) -> int:
    """The byte length of a text column holding ``values`` (at least 1)."""
    return max((len(value.encode("utf-8")) for value in values), default=1) or 1


def ibm_floats(values, letters: dict[str, object] | None = None):
    """``ibm_float`` of a whole float64 array at once (NaN: missing ``.``), as big-endian 8-byte
    integers; ``letters`` maps a special missing value's letter to the mask of its rows."""
    import numpy as np

    values = np.asarray(values, dtype="float64")
    missing = np.isnan(values)
    out = np.zeros(len(values), dtype=">u8")
    present = ~missing & (values != 0)
    numbers = values[present]
    mantissa, exponent2 = np.frexp(np.abs(numbers))
    exponent16 = -((-exponent2) // 4)
    if len(numbers) and not ((exponent16 + 64).min() >= 0 and (exponent16 + 64).max() < 128):
        raise ValueError("a value is out of the range of an IBM float")
    fraction = np.ldexp(mantissa, 56 + exponent2 - 4 * exponent16).astype(np.uint64)
    first = (np.where(numbers < 0, 0x80, 0) | (exponent16 + 64)).astype(np.uint64)
    out[present] = (first << np.uint64(56)) | fraction
    out[missing] = ord(".") << 56
    for letter, mask in (letters or {}).items():
        out[mask] = ord(letter) << 56
    return out


def write_xport(handle: BinaryIO, *, columns: Sequence[XportColumn], rows: Iterable[Sequence],
                dataset_name: str, dataset_label: str = "", created: dt.datetime | None = None) -> None:
    """One dataset as an XPORT v5 file. A numeric value is a float, None (missing) or a
    one-letter string (that special missing value); a text value is a string."""
    write_xport_header(handle, columns=columns, dataset_name=dataset_name, dataset_label=dataset_label,
                       created=created)
    written = 0
    for row in rows:
        parts = []
        for column, value in zip(columns, row, strict=True):
            if not column.numeric:
                parts.append(_text("" if value is None else str(value), column.length))
            elif value is None or (isinstance(value, float) and math.isnan(value)):
                parts.append(missing_float())
            elif isinstance(value, str):
                parts.append(missing_float(value))
            else:
                parts.append(ibm_float(float(value)))
        data = b"".join(parts)
        handle.write(data)
        written += len(data)
    handle.write(b" " * (-written % RECORD))


def write_xport_records(handle: BinaryIO, *, columns: Sequence[XportColumn], records, dataset_name: str,
                        dataset_label: str = "", created: dt.datetime | None = None) -> None:
    """One dataset as an XPORT v5 file whose observations are already laid out (``records``:
    each row's cells in column order, numbers as ``ibm_floats``, text blank-padded: bytes or a
    byte memoryview)."""
    write_xport_chunks(handle, columns=columns, chunks=[records], dataset_name=dataset_name,
                       dataset_label=dataset_label, created=created)


def write_xport_chunks(handle: BinaryIO, *, columns: Sequence[XportColumn], chunks: Iterable, dataset_name: str,
                       dataset_label: str = "", created: dt.datetime | None = None) -> None:
    """``write_xport_records`` from chunks of records (bytes or byte memoryviews, each whole
    observations): the version 5 header holds no observation count, so the chunks go out as
    they come."""
    write_xport_header(handle, columns=columns, dataset_name=dataset_name, dataset_label=dataset_label,
                       created=created)
    written = 0
    for chunk in chunks:
        handle.write(chunk)
        written += len(chunk)
    handle.write(b" " * (-written % RECORD))


def write_xport_header(handle: BinaryIO, *, columns: Sequence[XportColumn], dataset_name: str,
                       dataset_label: str = "", created: dt.datetime | None = None) -> None:
    """The header records of an XPORT v5 file, up to the observations' header."""
    created = created or dt.datetime.now(dt.UTC)
    stamp = _stamp(created)
    handle.write(_header("LIBRARY"))
    handle.write(b"SAS     SAS     SASLIB  9.4     " + b"Linux".ljust(8) + b" " * 24 + stamp)
    handle.write(stamp + b" " * 64)
    handle.write(_header("MEMBER", "0" * 17 + "16" + "0" * 8 + str(NAMESTR_LENGTH)))
    handle.write(_header("DSCRPTR"))
    handle.write(b"SAS     " + _text(dataset_name.upper(), 8) + b"SASDATA 9.4     " + b"Linux".ljust(8) + b" " * 24
                 + stamp)
    handle.write(stamp + b" " * 16 + _text(dataset_label, LABEL_LENGTH) + b" " * 8)
    handle.write(_header("NAMESTR", f"000000{len(columns):04d}" + "0" * 20))
    namestrs, position = [], 0
    for number, column in enumerate(columns, start=1):
        length = 8 if column.numeric else column.length
        namestrs.append(_NAMESTR.pack(
            1 if column.numeric else 2, 0, length, number, _text(column.name, 8), _text(column.label, LABEL_LENGTH),
            _text(column.format_name, 8), column.format_width, 0, 0, b"\0\0", b" " * 8, 0, 0, position, bytes(52)))
        position += length
    handle.write(_padded(b"".join(namestrs)))
    handle.write(_header("OBS"))
