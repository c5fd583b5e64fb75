"""Benchmark: concurrent users against gunicorn as docker-compose runs it, then a check that
no acknowledged save was lost.

    .venv/bin/python benchmarks/load.py [--clients 25] [--seconds 60] [--patients 2000]
        [--centers 5] [--rows-per-center 8] [--workers 3]
        [--database-url postgres://postgres@127.0.0.1:5432/inocd22_bench_load]

Seeds a database of its own (never the development one) with `seed_demo --patients N`
when it does not hold exactly N patients, then starts gunicorn with docker-compose's
command (`inocd22.wsgi:application --workers 3 --timeout 120`) and its production
settings, bound to 127.0.0.1 on a free port, with plain HTTP (SECURE_SSL_REDIRECT=false)
and two-factor sign-in off (TWO_FACTOR_REQUIRED=false): a password-only session login.
No broker: the few tasks run eagerly, as without CELERY_BROKER_URL.

Each client is the site coordinator of one of `--centers` centers (several clients per
center), signed in both ways: a browser session (login form with its CSRF token) and an
API token. Until `--seconds` have passed or it has made `--max-requests` requests, it
picks at random:
  - page: its center's patient list (searched), a casebook or a casebook's audit trail;
  - api: a patient, the IO cycles of a patient, its center's follow-up rows;
  - save: reads a row of its center (an api read), then PATCHes it with that `version`
    and a unique `reason`: a living patient's follow-up, date of last contact one day
    later, or an IO cycle, day 8 dose 0.5 <-> 0.45 mg/m2. The rows are drawn from a few
    per form and center, so clients of one center collide: the loser gets 409.
Every request goes to 127.0.0.1 only, with a timeout.

Prints throughput, p50/p95/max latency per kind, errors (5xx, connection errors and
timeouts, any other unexpected status) and conflicts (409); then checks in the database
that every acknowledged save (2xx) has its history row with that version, date and reason
(and that no two saves were acknowledged with one version of a row), and counts lost saves.
Goal: 0 errors, 0 lost saves. Exits 1 when either is not 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._registry import django_start, registry_seed  # noqa: E402 (after the path)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/inocd22_bench_load"
HOST = "127.0.0.1"  # loopback only: the benchmark never sends a request elsewhere
REQUEST_TIMEOUT_S = 30
START_TIMEOUT_S = 240  # a worker imports the whole project at its first request: slow on a busy machine
KIND_WEIGHTS = {"page": 4, "api": 3, "save": 3}


def _day_later(value: str) -> str:
    return (dt.date.fromisoformat(value) + dt.timedelta(days=1)).isoformat()


def _other_dose(value: str) -> str:
    return "0.45" if Decimal(value) == Decimal("0.5") else "0.5"


# The saves: form (API slug), the field changed, and its next value from the one read.
SAVES = {
    "follow-up": ("last_contact_date", _day_later),  # a living patient's last contact, a day later
    "io-cycles": ("dose_day8", _other_dose),  # a cycle's day 8 dose, 0.5 ↔ 0.45 mg/m²
}


@dataclass
class Ack:
    """A save the server acknowledged (2xx): what the database must hold."""

    form: str
    row_id: int
    version: int
    value: str  # the field's value in the answer
    reason: str


@dataclass
class Tally:
    """One client's results; merged after the run."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)  # (kind, status or error name)
    errors: list[str] = field(default_factory=list)  # the first few, to print
    conflicts: int = 0
    acks: list[Ack] = field(default_factory=list)


@dataclass(frozen=True)
class Center:
    code: str
    username: str
    token: str
    study_ids: list[str]
    rows: dict[str, list[int]]  # by form, the rows its clients save: few, so that they collide


