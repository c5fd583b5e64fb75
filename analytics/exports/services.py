"""Export a de-identified dataset: check the role, record the export, stream the file while
hashing it, and complete the record (rows per table, size, SHA-256) after the last byte."""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from collections.abc import Iterator

from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.exports.dataset import (
    ExportOptions,
    csv_copy_available,
    date_shifts,
    shifts_in_database,
    table_csv_copy,
    table_json_copy,
    table_rows,
)
from analytics.exports.dictionary import dictionary_entries
from analytics.exports.formats import FILE_EXTENSIONS, WRITERS, ExportSource
from analytics.exports.sql import export_settings
from analytics.exports.variables import export_tables
from analytics.models import ExportLog, ExportStatus
from sites.roles import can_export_datasets, can_read_export_log


def export_log_start(*, user, options: ExportOptions) -> ExportLog:
    """Record the start of an export; refuses users who may not export (PermissionDenied)."""
    if not can_export_datasets(user):
        raise PermissionDenied(_("Only statisticians and administrators export datasets."))
    log = ExportLog.objects.create(user=user, file_format=options.file_format, dates=options.dates,
                                   values=options.values, parameters=options.as_dict)
    log.filename = f"inocd22-export-{log.pk}-{options.dates}-{options.values}.{FILE_EXTENSIONS[options.file_format]}"
    log.save(update_fields=["filename"])
    return log


def export_log_list_for_user(*, user):
    """The export log, for administrators only."""
    if not can_read_export_log(user):
        return ExportLog.objects.none()
    return ExportLog.objects.select_related("user")


class _Snapshot:
    """One read transaction for the whole export, so that every table comes from the same
    snapshot (REPEATABLE READ on PostgreSQL) and cursors are plain server-side cursors
    rather than WITH HOLD ones that PostgreSQL would materialise at each commit; with the
    export's session settings (``export_settings``)."""

    def __enter__(self):
        outermost = not connection.in_atomic_block
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        try:
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    if outermost:
                        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    export_settings(cursor)
        except BaseException:
            # A with statement runs __exit__ only after __enter__ returned: leave the atomic
            # block here, which drops a broken connection, or the connection stays marked as
            # inside a transaction and every later query of this thread fails.
            self._atomic.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc):
        return self._atomic.__exit__(*exc)


def export_stream(*, log: ExportLog, user, options: ExportOptions) -> Iterator[bytes]:
    """The bytes of the export file. Completes `log` once the last byte is produced; a client
    that goes away leaves it marked failed, with what had been sent."""
    counts: Counter = Counter()
    digest = hashlib.sha256()
    size = 0

    shifts = None

    def counted_rows(table):
        for item in table_rows(table, user=user, options=options, shifts=shifts):
            counts[table.name] += 1
            yield item

    def counted_csv_blocks(table):
        counts[table.name] = yield from table_csv_copy(table, user=user, options=options, shifts=shifts)

    def counted_json_blocks(table):
        counts[table.name] = yield from table_json_copy(table, user=user, options=options, shifts=shifts)

    source = ExportSource(
        options=options,
        tables=export_tables(),
        rows=counted_rows,
        dictionary=dictionary_entries(options),
        csv_blocks=counted_csv_blocks if csv_copy_available(options) else None,
        json_blocks=counted_json_blocks if csv_copy_available(options) else None,
        meta={"study": "INO-CD22", "export_id": log.pk, "created": log.started_at.isoformat(),
              "parameters": options.as_dict, "patient_key": "study_id",
              "dates": "days from IO cycle 1 day 1" if options.dates == "relative"
              else "dates shifted by a per-patient offset that keeps intervals"},
    )
    try:
        with _Snapshot():
            if options.dates == "shifted" and shifts_in_database():
                shifts = date_shifts(user=user)  # once for every table, in the export's snapshot
            for chunk in WRITERS[options.file_format](source):
                if chunk:
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk
    except BaseException:
        _log_finish(log, status=ExportStatus.FAILED, counts=counts, size=size, sha256="")
        raise
    _log_finish(log, status=ExportStatus.COMPLETED, counts=counts, size=size, sha256=digest.hexdigest())


def _log_finish(log: ExportLog, *, status: str, counts: Counter, size: int, sha256: str) -> None:
    log.status = status
    log.rows = {table.name: counts.get(table.name, 0) for table in export_tables()}
    log.size_bytes = size
    log.sha256 = sha256
    log.finished_at = timezone.now()
    log.save(update_fields=["status", "rows", "size_bytes", "sha256", "finished_at"])


def export_bytes(*, user, options: ExportOptions) -> tuple[ExportLog, bytes]:
    """The whole export in memory (tests, small datasets)."""
    log = export_log_start(user=user, options=options)
    data = b"".join(export_stream(log=log, user=user, options=options))
    log.refresh_from_db()
    return log, data
