"""The results dict: the keys the report promises, counts that add up, the guard, determinism."""

import datetime as dt
import json

import numpy as np
import pytest

from analytics import stats
from analytics.dataset import analysis_dataset_load
from analytics.figures import FIGURE_TITLES, report_figures
from analytics.report import duration_of_response_days, report_results_compute, report_tables
from tests.analytics.cohort import casebook, small_cohort

CUTOFF = dt.date(2024, 1, 1)

REQUIRED_KEYS = [
    "n_patients", "n_centers", "cutoff", "ci_method",
    "baseline.age_years.median", "baseline.age_years.q1", "baseline.age_years.q3",
    "baseline.prior_lines.median", "baseline.prior_lines.q1", "baseline.prior_lines.q3",
    "baseline.prior_blinatumomab.n", "baseline.prior_blinatumomab.pct",
    "baseline.prior_induction_chemo.n", "baseline.prior_induction_chemo.pct",
    *[f"response.{r}.{k}" for r in ("orr", "cr", "cri") for k in ("n", "pct", "ci_low", "ci_high")],
    "duration_of_response.median_months", "duration_of_response.q1_months", "duration_of_response.q3_months",
    "overall_survival.median_months", "overall_survival.ci_low", "overall_survival.ci_high",
    *[f"overall_survival.at_months.{m}.{k}" for m in ("12", "24", "36", "60") for k in ("pct", "ci_low", "ci_high")],
    "follow_up.median_months", "hsct.n", "hsct.pct",
    "vod_sos.n", "vod_sos.pct", "vod_sos.ci_low", "vod_sos.ci_high", "vod_sos.cumulative_incidence",
    "safety.grade3plus_nonhematologic", "subgroups",
]


def lookup(results, dotted):
    value = results
    for key in dotted.split("."):
        value = value[key]
    return value


@pytest.fixture
def results(statistician, center):
    small_cohort(center)
    dataset = analysis_dataset_load(user=statistician, cutoff=CUTOFF)
    return report_results_compute(dataset)[0]


def test_the_results_have_every_key_of_issue_4_and_are_json(results):
    for dotted in REQUIRED_KEYS:
        lookup(results, dotted)  # KeyError names the missing one
    assert json.loads(json.dumps(results)) == results
    assert results["ci_method"] == "log-log" and results["hsct_censors_dor"] is False
    for entry in results["safety"]["grade3plus_nonhematologic"]:
        assert set(entry) >= {"term", "n", "pct"}
    for subgroup in results["subgroups"]:
        assert set(subgroup) >= {"name", "groups", "logrank_p", "hazard_ratio", "hr_ci_low", "hr_ci_high"}


def test_counts_add_up_and_come_from_the_cohort(results):
    response = results["response"]
    assert (response["cr"]["n"], response["cri"]["n"], response["orr"]["n"]) == (8, 1, 9)
    assert response["cr"]["n"] + response["cri"]["n"] == response["orr"]["n"]
    assert response["orr"]["pct"] == pytest.approx(100 * 9 / 12)
    assert response["mrd_negative_among_responders"]["n"] == 8  # one responder is MRD-positive
    assert results["hsct"]["n"] == 2 and results["vod_sos"]["n"] == 2
    assert results["baseline"]["prior_blinatumomab"]["n"] == 4
    assert results["baseline"]["prior_induction_chemo"]["n"] == 11
    assert results["overall_survival"]["events"] == 9
    assert [entry["term"] for entry in results["safety"]["grade5"]] == ["Lung infection"]
    terms = {entry["term"]: entry for entry in results["safety"]["grade3plus_nonhematologic"]}
    # worst grade per patient: the grade-3 and grade-4 ALT rises of one patient count once, as grade 4
    assert terms["Alanine aminotransferase increased"]["n"] == 1
    assert terms["Alanine aminotransferase increased"]["grade_4"] == 1
    assert "Febrile neutropenia" not in terms  # haematologic


def test_os_matches_an_independent_kaplan_meier(statistician, center):
    """Months from days; median by hand: the product-limit estimate crosses 0.5."""
    for death in (30, 60, 90, 120):
        casebook(center, death_day=death)
    results, _ = report_results_compute(analysis_dataset_load(user=statistician, cutoff=CUTOFF))
    # four deaths, no censoring: S = 0.5 on [60, 90): R's midpoint rule gives 75 days
    assert results["overall_survival"]["median_months"] == pytest.approx(75 / (365.25 / 12))
    assert results["overall_survival"]["at_months"]["12"]["estimable"] is False


def test_time_points_beyond_the_last_follow_up_are_not_estimable(statistician, center):
    for death in (100, 200, 300):
        casebook(center, death_day=death, last_contact_day=400)
    casebook(center, last_contact_day=500)  # last follow-up 500 days (16.4 months)
    results, _ = report_results_compute(analysis_dataset_load(user=statistician, cutoff=CUTOFF))
    at = results["overall_survival"]["at_months"]
    assert at["12"]["estimable"] is True and at["12"]["pct"] == pytest.approx(25.0)
    for months in ("24", "36", "60"):
        assert at[months] == {"pct": None, "ci_low": None, "ci_high": None, "estimable": False}


