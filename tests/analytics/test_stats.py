"""Statistics of the analysis plan, checked against published values, hand
computations and small reference implementations written here (not lifelines).
"""

import math

import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter
from lifelines.datasets import load_leukemia
from scipy import stats as sps
from scipy.optimize import brentq

from analytics import stats

Z95 = sps.norm.ppf(0.975)


@pytest.fixture(scope="module")
def leukemia() -> pd.DataFrame:
    """Freireich 6-MP trial (Gehan 1965): Rx 0 = 6-MP, 1 = placebo; t in weeks."""
    return load_leukemia()


@pytest.fixture(scope="module")
def six_mp(leukemia) -> pd.DataFrame:
    return leukemia[leukemia["Rx"] == 0]


# --- Reference implementations -------------------------------------------------


def reference_km(durations, events, ci_method):
    """Row by row Kaplan-Meier with Greenwood variance: {time: (S, low, high)}."""
    rows, survival, greenwood = {}, 1.0, 0.0
    for time in sorted(set(durations)):
        at_risk = sum(1 for d in durations if d >= time)
        deaths = sum(e for d, e in zip(durations, events, strict=True) if d == time)
        if deaths:
            survival *= 1 - deaths / at_risk
            greenwood += deaths / (at_risk * (at_risk - deaths)) if at_risk > deaths else math.inf
        if survival == 1:
            low = high = 1.0
        elif survival == 0:
            low = high = math.nan
        elif ci_method == "log":
            low = survival * math.exp(-Z95 * math.sqrt(greenwood))
            high = min(1.0, survival * math.exp(Z95 * math.sqrt(greenwood)))
        else:
            theta = Z95 * math.sqrt(greenwood) / abs(math.log(survival))
            low, high = survival ** math.exp(theta), survival ** math.exp(-theta)
        rows[time] = (survival, low, high)
    return rows


def reference_logrank_chi2(durations, events, groups):
    """Two-group log-rank chi-square: (O - E)^2 / V of the first group."""
    observed = expected = variance = 0.0
    first = groups[0]
    for time in sorted({d for d, e in zip(durations, events, strict=True) if e}):
        at_risk = [g for d, g in zip(durations, groups, strict=True) if d >= time]
        n, n1 = len(at_risk), sum(1 for g in at_risk if g == first)
        deaths = [g for d, e, g in zip(durations, events, groups, strict=True) if d == time and e]
        d, d1 = len(deaths), sum(1 for g in deaths if g == first)
        observed += d1
        expected += d * n1 / n
        if n > 1:
            variance += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    return (observed - expected) ** 2 / variance


def efron_log_likelihood(beta, start, stop, event, x):
    """Efron partial log-likelihood of one covariate on (start, stop] data."""
    total = 0.0
    for time in np.unique(stop[event == 1]):
        at_risk = (start < time) & (stop >= time)
        dying = at_risk & (stop == time) & (event == 1)
        risk_sum = np.exp(beta * x[at_risk]).sum()
        dying_sum = np.exp(beta * x[dying]).sum()
        d = dying.sum()
        total += beta * x[dying].sum()
        total -= sum(math.log(risk_sum - k / d * dying_sum) for k in range(d))
    return total


def assert_cox_matches_efron(result, start, stop, event, x):
    """The HR maximises the Efron likelihood and its CI width is its curvature."""
    beta, h = math.log(result["hazard_ratio"]), 1e-4

    def loglik(b):
        return efron_log_likelihood(b, start, stop, event, x)

    score = (loglik(beta + h) - loglik(beta - h)) / (2 * h)
    information = -(loglik(beta + h) - 2 * loglik(beta) + loglik(beta - h)) / h**2
    assert abs(score) < 1e-4
    se = 1 / math.sqrt(information)
    assert result["ci_low"] == pytest.approx(math.exp(beta - Z95 * se), rel=1e-4)
    assert result["ci_high"] == pytest.approx(math.exp(beta + Z95 * se), rel=1e-4)
    assert result["p"] == pytest.approx(2 * sps.norm.sf(abs(beta) / se), rel=1e-3)


