"""What every benchmark does first: point Django at a database of its own (never the
development one), creating it if missing, and fill it with `seed_demo --patients N`."""

from __future__ import annotations

import os
import sys
import time
import warnings


def django_start(database_url: str, **environment: str) -> None:
    """Set up Django on `database_url` with the local settings, DEBUG off, quiet logs."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inocd22.settings.local")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # axes logs every sign-in at INFO
    os.environ.update(environment)
    _database_create(database_url)
    import django

    django.setup()
    warnings.simplefilter("ignore")


def registry_seed(database_url: str, patients: int) -> None:
    """Migrate, then seed `patients` patients unless the database holds exactly that many."""
    from django.core.management import call_command

    from patients.models import Patient

    call_command("migrate", verbosity=0)
    held = Patient.objects.count()
    if held == patients:
        return
    if held:
        sys.exit(f"{database_url} holds {held} patients, not {patients}: give another --database-url.")
    started = time.perf_counter()
    call_command("seed_demo", patients=patients, verbosity=0)
    print(f"seeded {patients} patients in {time.perf_counter() - started:.1f} s")


def _database_create(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