def test_hsct_censors_dor_is_a_parameter(statistician, center):
    casebook(center, responses=((30, "cr"),), hsct_day=60, relapse_day=200, death_day=300)
    casebook(center, responses=((30, "cr"),), relapse_day=100, death_day=150)
    dataset = analysis_dataset_load(user=statistician, cutoff=CUTOFF)
    plain = duration_of_response_days(dataset.patients, hsct_censors_dor=False)
    censored = duration_of_response_days(dataset.patients, hsct_censors_dor=True)
    assert plain.values.tolist() == [[170, 1], [70, 1]]
    assert censored.values.tolist() == [[30, 0], [70, 1]]
    results, _ = report_results_compute(dataset, hsct_censors_dor=True)
    assert results["duration_of_response"]["hsct_censors_dor"] is True


def test_the_ci_method_changes_the_intervals_and_is_stated(statistician, center):
    small_cohort(center)
    dataset = analysis_dataset_load(user=statistician, cutoff=CUTOFF)
    log_log, _ = report_results_compute(dataset, ci_method="log-log")
    log, _ = report_results_compute(dataset, ci_method="log")
    assert log["ci_method"] == "log"
    assert log["overall_survival"]["median_months"] == log_log["overall_survival"]["median_months"]
    assert log["overall_survival"]["at_months"]["12"] != log_log["overall_survival"]["at_months"]["12"]
    with pytest.raises(ValueError, match="Unknown confidence interval method"):
        report_results_compute(dataset, ci_method="plain")


def test_the_guard_runs_before_results_leave(statistician, center, monkeypatch):
    small_cohort(center)
    dataset = analysis_dataset_load(user=statistician, cutoff=CUTOFF)
    monkeypatch.setattr("analytics.report.count_pct", lambda n, total: {"n": n, "total": total, "pct": 140.0})
    with pytest.raises(ValueError, match="not a percentage"):
        report_results_compute(dataset)


def test_no_interval_excludes_its_estimate_and_no_percentage_leaves_0_100(results):
    stats.assert_sane_results(results)  # raises on any violation

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if (key == "pct" or key.endswith("_pct")) and isinstance(item, float):
                    assert 0 <= item <= 100
                yield from walk(item)
            if value.get("pct") is not None and value.get("ci_low") is not None:
                yield (value["ci_low"], value["pct"], value["ci_high"])
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    intervals = list(walk(results))
    assert intervals
    for low, est, high in intervals:
        assert low <= est + 1e-9 and (high is None or est <= high + 1e-9)


def test_same_data_and_parameters_give_the_same_results_and_figures(statistician, center):
    small_cohort(center)
    runs = []
    for _ in range(2):
        dataset = analysis_dataset_load(user=statistician, cutoff=CUTOFF)
        results, curves = report_results_compute(dataset)
        runs.append((dataset.sha256(), json.dumps(results, sort_keys=True), report_figures(dataset, results, curves)))
    assert runs[0] == runs[1]


def test_figures_are_svg_without_identifiers(statistician, center):
    patients = small_cohort(center)
    dataset = analysis_dataset_load(user=statistician, cutoff=CUTOFF)
    results, curves = report_results_compute(dataset)
    figures = report_figures(dataset, results, curves)
    assert set(figures) == set(FIGURE_TITLES)
    for svg in figures.values():
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
        for patient in patients:
            assert patient.study_id not in svg and patient.local_hospital_id not in svg
    assert "No. at risk" in figures["os"] and "No. at risk" in figures["dor"]
    assert f"(n = {len(patients)})" in figures["consort"]


def test_tables_print_ne_for_not_estimable(results):
    tables = {table.name: table for table in report_tables(results)}
    survival = dict((row[0], row[2]) for row in tables["survival"].rows)
    assert survival["Overall survival at 60 months, % (95% CI)"] == "NE (beyond the last follow-up)"
    assert np.isfinite(results["overall_survival"]["median_months"])


def test_a_cox_fit_that_diverges_is_not_estimable_rather_than_an_overflow():
    """Fix in stats._fitted_hazard_ratio: with complete separation (every death of one group
    before any of the other) lifelines returns a huge standard error, math.exp overflowed
    and the whole report failed. Now the HR is not estimable."""
    import pandas as pd

    frame = pd.DataFrame({"t": [1, 2, 3, 4, 20, 21, 22, 23], "e": [1] * 8, "x": [0, 0, 0, 0, 1, 1, 1, 1]})
    assert stats.cox_hazard_ratio(frame, "t", "e", "x") == {
        "hazard_ratio": None, "ci_low": None, "ci_high": None, "p": None}