# --- Descriptive statistics ----------------------------------------------------


def test_days_to_months():
    assert stats.days_to_months(365.25) == pytest.approx(12)
    assert stats.days_to_months(np.array([0, stats.DAYS_PER_MONTH])).tolist() == [0, 1]


def test_median_quartiles_are_r_type_7_and_skip_gaps():
    assert stats.median_quartiles([4, 1, 3, 2, None]) == {
        "median": 2.5,
        "q1": 1.75,
        "q3": 3.25,
        "n": 4,
    }
    assert stats.median_quartiles(pd.Series([], dtype=float))["median"] is None


@pytest.mark.parametrize(
    ("n", "low", "high"),
    # ORR, CR, CRi, VOD/SOS and HSCT out of 73 as the published abstract gives them. The ORR
    # upper limit is 83.5455: the published 83.6 rounds twice, hence 0.06 not 0.05.
    [
        (54, 62.4, 83.6),
        (51, 58.0, 80.1),
        (3, 0.9, 11.5),
        (8, 4.9, 20.5),
        (27, 26.0, 49.1),
    ],
)
def test_proportion_clopper_pearson_matches_published_intervals(n, low, high):
    result = stats.proportion(n, 73)
    assert result["pct"] == pytest.approx(100 * n / 73)
    assert result["ci_low"] == pytest.approx(low, abs=0.06)
    assert result["ci_high"] == pytest.approx(high, abs=0.06)


@pytest.mark.parametrize(("n", "total"), [(54, 73), (1, 7), (12, 13), (5, 40)])
def test_proportion_clopper_pearson_inverts_the_binomial_tails(n, total):
    # Exact limits: P(X >= n | low) = 2.5% and P(X <= n | high) = 2.5%.
    low = brentq(lambda p: sps.binom.sf(n - 1, total, p) - 0.025, 1e-12, 1 - 1e-12, xtol=1e-14)
    high = brentq(lambda p: sps.binom.cdf(n, total, p) - 0.025, 1e-12, 1 - 1e-12, xtol=1e-14)
    result = stats.proportion(n, total)
    assert result["ci_low"] == pytest.approx(100 * low, abs=1e-8)
    assert result["ci_high"] == pytest.approx(100 * high, abs=1e-8)


def test_proportion_edges():
    assert stats.proportion(0, 10)["ci_low"] == 0.0
    assert stats.proportion(0, 10)["ci_high"] == pytest.approx(100 * (1 - 0.025 ** (1 / 10)))
    assert stats.proportion(10, 10)["ci_high"] == 100.0
    assert stats.proportion(0, 0)["pct"] is None
    with pytest.raises(ValueError):
        stats.proportion(3, 2)


# --- Kaplan-Meier --------------------------------------------------------------


@pytest.mark.parametrize("ci_method", ["log-log", "log"])
@pytest.mark.parametrize("rx", [0, 1])
def test_km_table_matches_reference_implementation(leukemia, rx, ci_method):
    arm = leukemia[leukemia["Rx"] == rx]
    km = stats.kaplan_meier(arm["t"], arm["status"], ci_method=ci_method)
    reference = reference_km(arm["t"].tolist(), arm["status"].tolist(), ci_method)
    assert km.table["time"].tolist() == list(reference)
    expected = np.array(list(reference.values()))
    np.testing.assert_allclose(km.table[["survival", "ci_low", "ci_high"]].to_numpy(), expected, atol=1e-9)


# Published 6-MP arm (Gehan 1965 / Freireich): time, S, Greenwood SE of S,
# log-log CI (SAS, lifelines) and log CI (R survfit) as printed to 3 decimals.
SIX_MP_PRINTED = [
    (6, 0.857, 0.0764, 0.620, 0.952, 0.720, 1.000),
    (7, 0.807, 0.0869, 0.563, 0.923, 0.653, 0.996),
    (10, 0.753, 0.0963, 0.503, 0.889, 0.586, 0.968),
    (13, 0.690, 0.1068, 0.432, 0.849, 0.510, 0.935),
    (16, 0.627, 0.1141, 0.368, 0.805, 0.439, 0.896),
    (22, 0.538, 0.1282, 0.268, 0.747, 0.337, 0.858),
    (23, 0.448, 0.1346, 0.188, 0.680, 0.249, 0.807),
]


