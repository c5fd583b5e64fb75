"""Benchmark: the analysis report's wall time next to the bare lifelines/pandas computation.

    .venv/bin/python benchmarks/report.py --patients 100000
        [--database-url postgres://postgres@127.0.0.1:5432/inocd22_bench_report] [--repeat 5] [--pdf]

Seeds the database with `seed_demo --patients N` when it does not hold exactly N patients
(a database of its own: never the development one), then times
  1. the report as the task runs it (`analytics.services.report_run`: load through the
     selectors, hash, every statistic, the figures, save), split by step;
  2. the same statistics computed bare with lifelines, pandas and scipy on the same
     arrays (no Django, no guard, no figures);
and prints both and their ratio (goal: report ≤ 2 × bare), from runs that alternate
between the two sides: the best of each and the median of each.

Both are wall times on the same machine. The report uses what a worker has: the database
runs its statements on several connections at once, and the time-dependent Cox model,
the dataset hash and half the figures run in forked processes, so it takes more than
one core when it can; the bare computation is one single-threaded Python script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._registry import django_start, registry_seed  # noqa: E402 (after the path)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/inocd22_bench_report"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--pdf", action="store_true", help="also time the PDF rendering")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, interleaved (best and median)")
    options = parser.parse_args()

    django_start(options.database_url)

    registry_seed(options.database_url, options.patients)

    # Interleaved, so that both sides meet the same moments of a shared, noisy machine.
    reports, bares = [], []
    for _ in range(options.repeat):
        reports.append(_time_report())
        bares.append(_time_bare(reports[-1][2]))
    report_seconds, steps, report = min(reports, key=lambda run: run[0])
    report_median = statistics.median(run[0] for run in reports)
    bare_seconds, bare_median = min(bares), statistics.median(bares)
    print(f"patients analysed          {report.results['n_patients']:>10}")
    print(f"runs of each side          {options.repeat:>10}  (interleaved; best, then median)")
    print(f"report (report_run)        {report_seconds:>10.2f} s   median {report_median:.2f} s")
    for step, seconds in steps:
        print(f"  {step:<32}{seconds:>8.2f} s")
    print(f"bare lifelines/pandas      {bare_seconds:>10.2f} s   median {bare_median:.2f} s")
    print(f"ratio report / bare        {report_seconds / bare_seconds:>10.2f}  "
          f"median {report_median / bare_median:.2f}  (goal ≤ 2)")
    if options.pdf:
        from analytics.pdf import report_pdf

        started = time.perf_counter()
        size = len(report_pdf(report))
        print(f"PDF on download            {time.perf_counter() - started:>10.2f} s ({size / 1024:.0f} KiB)")



def _time_report():
    """Wall time of one report_run, with the time of each of its progress steps."""
    import analytics.tasks  # noqa: F401 (what a worker has imported before its first report: matplotlib too)
    from analytics import services
    from analytics.services import report_run, report_start, system_user_get

    marks = []
    original = services.report_progress_set

    def timed(*, report_id, progress, step):
        marks.append((step, time.perf_counter()))
        original(report_id=report_id, progress=progress, step=step)

    services.report_progress_set = timed
    report = report_start(user=system_user_get(), enqueue=False)
    started = time.perf_counter()
    report = report_run(report_id=report.pk)
    finished = time.perf_counter()
    services.report_progress_set = original
    if report.status != "succeeded":
        sys.exit(f"report failed: {report.error}")
    points = [("Loading the analysis dataset", started), *marks, ("end", finished)]
    steps = [(name, following - at) for (name, at), (_, following) in pairwise(points)]
    return finished - started, steps, report


def _time_bare(report) -> float:
    """The analysis plan's statistics straight from lifelines/pandas/scipy on the same arrays."""
    import numpy as np
    from django.contrib.auth import get_user_model
    from lifelines import AalenJohansenFitter, CoxPHFitter, CoxTimeVaryingFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test
    from scipy import stats as sps

    from analytics.dataset import analysis_dataset_load
    from analytics.report import duration_of_response_days

    user = get_user_model().objects.get(username="system-reports")
    patients = analysis_dataset_load(user=user, cutoff=report.cutoff).patients  # arrays prepared outside the clock
    dor = duration_of_response_days(patients, hsct_censors_dor=False)
    month = 365.25 / 12
    os_t = patients["os_days"].to_numpy(float) / month
    os_e = patients["os_event"].to_numpy(int)
    hsct = patients["hsct_day"].to_numpy(float) / month
    vod = patients["vod_day"].to_numpy(float) / month
    death = patients["death_day"].to_numpy(float) / month
    groups = {
        "blina": patients["prior_blinatumomab"].to_numpy(bool),
        "lines": patients["prior_lines"].to_numpy() >= 3,
        "ph": (patients["ph_status"] == "positive").to_numpy(),
        "resp": patients["responder"].to_numpy(bool),
    }
    responders = patients["responder"].to_numpy(bool)
    cri = (patients["best_response"] == "cri").to_numpy()
    n = len(patients)

    started = time.perf_counter()
    for column in ("age_years", "prior_lines", "marrow_blasts_pct", "n_cycles"):
        patients[column].quantile([0.25, 0.5, 0.75])
    for k in (patients["best_response"].value_counts(), patients["prior_blinatumomab"].sum(),
              int(np.isfinite(hsct).sum()), int(np.isfinite(vod).sum())):
        k = int(np.asarray(k).ravel()[0])
        sps.beta.ppf([0.025], max(k, 1), n - k + 1), sps.beta.ppf([0.975], k + 1, max(n - k, 1))
    km = KaplanMeierFitter().fit(os_t, os_e)
    _ = km.median_survival_time_, km.survival_function_at_times([12, 24, 36, 60]), km.confidence_interval_
    _ = KaplanMeierFitter().fit(dor["days"] / month, dor["event"]).median_survival_time_
    _ = KaplanMeierFitter().fit(os_t, 1 - os_e).median_survival_time_
    has_vod = np.isfinite(vod)
    codes = np.where(has_vod, 1, np.where(np.isfinite(death), 2, 0))
    AalenJohansenFitter(seed=1).fit(np.where(has_vod, vod, os_t), codes, event_of_interest=1)
    transplanted = np.isfinite(hsct)
    AalenJohansenFitter(seed=1).fit(np.maximum(np.where(has_vod, vod, os_t) - hsct, 0)[transplanted],
                                    codes[transplanted], event_of_interest=1)
    AalenJohansenFitter(seed=1).fit(np.where(has_vod, vod, os_t), codes, event_of_interest=1)
    for mask in groups.values():
        logrank_test(os_t[mask], os_t[~mask], os_e[mask], os_e[~mask])
        frame = __import__("pandas").DataFrame({"t": os_t, "e": os_e, "x": mask.astype(float)})
        CoxPHFitter().fit(frame, "t", "e")
    # CR vs CRi among responders, and the 6-month HSCT landmark, as the report does
    frame = __import__("pandas").DataFrame({"t": os_t[responders], "e": os_e[responders],
                                            "x": cri[responders].astype(float)})
    logrank_test(frame.t[frame.x == 1], frame.t[frame.x == 0], frame.e[frame.x == 1], frame.e[frame.x == 0])
    CoxPHFitter().fit(frame, "t", "e")
    followed = os_t > 6
    frame = __import__("pandas").DataFrame({"t": os_t[followed] - 6, "e": os_e[followed],
                                            "x": (hsct[followed] <= 6).astype(float)})
    logrank_test(frame.t[frame.x == 1], frame.t[frame.x == 0], frame.e[frame.x == 1], frame.e[frame.x == 0])
    CoxPHFitter().fit(frame, "t", "e")
    rows = []
    for i, (t, e, s) in enumerate(zip(os_t, os_e, hsct, strict=True)):
        if np.isnan(s) or s >= t:
            rows.append((i, 0.0, t, e, 0))
        elif s > 0:
            rows.append((i, 0.0, s, 0, 0))
            rows.append((i, s, t, e, 1))
    long = __import__("pandas").DataFrame(rows, columns=["id", "start", "stop", "event", "x"])
    CoxTimeVaryingFitter().fit(long[long["stop"] > long["start"]], id_col="id", event_col="event",
                               start_col="start", stop_col="stop")
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
