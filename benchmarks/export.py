"""Benchmark: the de-identified exports next to PostgreSQL's own COPY of the same tables.

    .venv/bin/python benchmarks/export.py --patients 100000
        [--database-url postgres://postgres@127.0.0.1:5432/inocd22_bench_export]
        [--format csv] [--dates relative] [--values codes]   one mode
        [--modes all | csv/shifted/labels,json/relative/codes,...]   several, one table of figures
        [--format redcap-csv|redcap-json --dates shifted|actual]   the REDCap API's record export

Seeds the database with `seed_demo --patients N` when it does not hold exactly N patients
(a database of its own: never the development one), then, in the same run, times
  1. the export as the API streams it (`analytics.exports.services.export_stream`: selectors,
     allowlist, date and code conversion in SQL, the CSV (and the JSON objects) written by the
     database through COPY, zip, SHA-256, export log), consuming the stream as a client would;
  2. `COPY (SELECT <the same source columns, keyed by study ID>) TO STDOUT WITH CSV HEADER`
     of the same ten tables, read by the client;
and prints wall time and peak resident memory (Linux VmHWM, reset before each side) of each,
and their ratio (goal: export ≤ 3 × COPY).

The REDCap modes time the record export of `/redcap/api/` (`content=record`, every field,
`rawOrLabel` raw for codes or label for labels), called as the API view with a REDCap token
and its response read to the end: as the statistician (de-identified, dates shifted) or, with
`--dates actual`, as the monitor (identifiers and actual dates). Its rows are the same
tables' rows, so its COPY side is the same.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._registry import django_start, registry_seed  # noqa: E402 (after the path)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/inocd22_bench_export"
REDCAP_FORMATS = ("redcap-csv", "redcap-json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--format", default="csv", choices=["csv", "json", "odm", "dta", "sav", "xpt", *REDCAP_FORMATS],
                        help="export format to time")
    parser.add_argument("--dates", default="relative", choices=["relative", "shifted", "actual"],
                        help="actual: the REDCap modes only, as a user who may see identifiers")
    parser.add_argument("--values", default="codes", choices=["codes", "labels"])
    parser.add_argument("--modes", help="'all' (every format × dates × values but ODM) or a comma-separated list of "
                                        "format/dates/values")
    parser.add_argument("--side", choices=["export", "copy"], help=argparse.SUPPRESS)  # one measured side
    options = parser.parse_args()

    django_start(options.database_url)

    if options.side:
        _measure_side(options)
        return
    registry_seed(options.database_url, options.patients)

    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("COPY needs PostgreSQL: give a postgres:// --database-url.")

    if options.modes:
        _modes_table(options)
        return
    export = _run_side("export", options)
    copy = _run_side("copy", options)
    rows = export["rows"]
    print(f"patients                      {options.patients:>10}")
    print(f"rows exported                 {sum(rows.values()):>10}  ({', '.join(f'{k} {v}' for k, v in rows.items())})")
    sent = "sent (uncompressed)" if options.format in REDCAP_FORMATS else "sent (zip)"
    for label, side, unit in ((f"export {options.format}/{options.dates}/{options.values}", export, sent),
                              ("COPY ... TO STDOUT WITH CSV", copy, "read (uncompressed)")):
        print(f"{label:<30}{side['seconds']:>10.2f} s   peak RSS {side['peak'] / 2**20:.0f} MiB "
              f"(+{(side['peak'] - side['baseline']) / 2**20:.0f} MiB over the {side['baseline'] / 2**20:.0f} MiB "
              f"of the process at start)   {side['bytes'] / 2**20:.1f} MiB {unit}")
    print(f"ratio export / COPY           {export['seconds'] / copy['seconds']:>10.2f}  (goal ≤ 3)")


ALL_MODES = [f"{file_format}/{dates}/{values}" for file_format in ("csv", "json", "dta", "sav", "xpt")
             for dates in ("relative", "shifted") for values in ("codes", "labels")]


def _modes_table(options) -> None:
    """Each mode's export next to a COPY run just before it (the machine's load changes over
    a long run), each in a fresh process: seconds, ratio to that COPY, and peak memory."""
    modes = ALL_MODES if options.modes == "all" else options.modes.split(",")
    print(f"patients {options.patients}")
    print(f"{'mode':<24}{'seconds':>9}{'COPY s':>9}{'× COPY':>9}{'peak RSS MiB':>14}{'over start MiB':>16}"
          f"{'size MiB':>10}")
    for mode in modes:
        options.format, options.dates, options.values = mode.split("/")
        copy = _run_side("copy", options)
        export = _run_side("export", options)
        print(f"{mode:<24}{export['seconds']:>9.2f}{copy['seconds']:>9.2f}{export['seconds'] / copy['seconds']:>9.2f}"
              f"{export['peak'] / 2**20:>14.0f}{(export['peak'] - export['baseline']) / 2**20:>16.0f}"
              f"{export['bytes'] / 2**20:>10.1f}", flush=True)


def _run_side(side: str, options) -> dict:
    """Each side in a fresh process, so that its peak memory is its own."""
    import json
    import subprocess

    command = [sys.executable, __file__, "--side", side, "--patients", str(options.patients), "--database-url",
               options.database_url, "--format", options.format, "--dates", options.dates, "--values", options.values]
    result = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603 (our own script)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _measure_side(options) -> None:
    import json

    if options.side == "export":
        # Loaded before the clock starts and the memory baseline is taken, as in a server
        # process that has exported before (the first import takes a second).
        import numpy  # noqa: F401
        import pandas  # noqa: F401

    baseline = _status_kib("VmRSS") * 1024
    if options.side == "export":
        seconds, _peak, size, rows = _time_export(options)
    else:
        seconds, _peak, size = _time_copy()
        rows = {}
    print(json.dumps({"seconds": seconds, "peak": _status_kib("VmHWM") * 1024, "baseline": baseline, "bytes": size,
                      "rows": rows}))


def _rss_reset() -> int:
    """Reset the peak-RSS counter (Linux) and return the current RSS in bytes."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") * 1024