@pytest.mark.parametrize("row", SIX_MP_PRINTED, ids=lambda row: f"t{row[0]}")
def test_km_matches_printed_six_mp_values(six_mp, row):
    time, survival, se, loglog_low, loglog_high, log_low, log_high = row
    for ci_method, low, high in [
        ("log-log", loglog_low, loglog_high),
        ("log", log_low, log_high),
    ]:
        km = stats.kaplan_meier(six_mp["t"], six_mp["status"], ci_method=ci_method)
        at = km.survival_at(time)
        assert at["pct"] / 100 == pytest.approx(survival, abs=5e-4)
        assert at["ci_low"] / 100 == pytest.approx(low, abs=5e-4)
        assert at["ci_high"] / 100 == pytest.approx(high, abs=5e-4)
    upto = km.table[km.table["time"] <= time]
    greenwood = (upto["n_events"] / (upto["n_at_risk"] * (upto["n_at_risk"] - upto["n_events"]))).sum()
    assert upto["survival"].iloc[-1] * math.sqrt(greenwood) == pytest.approx(se, abs=5e-5)


@pytest.mark.parametrize(
    ("ci_method", "rx", "median", "low", "high"),
    [
        # R: survfit(Surv(time, cens) ~ treat, gehan) prints 23 (16, NA) and 8 (4, 12)
        ("log", 0, 23, 16, None),
        ("log", 1, 8, 4, 12),
        ("log-log", 0, 23, 13, None),
        ("log-log", 1, 8, 4, 11),
    ],
)
def test_km_median_and_brookmeyer_crowley_ci(leukemia, ci_method, rx, median, low, high):
    arm = leukemia[leukemia["Rx"] == rx]
    km = stats.kaplan_meier(arm["t"], arm["status"], ci_method=ci_method)
    assert km.median == {"est": median, "ci_low": low, "ci_high": high}


@pytest.mark.parametrize("ci_method", ["log-log", "log"])
@pytest.mark.parametrize("prob", [0.25, 0.5, 0.75])
def test_km_quantile_ci_is_first_crossing_of_pointwise_limits(leukemia, ci_method, prob):
    # No KM or CI level of these data sits exactly on a quartile, so no midpoints.
    for rx in (0, 1):
        arm = leukemia[leukemia["Rx"] == rx]
        km = stats.kaplan_meier(arm["t"], arm["status"], ci_method=ci_method)
        reference = reference_km(arm["t"].tolist(), arm["status"].tolist(), ci_method)

        def first_time(column, reference=reference):
            times = [t for t, values in reference.items() if values[column] <= 1 - prob]
            return float(times[0]) if times else None

        assert km.quantile(prob) == {
            "est": first_time(0),
            "ci_low": first_time(1),
            "ci_high": first_time(2),
        }


def test_km_quantiles_use_the_midpoint_rule():
    km = stats.kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1])
    assert (km.q1["est"], km.median["est"], km.q3["est"]) == (1.5, 2.5, 3.5)


