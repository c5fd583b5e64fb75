"""Fixed-width records built chunk by chunk, when the widths of their text fields are known
only once the last chunk is read.

Stata (``str#``) and SAS transport files give every text column one width, its longest
value's, in the file's header, before the data; the rows arrive from a cursor. Each chunk is
laid out with numpy at its own widths and spilled to a temporary file; once the last one is
in, the observation count and every column's width are known, and ``widened`` reads the
chunks back one at a time at the final widths. Memory holds one chunk, whatever the table.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import numpy as np


class RecordSpill:
    """Chunks of records (numpy structured arrays of the same fields, text fields ``S#`` of any
    width) kept in a temporary file; ``widened`` gives them back at the widest widths seen."""

    def __init__(self, *, pad: bytes = b"\0"):
        self.pad = pad  # what fills a text field past its value: NUL (Stata) or blank (SAS)
        self.rows = 0
        self._chunks: list[tuple[np.dtype, int]] = []
        self._widths: dict[str, int] = {}
        self._file = tempfile.TemporaryFile(prefix="inocd22-records-")  # noqa: SIM115 (closed by close())
        self._names: tuple[str, ...] | None = None

    def append(self, records: np.ndarray) -> None:
        if self._names is None:
            self._names = records.dtype.names
        for name in self._names:
            kind = records.dtype.fields[name][0]
            if kind.kind == "S":
                self._widths[name] = max(self._widths.get(name, 1), kind.itemsize)
        self._chunks.append((records.dtype, len(records)))
        self._file.write(memoryview(np.ascontiguousarray(records)).cast("B"))
        self.rows += len(records)

    def text_width(self, name: str) -> int:
        return self._widths.get(name, 1)

    def dtype(self, template: np.dtype) -> np.dtype:
        """``template``'s fields with each text field at its widest width seen."""
        return np.dtype([(name, f"S{self._widths[name]}" if template.fields[name][0].kind == "S"
                          else template.fields[name][0]) for name in template.names])

    def widened(self, dtype: np.dtype) -> Iterator[memoryview]:
        """Each chunk's bytes, in order, laid out as ``dtype`` (``dtype`` of the first chunk)."""
        self._file.seek(0)
        for chunk_dtype, rows in self._chunks:
            data = self._file.read(chunk_dtype.itemsize * rows)
            if chunk_dtype == dtype:
                yield memoryview(data)
                continue
            chunk = np.frombuffer(data, dtype=chunk_dtype)
            records = np.empty(rows, dtype=dtype)
            for name in dtype.names:
                values = chunk[name]
                width = dtype.fields[name][0].itemsize
                if dtype.fields[name][0].kind == "S" and self.pad != b"\0" and values.dtype.itemsize < width:
                    values = padded(values.astype(f"S{width}"), self.pad)
                records[name] = values
            yield memoryview(records).cast("B")

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def padded(values: np.ndarray, pad: bytes) -> np.ndarray:
    """Fixed-width bytes (``S#``) with the NUL bytes numpy pads them with made ``pad``: text
    from the database never holds a NUL byte, so each one is padding."""
    if not len(values) or pad == b"\0":
        return values
    cells = values.view(np.uint8).reshape(len(values), values.dtype.itemsize)
    cells[cells == 0] = pad[0]
    return values


def blank_padded(values: np.ndarray) -> np.ndarray:
    """``padded`` with blanks, as SAS pads its text."""
    return padded(values, b" ")
