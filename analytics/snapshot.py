"""Several read-only statements, run at once on PostgreSQL, all seeing one snapshot.

Loading a report's dataset is a few statements that each keep the database busy while
Python waits, then keep Python busy decoding rows while the database waits. Run on
separate connections in threads, one statement's decoding overlaps another's execution
and the database works on both cores. They must still read the same data: the first
connection opens a REPEATABLE READ transaction and exports its snapshot
(``pg_export_snapshot``), and every other connection imports it (``SET TRANSACTION
SNAPSHOT``) before reading, as ``pg_dump --jobs`` does.

Inside a transaction that has already begun (a test, a caller's ``atomic``), or on
another database, the statements run one after another on the caller's connection:
rows the caller has not committed would be invisible to other connections.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

Statement = tuple[str, list]  # SQL with %s placeholders, and its parameters
THREADS = 3  # connections besides the caller's: enough to keep two cores busy while Python decodes


def _as_read(name: str, rows: list) -> list:
    return rows


def rows_in_one_snapshot(statements: dict[str, Statement], *, then: Callable[[str, list], Any] = _as_read,
                         using: str = DEFAULT_DB_ALIAS) -> dict[str, Any]:
    """``then(name, rows)`` of each statement, by name, all read from one snapshot of the
    database; ``then`` runs in the thread that read the rows (by default it returns them).

    Statements are taken in the order given (put the longest first): the caller's
    connection takes the first, ``THREADS`` others the next ones, and each takes the
    next one left as it finishes."""
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.in_atomic_block or len(statements) < 2:
        with connection.cursor() as cursor:
            return {name: then(name, _rows(cursor, statement)) for name, statement in statements.items()}
    pending = deque(statements.items())  # popleft is atomic: the threads share it without a lock
    results: dict[str, Any] = {}
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
        name, statement = pending.popleft()  # the first (longest) on the caller's connection
        threads = min(THREADS, len(pending))
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="snapshot-read") as pool:
            futures = [pool.submit(_read_in_snapshot, pending, snapshot, then, using) for _ in range(threads)]
            while True:  # then the caller's connection takes the next one left, like the threads
                results[name] = then(name, _rows(cursor, statement))
                try:
                    name, statement = pending.popleft()
                except IndexError:
                    break
            for future in futures:
                results.update(future.result())
    return {name: results[name] for name in statements}


def _rows(cursor, statement: Statement) -> list:
    cursor.execute(*statement)
    return cursor.fetchall()


def _read_in_snapshot(pending: deque, snapshot: str, then: Callable[[str, list], Any], using: str) -> dict[str, Any]:
    """In a thread: its own connection reads statements from ``pending`` until none is
    left, each in a transaction that imports the caller's snapshot; closed after."""
    connection = connections[using]
    results = {}
    try:
        while True:
            try:
                name, statement = pending.popleft()
            except IndexError:
                return results
            with transaction.atomic(using=using), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
                rows = _rows(cursor, statement)
            results[name] = then(name, rows)  # after the transaction: the connection takes the next one
    finally:
        connection.close()
