"""Backup and restore as the README describes it: a pg_dump of the registry, restored with
pg_restore into a fresh database, gives the same analysis dataset (hash) and audit trail."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections

from analytics.dataset import analysis_dataset_load
from outcomes.demo import demo_cohort_seed
from outcomes.demo_cohort import DEMO_CUTOFF
from outcomes.models import FollowUp
from patients.audit import audit_trail_rows
from patients.services import crf_row_save

# A transactional test: the data must be committed for pg_dump to see it. The flush after it makes
# the roles' groups again (sites.apps), so no serialized rollback is needed.
pytestmark = pytest.mark.django_db(transaction=True)
PG_TIMEOUT_S = 120


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump/pg_restore back up PostgreSQL; the embedded SQLite is copied with its backup API")
    tools = {name: shutil.which(name) for name in ("pg_dump", "pg_restore")}
    if not all(tools.values()):
        pytest.fail("pg_dump and pg_restore are needed on PostgreSQL (postgresql-client)")
    return tools


def _client_arguments(settings_dict: dict) -> tuple[list[str], dict[str, str]]:
    """The host, port and user of libpq's command-line tools, and the password in their environment."""
    arguments = ["--no-password"]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if settings_dict.get(key):
            arguments.append(f"{option}={settings_dict[key]}")
    environment = dict(os.environ)
    if settings_dict.get("PASSWORD"):
        environment["PGPASSWORD"] = settings_dict["PASSWORD"]
    return arguments, environment


def _maintenance_connection(settings_dict: dict) -> psycopg.Connection:
    return psycopg.connect(dbname="postgres", host=settings_dict.get("HOST") or None,
                           port=settings_dict.get("PORT") or None, user=settings_dict.get("USER") or None,
                           password=settings_dict.get("PASSWORD") or None, autocommit=True)


@contextmanager
def fresh_database(settings_dict: dict) -> Iterator[str]:
    """An empty database next to the test database, dropped afterwards."""
    name = f"{settings_dict['NAME']}_restored"[:63]
    with _maintenance_connection(settings_dict) as maintenance:
        maintenance.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        maintenance.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with _maintenance_connection(settings_dict) as maintenance:
            maintenance.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def default_database_named(name: str) -> Iterator[None]:
    """Point the default alias at another database of the same server. Its settings dict is
    the one every thread's connection is made from, so the snapshot's reader threads follow."""
    settings_dict = connection.settings_dict
    assert connections.settings["default"] is settings_dict
    original = settings_dict["NAME"]
    connections.close_all()
    settings_dict["NAME"] = name
    try:
        yield
    finally:
        connections.close_all()
        settings_dict["NAME"] = original


def registry_read() -> tuple[int, str, list[list[str]]]:
    """What a restore must give back: the statistician's dataset (size and hash) and the monitor's audit trail."""
    User = get_user_model()
    dataset = analysis_dataset_load(user=User.objects.get(username="statistician"), cutoff=DEMO_CUTOFF)
    return dataset.n_patients, dataset.sha256(), list(audit_trail_rows(user=User.objects.get(username="monitor")))


def test_a_restored_dump_gives_the_same_dataset_hash_and_audit_trail(postgresql, tmp_path):
    demo_cohort_seed(seed=2025, n_patients=24, n_centers=4, password="backup-test")
    # One edit with a reason for change, as a coordinator makes it: the audit trail holds more than the seed.
    follow_up = FollowUp.objects.select_related("patient__center").filter(death_date=None).order_by("pk").first()
    coordinator = get_user_model().objects.get(username=f"coordinator-{follow_up.patient.center.code.lower()}")
    follow_up.last_contact_date += dt.timedelta(days=1)
    crf_row_save(user=coordinator, row=follow_up, reason="Visit date corrected from the chart",
                 expected_version=follow_up.version)
    analysed, hash_before, audit_before = registry_read()
    assert analysed > 0
    assert len(audit_before) > 24 and any(row[8] == "Visit date corrected from the chart" for row in audit_before)

    settings_dict = connection.settings_dict
    arguments, environment = _client_arguments(settings_dict)
    dump = tmp_path / "registry.dump"
    subprocess.run([postgresql["pg_dump"], *arguments, "--format=custom", f"--file={dump}", settings_dict["NAME"]],
                   env=environment, check=True, timeout=PG_TIMEOUT_S)
    with fresh_database(settings_dict) as restored:
        subprocess.run([postgresql["pg_restore"], *arguments, "--no-owner", "--exit-on-error", f"--dbname={restored}", str(dump)],
                       env=environment, check=True, timeout=PG_TIMEOUT_S)
        with default_database_named(restored):
            assert connection.cursor().connection.info.dbname == restored
            analysed_after, hash_after, audit_after = registry_read()

    assert (analysed_after, hash_after) == (analysed, hash_before)
    assert audit_after == audit_before