def test_km_quantiles_match_r_survival_test_suite():
    # survival/tests/quantile.R: S = 6/7, 18/35, 9/35, flats hit exactly.
    durations = [9, 1, 1, 6, 6, 8, 10]
    events = [1, 1, 0, 1, 1, 0, 0]
    probs = 1 - np.array([13 / 14, 6 / 7, 2 / 3, 0.5, 9 / 35, 0.1])
    km = stats.kaplan_meier(durations, events, ci_method="log")
    quantiles = [km.quantile(p) for p in probs]
    assert [q["est"] for q in quantiles] == [1, 3.5, 6, 9, 9.5, None]
    assert [q["ci_low"] for q in quantiles] == [1, 1, 1, 6, 6, 9]
    assert [q["ci_high"] for q in quantiles] == [None] * 6

    # Curve ending at S = 0: its CI is not estimable there.
    km = stats.kaplan_meier([1, 1, 6], [1, 0, 1], ci_method="log")
    quantiles = [km.quantile(p) for p in probs]
    assert [q["est"] for q in quantiles] == [1, 1, 3.5, 6, 6, 6]
    assert [q["ci_low"] for q in quantiles] == [1, 1, 1, 1, None, None]


def test_km_survival_at_never_extrapolates(six_mp):
    km = stats.kaplan_meier(six_mp["t"], six_mp["status"])
    assert km.survival_at(35)["pct"] == pytest.approx(100 * 0.448, abs=0.05)
    assert km.survival_at(35.01) is None
    assert km.survival_at(5) == {"pct": 100.0, "ci_low": 100.0, "ci_high": 100.0}
    assert stats.kaplan_meier([], []).survival_at(0) is None


def test_km_numbers_at_risk(six_mp):
    km = stats.kaplan_meier(six_mp["t"], six_mp["status"])
    assert km.numbers_at_risk([0, 6, 6.5, 10, 35, 36]) == [21, 21, 17, 15, 1, 0]


def test_km_rejects_bad_input():
    with pytest.raises(ValueError):
        stats.kaplan_meier([1, -2], [1, 0])
    with pytest.raises(ValueError):
        stats.kaplan_meier([1, 2], [1, 2])
    with pytest.raises(ValueError):
        stats.kaplan_meier([1, None], [1, 0])
    with pytest.raises(ValueError):
        stats.kaplan_meier([1, 2], [1, 0], ci_method="plain")


def test_reverse_km_median_follow_up():
    # Alive (censored) at 2, 4, 5 are the events; deaths at 1 and 3 censor.
    # Reverse KM: S(2) = 3/4, S(4) = 3/8, S(5) = 0, so the median is 4.
    result = stats.reverse_km_median_follow_up([1, 2, 3, 4, 5], [1, 0, 1, 0, 0])
    assert result["est"] == 4


# --- Competing risks -----------------------------------------------------------


def test_cumulative_incidence_with_ties_by_hand():
    durations = [1, 1, 2, 2, 3, 4, 5, 5]
    codes = [1, 2, 0, 1, 1, 2, 0, 1]
    cif = stats.cumulative_incidence(durations, codes, times=[0.5, 2.5, 5, 6])
    # t=1: 1/8; t=2: + (6/8)(1/6); t=3: + (5/8)(1/4); t=4: competing only; t=5: + (5/16)(1/2)
    np.testing.assert_allclose(cif.table["incidence"], [0.125, 0.25, 0.40625, 0.40625, 0.5625], atol=1e-12)
    assert cif.table["n_competing"].tolist() == [1, 0, 0, 1, 0]
    assert cif.table["n_censored"].tolist() == [0, 1, 0, 0, 1]
    assert cif.points == [
        {"time": 0.5, "pct": 0.0},
        {"time": 2.5, "pct": 25.0},
        {"time": 5.0, "pct": 56.25},
        {"time": 6.0, "pct": None},
    ]


def test_cumulative_incidence_without_competing_risks_is_one_minus_km(six_mp):
    cif = stats.cumulative_incidence(six_mp["t"], six_mp["status"])
    km = stats.kaplan_meier(six_mp["t"], six_mp["status"])
    np.testing.assert_allclose(cif.table["incidence"], 1 - km.table["survival"], atol=1e-12)


