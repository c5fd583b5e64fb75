"""Benchmark: the import of one site file of N casebooks next to `seed_demo --patients N`.

    .venv/bin/python benchmarks/import.py --patients 10000
        [--database-url postgres://postgres@127.0.0.1:5432/inocd22_bench_import]

In one run, on a database of its own (emptied of casebooks first):
  1. `seed_demo --patients N` (timed);
  2. every casebook written out in the import format (the REDCap flat CSV, by the REDCap
     export's own code, as a coordinator of every center), then every casebook removed;
  3. the dry run of that file (`redcap_api.site_import.site_import(dry_run=True)`: every row
     through the casebook's write service, edit checks and audit rows, each casebook rolled back);
  4. the import itself (each casebook in its own transaction, history rows with the reason).
Seeding, dry run and import each run in a fresh process; prints wall time and peak resident
memory (Linux VmHWM) of each, and the ratios import / seed and dry run / seed (goal ≤ 5).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._registry import django_start  # noqa: E402 (after the path)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/inocd22_bench_import"
IMPORTER = "import-benchmark"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--side", choices=["seed", "dry-run", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    options = parser.parse_args()
    django_start(options.database_url)
    if options.side:
        _measure_side(options)
        return

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _casebooks_remove()
    seed = _run_side("seed", options)
    with tempfile.TemporaryDirectory() as folder:
        options.file = str(Path(folder) / "site.csv")
        started = time.perf_counter()
        rows = _file_write(options.file)
        written = time.perf_counter() - started
        size = Path(options.file).stat().st_size
        _casebooks_remove()
        dry = _run_side("dry-run", options)
        imported = _run_side("import", options)
    print(f"patients                      {options.patients:>10}")
    print(f"file                          {rows:>10} rows, {size / 2**20:.1f} MiB (written in {written:.1f} s)")
    for label, side in (("seed_demo --patients N", seed), ("dry run", dry), ("import", imported)):
        extra = f"   {side['problems']} problems, {side['casebooks']} casebooks" if "problems" in side else ""
        print(f"{label:<30}{side['seconds']:>10.2f} s   peak RSS {side['peak'] / 2**20:.0f} MiB{extra}")
    print(f"ratio dry run / seed          {dry['seconds'] / seed['seconds']:>10.2f}  (goal ≤ 5)")
    print(f"ratio import / seed           {imported['seconds'] / seed['seconds']:>10.2f}  (goal ≤ 5)")


def _casebooks_remove() -> None:
    """Every casebook and its history gone, the centers' numbering back to zero."""
    from django.db import connection

    from patients.models import Patient
    from patients.registry import casebook
    from sites.models import Center

    with connection.cursor() as cursor:
        tables = [Patient._meta.db_table] + [part.model.history.model._meta.db_table for part in casebook.parts()]
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    Center.objects.update(last_sequence=0)


def _importer():
    from django.contrib.auth import get_user_model

    from sites.models import Center
    from sites.roles import Role
    from tests.factories import UserFactory

    user = get_user_model().objects.filter(username=IMPORTER).first()
    return user or UserFactory(username=IMPORTER, role=Role.COORDINATOR, centers=list(Center.objects.all()))


def _file_write(path: str) -> int:
    """The site file, streamed by the REDCap export's own CSV writer; returns its rows."""
    from redcap_api.project import instruments, project_fields
    from redcap_api.records import csv_header, record_csv_rows
    from redcap_api.selectors import record_counts, record_query_for_user

    query = record_query_for_user(user=_importer(), records=None, fields=list(project_fields()),
                                  complete=list(instruments()), data_access_groups=True)
    tally = Counter()
    with open(path, "wb") as out:
        out.write(csv_header(query.columns))
        for block in record_csv_rows(query, tally=tally):
            out.write(block)
    counts = record_counts(query, tally)
    records = counts[next(instrument.name for instrument in instruments() if instrument.part.is_patient)]
    return records + sum(counts[instrument.name] for instrument in instruments() if instrument.repeating)


def _run_side(side: str, options) -> dict:
    """Each side in a fresh process, so that its peak memory is its own."""
    command = [sys.executable, __file__, "--side", side, "--patients", str(options.patients), "--database-url",
               options.database_url] + (["--file", options.file] if options.file else [])
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 (our own script)
    if result.returncode:
        sys.exit(f"{side} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _measure_side(options) -> None:
    from django.core.management import call_command

    answer: dict = {}
    if options.side == "seed":
        started = time.perf_counter()
        call_command("seed_demo", patients=options.patients, verbosity=0)
        seconds = time.perf_counter() - started
    else:
        from redcap_api.site_import import file_rows, site_import

        user = _importer()
        started = time.perf_counter()
        rows = file_rows(file_name="site.csv", content=Path(options.file).read_bytes())
        outcome = site_import(user=user, file_name="site.csv", rows=rows, dry_run=options.side == "dry-run")
        seconds = time.perf_counter() - started
        answer = {"problems": len(outcome.problems), "casebooks": outcome.casebooks}
        for problem in outcome.problems[:5]:
            print(problem.line(), file=sys.stderr)
    print(json.dumps({"seconds": seconds, "peak": _status_kib("VmHWM") * 1024, **answer}))


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


if __name__ == "__main__":
    main()