def _peak_since(baseline: int) -> int:
    return max(_status_kib("VmHWM") * 1024 - baseline, 0)


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _time_export(options):
    if options.format in REDCAP_FORMATS:
        return _time_redcap_export(options)
    from django.contrib.auth import get_user_model

    from analytics.exports.dataset import ExportOptions
    from analytics.exports.services import export_log_start, export_stream
    from sites.roles import Role

    user = get_user_model().objects.filter(groups__name=Role.STATISTICIAN).first()
    if user is None:
        sys.exit("no statistician user: seed the database with seed_demo")
    export_options = ExportOptions(options.format, options.dates, options.values)
    baseline = _rss_reset()
    started = time.perf_counter()
    log = export_log_start(user=user, options=export_options)
    size = 0
    for chunk in export_stream(log=log, user=user, options=export_options):
        size += len(chunk)  # a client reading the response and throwing it away
    seconds = time.perf_counter() - started
    peak = _peak_since(baseline)
    log.refresh_from_db()
    return seconds, peak, size, log.rows


def _time_redcap_export(options):
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from analytics.models import ExportLog
    from redcap_api.api import redcap_api_view
    from sites.models import ApiTokenKind
    from sites.services import api_token_create

    user = get_user_model().objects.get(username="monitor" if options.dates == "actual" else "statistician")
    token = api_token_create(user=user, kind=ApiTokenKind.REDCAP)[1]
    request = RequestFactory().post("/redcap/api/", {
        "token": token, "content": "record", "format": options.format.removeprefix("redcap-"), "type": "flat",
        "rawOrLabel": "label" if options.values == "labels" else "raw"})
    baseline = _rss_reset()
    started = time.perf_counter()
    response = redcap_api_view(request)
    size = 0
    for chunk in response:  # a client reading the response and throwing it away
        size += len(chunk)
    response.close()
    seconds = time.perf_counter() - started
    peak = _peak_since(baseline)
    assert response.status_code == 200, response.status_code
    return seconds, peak, size, ExportLog.objects.filter(user=user).latest("pk").rows


def copy_queries() -> dict[str, str]:
    """SELECTs of the same tables and source columns as the export (live rows, keyed by
    study ID, in the export's order), for PostgreSQL's COPY."""
    from django.db import connection

    from analytics.exports.variables import export_tables

    quote = connection.ops.quote_name
    queries = {}
    for table in export_tables():
        model_table = quote(table.model._meta.db_table)
        columns, joins = [], {}
        for variable in table.variables:
            for path in variable.inputs:
                if "__" in path:  # a field of a related table (center code, CTCAE term): joined
                    relation, name = path.split("__")
                    foreign_key = table.model._meta.get_field(relation)
                    related = foreign_key.related_model
                    alias = f"r_{relation}"
                    joins[alias] = (f"LEFT JOIN {quote(related._meta.db_table)} {alias} ON "
                                    f"{alias}.{quote(foreign_key.target_field.column)} = t.{quote(foreign_key.column)}")
                    columns.append(f"{alias}.{quote(related._meta.get_field(name).column)}")
                else:
                    columns.append(f"t.{quote(table.model._meta.get_field(path).column)}")
        if table.codable:
            columns.append("t.missing_codes")  # the companions' codes
        columns = list(dict.fromkeys(columns))
        joined = " ".join(joins.values())
        if table.is_patient_table:
            queries[table.name] = (
                f"SELECT t.study_id, {', '.join(columns)} FROM {model_table} t {joined} "  # noqa: S608 (model names)
                f"WHERE NOT t.is_deleted ORDER BY t.id"
            )
        else:
            order = ", ".join(f"t.{quote(table.model._meta.get_field(name).column)}" if name != "pk" else "t.id"
                              for name in table.order_by if name != "patient_id")
            queries[table.name] = (
                f"SELECT p.study_id, {', '.join(columns)} FROM {model_table} t "  # noqa: S608 (model names)
                f"JOIN patients_patient p ON p.id = t.patient_id {joined} WHERE NOT t.is_deleted AND NOT p.is_deleted "
                f"ORDER BY t.patient_id{', ' + order if order else ''}"
            )
    return queries


def _time_copy():
    from django.db import connection

    queries = copy_queries()
    baseline = _rss_reset()
    started = time.perf_counter()
    size = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor
        for query in queries.values():
            with raw.copy(f"COPY ({query}) TO STDOUT WITH CSV HEADER") as copy:
                for block in copy:
                    size += len(block)
    seconds = time.perf_counter() - started
    return seconds, _peak_since(baseline), size



if __name__ == "__main__":
    main()