def test_cumulative_incidence_matches_lifelines_on_untied_data():
    rng = np.random.default_rng(7)
    durations = rng.permutation(np.arange(1, 61)).astype(float)
    codes = rng.integers(0, 3, size=60)
    cif = stats.cumulative_incidence(durations, codes, event_of_interest=1)
    fitter = AalenJohansenFitter(calculate_variance=False)
    fitter.fit(durations, codes, event_of_interest=1)
    lifelines_cif = fitter.cumulative_density_.iloc[:, 0]
    np.testing.assert_allclose(
        cif.table["incidence"],
        lifelines_cif.loc[cif.table["time"]].to_numpy(),
        atol=1e-9,
    )


# --- Comparisons and Cox models ------------------------------------------------


def test_logrank_on_freireich(leukemia):
    p = stats.logrank(leukemia["t"], leukemia["status"], leukemia["Rx"])
    chi2 = reference_logrank_chi2(leukemia["t"].tolist(), leukemia["status"].tolist(), leukemia["Rx"].tolist())
    assert chi2 == pytest.approx(16.79, abs=0.01)  # R survdiff prints 16.8
    assert p == pytest.approx(sps.chi2.sf(chi2, 1), rel=1e-9)
    assert p == pytest.approx(4.17e-5, rel=1e-3)


def test_logrank_not_estimable():
    assert stats.logrank([1, 2, 3], [1, 0, 1], ["a", "a", "a"]) is None
    assert stats.logrank([1, 2, 3], [0, 0, 0], ["a", "b", "a"]) is None


def test_cox_hazard_ratio_on_freireich(leukemia):
    result = stats.cox_hazard_ratio(leukemia, "t", "status", "Rx")
    # R coxph (Efron): exp(coef) 4.817, 95% CI 2.147-10.81, Wald p 0.000138
    assert result["hazard_ratio"] == pytest.approx(4.817, abs=5e-4)
    assert result["ci_low"] == pytest.approx(2.147, abs=5e-4)
    assert result["ci_high"] == pytest.approx(10.81, abs=5e-3)
    assert result["p"] == pytest.approx(0.000138, abs=5e-7)
    zeros = np.zeros(len(leukemia))
    assert_cox_matches_efron(
        result,
        zeros,
        leukemia["t"].to_numpy(float),
        leukemia["status"].to_numpy(),
        leukemia["Rx"].to_numpy(float),
    )


def test_cox_hazard_ratio_not_estimable(leukemia):
    none = {"hazard_ratio": None, "ci_low": None, "ci_high": None, "p": None}
    one_group = leukemia.assign(Rx=1)
    assert stats.cox_hazard_ratio(one_group, "t", "status", "Rx") == none
    no_events_in_a_group = leukemia.assign(status=leukemia["status"] * leukemia["Rx"])
    assert stats.cox_hazard_ratio(no_events_in_a_group, "t", "status", "Rx") == none
    no_events = leukemia.assign(status=0)
    assert stats.cox_hazard_ratio(no_events, "t", "status", "Rx") == none


def test_counting_process_table_splits_at_the_switch():
    table = stats.counting_process_table([10, 8, 5, 6], [1, 0, 1, 1], [4, np.nan, 5, 0])
    assert table.to_dict("list") == {
        "id": [0, 0, 1, 2, 3],
        "start": [0.0, 4.0, 0.0, 0.0, 0.0],
        "stop": [4.0, 10.0, 8.0, 5.0, 6.0],
        "event": [0, 1, 0, 1, 1],
        "exposed": [0, 1, 0, 0, 1],
    }


def test_cox_time_dependent_matches_efron_likelihood(leukemia):
    # Transplant the first half of each arm at a third of its follow-up.
    rng = np.random.default_rng(3)
    switch = np.where(rng.random(len(leukemia)) < 0.5, leukemia["t"] / 3, np.nan)
    result = stats.cox_time_dependent(leukemia["t"], leukemia["status"], switch)
    long = stats.counting_process_table(leukemia["t"], leukemia["status"], switch)
    assert_cox_matches_efron(
        result,
        long["start"].to_numpy(),
        long["stop"].to_numpy(),
        long["event"].to_numpy(),
        long["exposed"].to_numpy(float),
    )