class Client:
    """One simulated user over http.client: a new connection per request (gunicorn's sync
    workers close each one), the session cookie kept by hand."""

    def __init__(self, port: int, center: Center):
        self.port = port
        self.center = center
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None,
                api: bool = False) -> tuple[int, bytes, http.client.HTTPResponse]:
        headers = dict(headers or {})
        if api:
            headers["Authorization"] = f"Token {self.center.token}"
            headers["Accept"] = "application/json"
        elif self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        connection = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if not api:
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
        return response.status, data, response

    def login(self, password: str) -> None:
        status, page, _ = self.request("GET", "/accounts/login/")
        match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or not match:
            raise RuntimeError(f"login page: {status}")
        form = urllib.parse.urlencode({"username": self.center.username, "password": password,
                                       "csrfmiddlewaretoken": match.group(1).decode(), "next": "/patients/"})
        status, _, _ = self.request("POST", "/accounts/login/", body=form.encode(),
                                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login of {self.center.username}: {status}")


def client_run(number: int, client: Client, *, deadline: float, max_requests: int, run_id: str,
               start: threading.Barrier, tally: Tally) -> None:
    rng = random.Random(number)
    center = client.center
    start.wait()
    made = 0

    def timed(kind: str, method: str, path: str, **kwargs) -> tuple[int, bytes] | None:
        nonlocal made
        made += 1
        started = time.perf_counter()
        try:
            status, data, _ = client.request(method, path, **kwargs)
        except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, bad answer
            tally.statuses[(kind, type(error).__name__)] += 1
            if len(tally.errors) < 5:
                tally.errors.append(f"{kind} {method} {path}: {error!r}")
            return None
        tally.latencies[kind].append(time.perf_counter() - started)
        tally.statuses[(kind, status)] += 1
        expected = (200, 409) if kind == "save" else (200,)
        if status not in expected and len(tally.errors) < 5:
            tally.errors.append(f"{kind} {method} {path}: {status} {data[:200]!r}")
        return status, data

    while time.monotonic() < deadline and made < max_requests:
        kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
        study_id = rng.choice(center.study_ids)
        if kind == "page":
            path = rng.choice([f"/patients/?q={study_id}", f"/patients/{study_id}/", f"/patients/{study_id}/audit/"])
            timed("page", "GET", path)
        elif kind == "api":
            path = rng.choice([f"/api/patients/{study_id}/", f"/api/io-cycles/?patient={study_id}",
                               f"/api/follow-up/?center={center.code}&limit=20"])
            timed("api", "GET", path, api=True)
        else:
            form = rng.choice(list(SAVES))
            field_name, next_value = SAVES[form]
            row_id = rng.choice(center.rows[form])
            read = timed("api", "GET", f"/api/{form}/{row_id}/", api=True)
            if read is None or read[0] != 200:
                continue
            row = json.loads(read[1])
            reason = f"load {run_id} client {number} save {made}"
            body = json.dumps({field_name: next_value(row[field_name]), "version": row["version"], "reason": reason})
            saved = timed("save", "PATCH", f"/api/{form}/{row_id}/", body=body.encode(), api=True,
                          headers={"Content-Type": "application/json"})
            if saved is None:
                continue
            if saved[0] == 409:
                tally.conflicts += 1
            elif 200 <= saved[0] < 300:
                answer = json.loads(saved[1])
                tally.acks.append(Ack(form, row_id, answer["version"], str(answer[field_name]), reason))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--centers", type=int, default=5, help="centers whose coordinators the clients are")
    parser.add_argument("--rows-per-center", type=int, default=4, help="rows saved per form and center")
    parser.add_argument("--max-requests", type=int, default=100_000, help="per client")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (docker-compose: 3)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    options = parser.parse_args()

    # One signing key for this process and the server: an API token is bound to it (its
    # password fingerprint is an HMAC keyed by it), so a token made here must be checked with it.
    secret_key = secrets.token_urlsafe(50)
    django_start(options.database_url, DJANGO_SECRET_KEY=secret_key)
    registry_seed(options.database_url, options.patients)
    centers, tokens = _centers_prepare(options)
    port = _free_port()
    server, log = _gunicorn_start(options, port, secret_key)
    try:
        results, elapsed = _load_run(options, port, centers)
    finally:
        _gunicorn_stop(server)
        _tokens_revoke(tokens)
    failed = _report(options, results, elapsed, log)
    sys.exit(1 if failed else 0)


def _centers_prepare(options) -> tuple[list[Center], list]:
    """The centers with most patients, each with its coordinator's API token, patients, and
    a few follow-up rows of living patients whose last contact is a year or more ago (a day
    later stays in the past)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from outcomes.models import FollowUp
    from patients.models import Patient
    from sites.models import Center as CenterModel
    from sites.services import api_token_create
    from treatments.models import IOCycle

    codes = list(CenterModel.objects.annotate(n=Count("patients")).order_by("-n", "code")
                 .values_list("code", flat=True)[: options.centers])
    year_ago = dt.date.today() - dt.timedelta(days=365)  # noqa: DTZ011 (a calendar date, as the forms compare)
    centers, tokens = [], []
    for code in codes:
        user = get_user_model().objects.get(username=f"coordinator-{code.lower()}")
        token, secret = api_token_create(user=user, name="benchmarks/load.py")
        tokens.append(token)
        study_ids = list(Patient.objects.filter(center__code=code).order_by("?").values_list("study_id", flat=True)[:200])
        candidates = {
            "follow-up": FollowUp.objects.filter(vital_status="alive", last_contact_date__lt=year_ago),
            "io-cycles": IOCycle.objects.filter(dose_day8__isnull=False),
        }
        rows = {
            form: list(queryset.filter(patient__center__code=code, is_deleted=False).order_by("pk")
                       .values_list("pk", flat=True)[: options.rows_per_center])
            for form, queryset in candidates.items()
        }
        if not all(rows.values()):
            sys.exit(f"center {code} has no row to save in one of {list(rows)}")
        centers.append(Center(code, user.username, secret, study_ids, rows))
    return centers, tokens


def _tokens_revoke(tokens) -> None:
    from sites.services import api_token_revoke

    for token in tokens:
        api_token_revoke(user=token.user, token_id=token.pk)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _gunicorn_start(options, port: int, secret_key: str) -> tuple[subprocess.Popen, Path]:
    """docker-compose's web command, on loopback, with the production settings."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "inocd22.settings.production",
        "DJANGO_SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": HOST,
        "CSRF_TRUSTED_ORIGINS": f"http://{HOST}:{port}",
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP, as docker-compose serves it
        "TWO_FACTOR_REQUIRED": "false",  # a password-only login; codes are not under test
        "DATABASE_URL": options.database_url,
        "LOG_LEVEL": "WARNING",
    }
    for name in ("DEBUG", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        environment.pop(name, None)
    log = Path(tempfile.mkstemp(prefix="inocd22-load-gunicorn-", suffix=".log")[1])
    command = [sys.executable, "-m", "gunicorn", "inocd22.wsgi:application", "--bind", f"{HOST}:{port}",
               "--workers", str(options.workers), "--timeout", "120"]
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=environment,  # noqa: S603 (this repository's command)
                                  stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", "/healthz/")
            if connection.getresponse().status == 200:
                connection.close()
                return server, log
            connection.close()
        except OSError:
            pass
        if time.monotonic() > deadline:
            _gunicorn_stop(server)
            sys.exit(f"gunicorn did not answer /healthz/ within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)  # polling the start-up, under the deadline above


def _gunicorn_stop(server: subprocess.Popen) -> None:
    """SIGTERM to the arbiter, which stops its workers (a SIGKILL would orphan them)."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _load_run(options, port: int, centers: list[Center]) -> tuple[list[Tally], float]:
    from django.conf import settings

    clients = [Client(port, centers[number % len(centers)]) for number in range(options.clients)]
    for client in clients:
        client.login(settings.DEMO_PASSWORD)
    run_id = secrets.token_hex(4)
    tallies = [Tally() for _ in clients]
    start = threading.Barrier(len(clients) + 1)
    started = time.monotonic()  # every client is signed in: the clock starts
    deadline = started + options.seconds
    threads = [
        threading.Thread(target=client_run, name=f"client-{number}", daemon=True, kwargs={
            "number": number, "client": client, "deadline": deadline, "max_requests": options.max_requests,
            "run_id": run_id, "start": start, "tally": tally})
        for number, (client, tally) in enumerate(zip(clients, tallies, strict=True))
    ]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:  # each stops by the deadline plus at most one request's timeout
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + 2 * REQUEST_TIMEOUT_S + 5)
    elapsed = time.monotonic() - started
    if any(thread.is_alive() for thread in threads):
        print("warning: a client did not stop in time")
    return tallies, elapsed


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))]


def _report(options, tallies: list[Tally], elapsed: float, log: Path) -> bool:
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: Counter = Counter()
    errors: list[str] = []
    acks: list[Ack] = []
    for tally in tallies:
        for kind, values in tally.latencies.items():
            latencies[kind].extend(values)
        statuses.update(tally.statuses)
        errors.extend(tally.errors)
        acks.extend(tally.acks)
    conflicts = sum(tally.conflicts for tally in tallies)
    total = sum(statuses.values())
    server_errors = sum(n for (_, status), n in statuses.items() if isinstance(status, int) and status >= 500)
    connection_errors = sum(n for (_, status), n in statuses.items() if isinstance(status, str))
    unexpected = sum(n for (kind, status), n in statuses.items() if isinstance(status, int) and status < 500
                     and status != 200 and not (kind == "save" and status == 409))

    print(f"{options.clients} clients, {elapsed:.1f} s, {options.patients} patients, {options.centers} centers, "
          f"{options.workers} gunicorn workers")
    print(f"{total} requests, {total / elapsed:.1f} requests/s")
    print(f"{'kind':8} {'requests':>9} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind in KIND_WEIGHTS:
        values = sorted(latencies[kind])
        if not values:
            continue
        print(f"{kind:8} {len(values):9d} {len(values) / elapsed:7.1f} {statistics.median(values) * 1000:8.1f} "
              f"{_percentile(values, 0.95) * 1000:8.1f} {values[-1] * 1000:8.1f}")
    print(f"statuses: {dict(sorted(statuses.items(), key=str))}")
    print(f"errors: {server_errors} 5xx, {connection_errors} connection errors, {unexpected} other unexpected statuses")
    by_form = Counter(ack.form for ack in acks)
    print(f"saves: {len(acks)} acknowledged ({', '.join(f'{form} {n}' for form, n in sorted(by_form.items()))}), "
          f"{conflicts} conflicts (409)")
    for error in errors[:5]:
        print(f"  {error}")
    lost = _lost_saves(acks)
    print(f"lost saves: {len(lost)} of {len(acks)} acknowledged")
    for problem in lost[:5]:
        print(f"  {problem}")
    tracebacks = log.read_text(errors="replace").count("Traceback")
    print(f"gunicorn log {log}: {tracebacks} tracebacks")
    return bool(server_errors or connection_errors or unexpected or lost)


def _lost_saves(acks: list[Ack]) -> list[str]:
    """Each acknowledged save without its history row (that version of the row, with the value
    and the reason), or acknowledged twice with one version (an update overwritten unseen)."""
    from outcomes.models import FollowUp
    from treatments.models import IOCycle

    models = {"follow-up": FollowUp, "io-cycles": IOCycle}
    problems = []
    for form, model in models.items():
        field_name = SAVES[form][0]
        saved = [ack for ack in acks if ack.form == form]
        history = {
            reason: (row_id, version, value)
            for reason, row_id, version, value in model.history.filter(
                history_change_reason__in=[ack.reason for ack in saved])
            .values_list("history_change_reason", "id", "version", field_name)
        }
        for ack in saved:
            held = history.get(ack.reason)
            if held is None or held[:2] != (ack.row_id, ack.version) or not _same_value(held[2], ack.value):
                problems.append(f"{form} {ack.row_id} version {ack.version} ({ack.reason!r}): history holds {held}")
        versions = Counter((ack.row_id, ack.version) for ack in saved)
        problems.extend(f"{form} {row_id} version {version} acknowledged {n} times"
                        for (row_id, version), n in versions.items() if n > 1)
        current = dict(model.objects.filter(pk__in={ack.row_id for ack in saved}).values_list("pk", "version"))
        for row_id in {ack.row_id for ack in saved}:
            newest = max(ack.version for ack in saved if ack.row_id == row_id)
            if current.get(row_id, 0) < newest:
                problems.append(f"{form} {row_id} is at version {current.get(row_id)} after {newest} was acknowledged")
    return problems


def _same_value(held, answered: str) -> bool:
    if isinstance(held, Decimal):
        return held == Decimal(answered)
    if isinstance(held, dt.date):
        return held.isoformat() == answered
    return str(held) == answered


if __name__ == "__main__":
    main()
