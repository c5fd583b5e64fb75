"""Statements read at once on several PostgreSQL connections see one snapshot."""

import threading
import time

import pytest
from django.db import connection, connections

from analytics import snapshot
from analytics.snapshot import rows_in_one_snapshot
from tests.factories import CenterFactory

COUNT = ("SELECT count(*) FROM sites_center", [])


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("connections sharing a snapshot are PostgreSQL's; elsewhere the statements run in turn")


def open_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def connections_back_to(count: int, *, timeout: float = 10) -> int:
    """The open connections once they are at most `count` again, or after `timeout` seconds: a
    server process whose client has closed its connection leaves pg_stat_activity a moment later."""
    deadline = time.monotonic() + timeout
    while (now := open_connections()) > count and time.monotonic() < deadline:
        time.sleep(0.05)
    return now


@pytest.mark.django_db(transaction=True)
def test_a_row_committed_after_the_snapshot_is_seen_by_no_statement(postgresql, monkeypatch):
    CenterFactory()
    monkeypatch.setattr(snapshot, "THREADS", 1)
    before = open_connections()

    def commit_a_center_meanwhile():
        time.sleep(0.3)
        CenterFactory()
        connections.close_all()

    writer = threading.Thread(target=commit_a_center_meanwhile)
    writer.start()
    # The caller's connection waits 1.5 s; the one thread waits 0.8 s, then counts (after
    # the commit at 0.3 s) in a transaction of its own that imports the snapshot.
    rows = rows_in_one_snapshot({"caller": ("SELECT pg_sleep(1.5)", []), "thread": ("SELECT pg_sleep(0.8)", []),
                                 "counted_later": COUNT})
    writer.join()
    assert rows["counted_later"] == [(1,)]
    assert rows_in_one_snapshot({"now": COUNT, "again": COUNT}) == {"now": [(2,)], "again": [(2,)]}
    assert connections_back_to(before) <= before  # the threads closed theirs


@pytest.mark.django_db(transaction=True)
def test_parallel_reads_give_what_one_connection_gives(postgresql, center, other_center):
    statements = {f"statement {n}": ("SELECT code, %s FROM sites_center ORDER BY code", [n]) for n in range(6)}
    parallel = rows_in_one_snapshot(statements)
    with connection.cursor() as cursor:
        sequential = {name: (cursor.execute(*statement), cursor.fetchall())[1] for name, statement in statements.items()}
    assert parallel == sequential
    assert list(parallel) == list(statements)
    assert parallel["statement 3"] == [("MI02", 3), ("RM01", 3)]


@pytest.mark.django_db
def test_inside_a_transaction_the_statements_read_what_it_wrote(center):
    # a test's data is not committed: other connections would not see it
    assert rows_in_one_snapshot({"a": COUNT, "b": COUNT}) == {"a": [(1,)], "b": [(1,)]}


# Each step of a read in one snapshot, by a fragment of the SQL that step runs. With one
# thread and two statements the first runs on the caller's connection, the second on the thread's.
SNAPSHOT_STEPS = {
    "the caller's transaction starts": "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    "the snapshot is exported": "pg_export_snapshot",
    "the caller reads": "/* caller */",
    "a thread imports the snapshot": "SET TRANSACTION SNAPSHOT",
    "a thread reads": "/* thread */",
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", list(SNAPSHOT_STEPS))
def test_a_connection_dropped_at_any_step_leaves_no_connection_broken(postgresql, monkeypatch, step):
    from django.db import DatabaseError

    from tests.analytics.faults import backend_terminated_before, sessions_idle_in_transaction

    CenterFactory()
    monkeypatch.setattr(snapshot, "THREADS", 1)
    statements = {"caller": ("SELECT pg_sleep(0.3), 1 /* caller */", []),
                  "thread": ("SELECT 2 /* thread */", [])}
    with backend_terminated_before(SNAPSHOT_STEPS[step]) as hit, pytest.raises(DatabaseError):
        rows_in_one_snapshot(statements)
    assert hit
    assert not connection.in_atomic_block
    # the caller's thread goes on: the next query (a request's) opens a new connection if it must
    assert rows_in_one_snapshot({"a": COUNT, "b": COUNT}) == {"a": [(1,)], "b": [(1,)]}
    assert sessions_idle_in_transaction() == 0