# lifelines warns of 'complete separation': the placebo arm has no censored patient.
@pytest.mark.filterwarnings("ignore::lifelines.exceptions.ConvergenceWarning")
def test_cox_time_dependent_with_switch_at_zero_is_the_baseline_model(leukemia):
    switch = np.where(leukemia["Rx"] == 1, 0.0, np.nan)
    result = stats.cox_time_dependent(leukemia["t"], leukemia["status"], switch)
    baseline = stats.cox_hazard_ratio(leukemia, "t", "status", "Rx")
    for key in baseline:
        assert result[key] == pytest.approx(baseline[key], rel=1e-4)


def test_cox_time_dependent_not_estimable(leukemia):
    never = np.full(len(leukemia), np.nan)
    result = stats.cox_time_dependent(leukemia["t"], leukemia["status"], never)
    assert result["hazard_ratio"] is None


def test_landmark_table():
    table = stats.landmark_table([2, 5, 9, 12], [1, 1, 0, 1], [np.nan, 1, 4, 7], landmark=3)
    assert table.to_dict("list") == {
        "duration": [2.0, 6.0, 9.0],
        "event": [1, 0, 1],
        "hsct": [True, False, False],
    }


def test_subgroup_os_two_groups(leukemia):
    result = stats.subgroup_os(leukemia, duration_col="t", event_col="status", group_col="Rx", name="arm")
    assert [g["label"] for g in result["groups"]] == [0, 1]
    assert [(g["n"], g["events"], g["median"]) for g in result["groups"]] == [
        (21, 9, 23),
        (21, 21, 8),
    ]
    assert result["logrank_p"] == pytest.approx(4.17e-5, rel=1e-3)
    assert result["hazard_ratio"] == pytest.approx(4.817, abs=5e-4)
    reversed_order = stats.subgroup_os(
        leukemia,
        duration_col="t",
        event_col="status",
        group_col="Rx",
        name="arm",
        levels=[1, 0],
    )
    assert reversed_order["hazard_ratio"] == pytest.approx(1 / result["hazard_ratio"], rel=1e-6)
    stats.assert_sane_results(result)


def test_subgroup_os_more_groups_has_logrank_but_no_hr(leukemia):
    three = leukemia.assign(group=leukemia["Rx"] + (leukemia["sex"] == 1) * (leukemia["Rx"] == 1))
    result = stats.subgroup_os(three, duration_col="t", event_col="status", group_col="group", name="three")
    assert len(result["groups"]) == 3
    assert result["logrank_p"] is not None
    assert result["hazard_ratio"] is None


# --- Sanity guard --------------------------------------------------------------


def test_guard_accepts_what_the_functions_produce(six_mp):
    km = stats.kaplan_meier(six_mp["t"], six_mp["status"])
    stats.assert_sane_results(
        {
            "orr": stats.proportion(54, 73),
            "os": {
                "median": km.median,
                "at": [km.survival_at(t) for t in (6, 12, 24, 48)],
            },
            "hr": stats.cox_hazard_ratio(load_leukemia(), "t", "status", "Rx"),
        }
    )


@pytest.mark.parametrize(
    "results",
    [
        # The published 5-year OS: 5.3% (9.6-29.8)
        {"os_5y": {"pct": 5.3, "ci_low": 9.6, "ci_high": 29.8}},
        {"median": 7.9, "ci_low": 8.1, "ci_high": 12.4},
        [{"est": 3.0, "ci_low": 1.0, "ci_high": 2.0}],
        {"hazard_ratio": 0.5, "hr_ci_low": 0.6, "hr_ci_high": 2.0},
        {"cr_pct": 100.5},
        {"pct": -1.0},
        {"pct": 99.0, "ci_low": 90.0, "ci_high": 101.0},
    ],
)
def test_guard_catches_bad_results(results):
    with pytest.raises(ValueError):
        stats.assert_sane_results(results)


def test_guard_interval():
    stats.guard_interval(5.3, None, 9.6)
    with pytest.raises(ValueError):
        stats.guard_interval(5.3, 9.6, 29.8)
