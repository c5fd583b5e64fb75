"""Benchmark: server time of the casebook pages with a large registry.

    .venv/bin/python benchmarks/pages.py [--patients 10000] [--requests 50]
        [--database-url postgres://postgres@127.0.0.1:5432/inocd22_bench_pages]

Seeds a database of its own (never the development one) with `seed_demo --patients N`
when it does not hold exactly N patients, then times, with Django's test Client (the
whole request: middleware, session, queries, templates; no network), each page over
`--requests` requests after one warm-up, and prints median, p95 and the SQL queries of
one request:
  - the home page and the patient list of a monitor (every center),
  - the patient list of a site coordinator, searched by study ID,
  - the casebook of the patient with the most rows, and its audit trail.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._registry import django_start, registry_seed  # noqa: E402 (after the path)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/inocd22_bench_pages"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    options = parser.parse_args()

    django_start(options.database_url, ALLOWED_HOSTS="testserver")

    registry_seed(options.database_url, options.patients)
    _run(options)



def _run(options) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import Count
    from django.test import Client

    from patients.models import Patient

    users = get_user_model().objects
    richest = (
        Patient.objects.annotate(rows=Count("io_cycles", distinct=True) + Count("responses", distinct=True)
                                 + Count("adverse_events", distinct=True) + Count("prior_lines", distinct=True))
        .order_by("-rows")
        .select_related("center")
        .first()
    )
    coordinator = users.get(username=f"coordinator-{richest.center.code.lower()}")
    monitor = users.get(username="monitor")
    pages = [
        ("home (monitor)", monitor, "/"),
        ("patient list (monitor)", monitor, "/patients/"),
        ("patient list, page 200 (monitor)", monitor, "/patients/?page=200"),
        ("patient list, search (coordinator)", coordinator, f"/patients/?q={richest.study_id}"),
        (f"casebook {richest.study_id} ({richest.rows} rows)", coordinator, f"/patients/{richest.study_id}/"),
        ("audit trail (coordinator)", coordinator, f"/patients/{richest.study_id}/audit/"),
    ]
    print(f"{Patient.objects.count()} patients, {connection.vendor}, {options.requests} requests per page")
    print(f"{'page':48} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for label, user, url in pages:
        client = Client()
        client.force_login(user)
        response = client.get(url)  # warm-up
        assert response.status_code == 200, (url, response.status_code)
        queries: list[str] = []

        def count(execute, sql, params, many, context, _queries=queries):
            _queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            client.get(url)
        times = []
        for _ in range(options.requests):
            started = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]
        print(f"{label:48} {statistics.median(times):10.1f} {p95:8.1f} {len(queries):8d}")


if __name__ == "__main__":
    main()
