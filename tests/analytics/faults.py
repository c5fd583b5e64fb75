"""Faults injected into PostgreSQL connections: the backend of a connection is terminated
(as ``pg_terminate_backend`` from another session, a failover or a restart would) just
before it runs a chosen statement."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from django.db.backends.utils import CursorWrapper


def require_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("terminating a backend is PostgreSQL's")


@contextlib.contextmanager
def backend_terminated_before(fragment: str) -> Iterator[list[str]]:
    """The first connection, in any thread, about to run SQL containing ``fragment`` loses its
    backend first; the statement then fails as it would on a dropped connection. Yields the
    list of statements that were hit (empty if none was)."""
    hit: list[str] = []
    execute = CursorWrapper._execute

    def terminating_execute(self, sql, params, *args):
        if not hit and fragment in sql:
            hit.append(sql)
            with contextlib.suppress(Exception):  # the server ends the session while answering
                self.db.connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return execute(self, sql, params, *args)

    def terminating_copy(self, statement, *args, **kwargs):  # COPY runs on psycopg's own cursor
        if not hit and fragment in str(statement):
            hit.append(str(statement))
            with contextlib.suppress(Exception):
                self.connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return copy(self, statement, *args, **kwargs)

    copy = psycopg.Cursor.copy
    CursorWrapper._execute = terminating_execute
    psycopg.Cursor.copy = terminating_copy
    try:
        yield hit
    finally:
        CursorWrapper._execute = execute
        psycopg.Cursor.copy = copy


def sessions_idle_in_transaction() -> int:
    """Sessions of this database left inside a transaction with nothing running."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]
