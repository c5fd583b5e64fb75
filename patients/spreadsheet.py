"""CSV files that spreadsheets open safely, streamed row by row."""

from __future__ import annotations

import csv
from collections.abc import Iterable

from django.http import HttpResponse, StreamingHttpResponse


def csv_safe(value) -> str:
    """A cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    def write(self, value):
        return value


def csv_lines(rows: Iterable[Iterable]) -> Iterable[str]:
    """Each row as one CSV line, every cell made safe."""
    writer = csv.writer(_Echo())
    return (writer.writerow([csv_safe(value) for value in row]) for row in rows)


def csv_response(rows: Iterable[Iterable], *, filename: str, stream: bool = True) -> HttpResponse | StreamingHttpResponse:
    """A CSV attachment, streamed as its rows are produced (or whole, for a small table)."""
    lines = csv_lines(rows)
    content_type = "text/csv; charset=utf-8"
    response = StreamingHttpResponse(lines, content_type=content_type) if stream else HttpResponse(
        "".join(lines), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
