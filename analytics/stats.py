"""Statistics of the analysis plan, as plain functions of arrays and DataFrames.

Nothing here knows Django. Conventions:

- Durations are unit-agnostic: results come back in the unit passed in. Reports
  use months, so callers convert first with ``days_to_months``.
- Percentages are 0-100. A value that cannot be estimated is ``None``, so every
  result serialises to JSON as it is.
- Kaplan-Meier quantiles and their confidence intervals follow R's
  ``survival:::quantile.survfit`` (midpoint rule on flats, Brookmeyer-Crowley
  intervals on the chosen transform), not lifelines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, CoxTimeVaryingFitter
from lifelines.exceptions import ConvergenceError
from lifelines.statistics import multivariate_logrank_test
from scipy import stats as sps

DAYS_PER_MONTH = 365.25 / 12
CI_METHODS = ("log-log", "log")
# Tolerance of R's quantile.survfit when a survival flat sits exactly on a quantile.
QUANTILE_TOLERANCE = math.sqrt(np.finfo(float).eps)
# Beyond this |log HR| + CI half-width the fit has diverged (HR outside 1e-30..1e30).
_MAX_LOG_HAZARD_RATIO = 69.0
_NO_HAZARD_RATIO = {"hazard_ratio": None, "ci_low": None, "ci_high": None, "p": None}


def days_to_months(days):
    """Convert days (a number, array or Series) to months of 365.25 / 12 days."""
    return days / DAYS_PER_MONTH


def median_quartiles(values: Iterable[float]) -> dict:
    """Median and I-III quartiles (numpy linear quantiles, R type 7); missing values dropped."""
    x = _floats(values)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return {"median": None, "q1": None, "q3": None, "n": 0}
    q1, median, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3), "n": int(x.size)}


def proportion(n: int, total: int, *, alpha: float = 0.05) -> dict:
    """n / total in percent, with the exact Clopper-Pearson confidence interval."""
    if not 0 <= n <= total:
        raise ValueError(f"need 0 <= n <= total, got {n}/{total}")
    if total == 0:
        return {"n": n, "total": total, "pct": None, "ci_low": None, "ci_high": None}
    low = 0.0 if n == 0 else sps.beta.ppf(alpha / 2, n, total - n + 1)
    high = 1.0 if n == total else sps.beta.ppf(1 - alpha / 2, n + 1, total - n)
    return {
        "n": n,
        "total": total,
        **_interval("pct", 100 * n / total, 100 * low, 100 * high),
    }


# --- Kaplan-Meier -----------------------------------------------------------


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan-Meier fit: one row per distinct observed time, events or censorings.

    ``table`` columns: time, n_at_risk, n_events, n_censored, survival, ci_low,
    ci_high (survival and its pointwise CI as proportions, Greenwood variance).
    """

    table: pd.DataFrame
    ci_method: str
    alpha: float

    @property
    def last_time(self) -> float | None:
        """Largest observed time: nothing is estimated beyond it."""
        return float(self.table["time"].iloc[-1]) if len(self.table) else None

    def quantile(self, prob: float) -> dict:
        """Time by which a proportion ``prob`` has had the event, with its CI.

        {est, ci_low, ci_high}; None where the curve (or a CI limit) never gets
        down to 1 - prob.
        """
        target = 1 - prob
        times = self.table["time"].to_numpy()
        est = _crossing_time(times, self.table["survival"].to_numpy(), target, self.last_time)
        low = _crossing_time(times, self.table["ci_low"].to_numpy(), target, self.last_time)
        high = _crossing_time(times, self.table["ci_high"].to_numpy(), target, self.last_time)
        return _interval("est", est, low, high)

    @property
    def median(self) -> dict:
        """Median: the time where survival falls to 50%."""
        return self.quantile(0.5)

    @property
    def q1(self) -> dict:
        """First quartile: the time where survival falls to 75%."""
        return self.quantile(0.25)

    @property
    def q3(self) -> dict:
        """Third quartile: the time where survival falls to 25%."""
        return self.quantile(0.75)

    def survival_at(self, time: float) -> dict | None:
        """{pct, ci_low, ci_high} at ``time``; None beyond the last observed time."""
        if self.last_time is None or time > self.last_time:
            return None
        row = np.searchsorted(self.table["time"].to_numpy(), time, side="right") - 1
        if row < 0:
            return _interval("pct", 100.0, 100.0, 100.0)
        survival, low, high = self.table.iloc[row][["survival", "ci_low", "ci_high"]]
        return _interval("pct", 100 * survival, 100 * low, 100 * high)

    def numbers_at_risk(self, times: Iterable[float]) -> list[int]:
        """Patients still under observation (duration >= t) at each of ``times``."""
        table_times = self.table["time"].to_numpy()
        at_risk = np.append(self.table["n_at_risk"].to_numpy(), 0)
        return [int(at_risk[np.searchsorted(table_times, t, side="left")]) for t in times]


def kaplan_meier(
    durations: Iterable[float],
    events: Iterable[int],
    *,
    ci_method: str = "log-log",
    alpha: float = 0.05,
) -> KaplanMeier:
    """Kaplan-Meier estimate with Greenwood variance and a ``log-log`` or ``log`` CI.

    ``log-log`` is the SAS and lifelines default, ``log`` the R survival default.
    """
    if ci_method not in CI_METHODS:
        raise ValueError(f"ci_method must be one of {CI_METHODS}, got {ci_method!r}")
    durations, events = _survival_data(durations, events)
    times, index = np.unique(durations, return_inverse=True)
    n_events = np.bincount(index, weights=events, minlength=times.size)
    n_leaving = np.bincount(index, minlength=times.size)
    n_at_risk = durations.size - (np.cumsum(n_leaving) - n_leaving)
    with np.errstate(divide="ignore"):
        survival = np.cumprod(1 - n_events / n_at_risk)
        greenwood = np.cumsum(n_events / (n_at_risk * (n_at_risk - n_events)))
    z = sps.norm.ppf(1 - alpha / 2)
    ci_low, ci_high = _pointwise_ci(survival, greenwood, z, ci_method)
    table = pd.DataFrame(
        {
            "time": times,
            "n_at_risk": n_at_risk.astype(int),
            "n_events": n_events.astype(int),
            "n_censored": (n_leaving - n_events).astype(int),
            "survival": survival,
            "ci_low": ci_low,
            "ci_high": ci_high,
        }
    )
    return KaplanMeier(table=table, ci_method=ci_method, alpha=alpha)


def reverse_km_median_follow_up(
    durations: Iterable[float], deaths: Iterable[int], *, ci_method: str = "log-log"
) -> dict:
    """Median follow-up by reverse Kaplan-Meier: being alive is the event, death censors.

    Returns {est, ci_low, ci_high} like ``KaplanMeier.median``.
    """
    durations, deaths = _survival_data(durations, deaths)
    return kaplan_meier(durations, 1 - deaths, ci_method=ci_method).median


def _pointwise_ci(survival: np.ndarray, greenwood: np.ndarray, z: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise CI of S(t); (1, 1) where S = 1 and not estimable (NaN) where S = 0."""
    se_log = np.sqrt(greenwood)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "log":
            low = survival * np.exp(-z * se_log)
            high = np.minimum(survival * np.exp(z * se_log), 1.0)
        else:
            # CI of log(-log S), whose standard error is se(log S) / |log S|
            log_s = np.log(survival)
            low = survival ** np.exp(-z * se_log / log_s)
            high = survival ** np.exp(z * se_log / log_s)
    low = np.where(survival == 1, 1.0, np.where(survival == 0, np.nan, low))
    high = np.where(survival == 1, 1.0, np.where(survival == 0, np.nan, high))
    return low, high


def _crossing_time(times: np.ndarray, curve: np.ndarray, target: float, last_time: float | None) -> float | None:
    """First time a decreasing step curve gets down to ``target``, as R's quantile.survfit.

    If the curve sits exactly on ``target`` (within tolerance) over [t_i, t_j), the
    answer is the midpoint (t_i + t_j) / 2; a flat at the end of the curve runs to the
    last observed time. Not-estimable points (NaN) are skipped.
    """
    x = np.concatenate([[0.0], times])
    y = np.concatenate([[1.0], curve])
    known = ~np.isnan(y)
    end_known = bool(known[-1])
    x, y = x[known], y[known]
    first_of_level = np.concatenate([[True], y[1:] != y[:-1]])
    x, y = x[first_of_level], y[first_of_level]
    reached = np.flatnonzero(y <= target + QUANTILE_TOLERANCE)
    if reached.size == 0:
        return None
    below = np.flatnonzero(y <= target - QUANTILE_TOLERANCE)
    if below.size:
        return float((x[reached[0]] + x[below[0]]) / 2)
    if end_known:
        return float((x[reached[0]] + last_time) / 2)
    return None


# --- Competing risks ---------------------------------------------------------


@dataclass(frozen=True)
class CumulativeIncidence:
    """Aalen-Johansen cumulative incidence of one event type among competing ones.

    ``table`` columns: time, n_at_risk, n_events (event of interest), n_competing,
    n_censored, incidence (proportion). ``points``: {time, pct} at the requested times.
    """

    table: pd.DataFrame
    points: list[dict] = field(default_factory=list)

    def at(self, time: float) -> float | None:
        """Cumulative incidence at ``time`` in percent; None beyond the last observed time."""
        times = self.table["time"].to_numpy()
        if times.size == 0 or time > times[-1]:
            return None
        row = np.searchsorted(times, time, side="right") - 1
        return 0.0 if row < 0 else float(100 * self.table["incidence"].iloc[row])


def cumulative_incidence(
    durations: Iterable[float],
    event_codes: Iterable[int],
    *,
    event_of_interest: int = 1,
    times: Iterable[float] | None = None,
) -> CumulativeIncidence:
    """Aalen-Johansen estimate, exact with tied times (no jitter).

    ``event_codes``: 0 censored, ``event_of_interest``, any other code a competing
    event. At each distinct time the incidence grows by S(t-) * d_event / n_at_risk,
    where S is the Kaplan-Meier survival from all event types together.
    """
    durations = _floats(durations)
    codes = _floats(event_codes)
    if durations.shape != codes.shape or np.isnan(codes).any():
        raise ValueError("durations and event codes must be the same length, without gaps")
    durations, _ = _survival_data(durations, codes != 0)  # validates the durations
    distinct_times, index = np.unique(durations, return_inverse=True)
    size = distinct_times.size
    n_events = np.bincount(index, weights=codes == event_of_interest, minlength=size)
    n_any = np.bincount(index, weights=codes != 0, minlength=size)
    n_leaving = np.bincount(index, minlength=size)
    n_at_risk = durations.size - (np.cumsum(n_leaving) - n_leaving)
    survival_after = np.cumprod(1 - n_any / n_at_risk)
    survival_before = np.concatenate([[1.0], survival_after[:-1]])
    incidence = np.cumsum(survival_before * n_events / n_at_risk)
    table = pd.DataFrame(
        {
            "time": distinct_times,
            "n_at_risk": n_at_risk.astype(int),
            "n_events": n_events.astype(int),
            "n_competing": (n_any - n_events).astype(int),
            "n_censored": (n_leaving - n_any).astype(int),
            "incidence": incidence,
        }
    )
    result = CumulativeIncidence(table=table)
    if times is None:
        return result
    return replace(result, points=[{"time": float(t), "pct": result.at(t)} for t in times])


# --- Comparisons and Cox models ------------------------------------------------


def logrank(durations: Iterable[float], events: Iterable[int], groups: Iterable) -> float | None:
    """Log-rank p value across all groups; None with fewer than two groups or no events."""
    durations, events = _survival_data(durations, events)
    # integer codes: lifelines and numpy compare them far faster than string labels
    codes, labels = pd.factorize(np.asarray(groups, dtype=object), use_na_sentinel=False)
    if codes.shape != durations.shape:
        raise ValueError("groups must have one label per duration")
    if len(labels) < 2 or events.sum() == 0:
        return None
    return _number(multivariate_logrank_test(durations, codes, events).p_value)


def cox_hazard_ratio(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariate_col: str,
    *,
    alpha: float = 0.05,
) -> dict:
    """Cox hazard ratio per unit of ``covariate_col`` (Efron ties), rows with gaps dropped.

    {hazard_ratio, ci_low, ci_high, p} (Wald); all None when not estimable: no events,
    a single covariate value, or a binary covariate level without events.
    """
    data = df[[duration_col, event_col, covariate_col]].dropna().astype(float)
    if not _cox_estimable(data[event_col], data[covariate_col]):
        return dict(_NO_HAZARD_RATIO)
    fitter = CoxPHFitter(alpha=alpha)
    return _fitted_hazard_ratio(
        lambda: fitter.fit(data, duration_col=duration_col, event_col=event_col),
        fitter,
        covariate_col,
        alpha,
    )


def counting_process_table(
    durations: Iterable[float], events: Iterable[int], switch_times: Iterable[float]
) -> pd.DataFrame:
    """Long (start, stop] table with a 0/1 ``exposed`` covariate that switches on at
    ``switch_times`` (NaN = never).

    A switch at or after the end of follow-up leaves the patient unexposed; a switch
    at time 0 exposes the whole follow-up. Columns: id, start, stop, event, exposed.
    """
    durations, events = _survival_data(durations, events)
    switches = _floats(switch_times)
    if switches.shape != durations.shape:
        raise ValueError("switch_times must have one value per duration")
    rows = []
    for patient, (stop, event, switch) in enumerate(zip(durations, events, switches, strict=True)):
        if np.isnan(switch) or switch >= stop:
            rows.append((patient, 0.0, stop, event, 0))
        elif switch <= 0:
            rows.append((patient, 0.0, stop, event, 1))
        else:
            rows.append((patient, 0.0, switch, 0, 0))
            rows.append((patient, switch, stop, event, 1))
    return pd.DataFrame(rows, columns=["id", "start", "stop", "event", "exposed"])


def cox_time_dependent(
    durations: Iterable[float],
    events: Iterable[int],
    hsct_times: Iterable[float],
    *,
    alpha: float = 0.05,
) -> dict:
    """Hazard ratio of allo-HSCT as a time-dependent covariate (exposed from its date).

    ``hsct_times`` is NaN for patients never transplanted. Zero-length intervals
    (an event at time 0) carry no information and are dropped.
    {hazard_ratio, ci_low, ci_high, p}, all None when not estimable.
    """
    long = counting_process_table(durations, events, hsct_times)
    long = long[long["stop"] > long["start"]]
    if not _cox_estimable(long["event"], long["exposed"]):
        return dict(_NO_HAZARD_RATIO)
    fitter = CoxTimeVaryingFitter(alpha=alpha)
    return _fitted_hazard_ratio(
        lambda: fitter.fit(long, id_col="id", event_col="event", start_col="start", stop_col="stop"),
        fitter,
        "exposed",
        alpha,
    )


def landmark_table(
    durations: Iterable[float],
    events: Iterable[int],
    hsct_times: Iterable[float],
    *,
    landmark: float,
) -> pd.DataFrame:
    """Patients still followed after ``landmark``, grouped by HSCT at or before it.

    Time restarts at the landmark. Columns: duration, event, hsct (bool).
    """
    durations, events = _survival_data(durations, events)
    hsct = _floats(hsct_times) <= landmark  # NaN (never) compares False
    followed = durations > landmark
    return pd.DataFrame(
        {
            "duration": durations[followed] - landmark,
            "event": events[followed],
            "hsct": hsct[followed],
        }
    )


def subgroup_os(
    df: pd.DataFrame,
    *,
    duration_col: str,
    event_col: str,
    group_col: str,
    name: str,
    levels: Sequence | None = None,
    ci_method: str = "log-log",
) -> dict:
    """Overall survival by a baseline subgroup: KM medians, log-rank p and Cox HR.

    ``levels`` fixes the group order (default: sorted labels; rows with another or a
    missing label are dropped). The HR is of the second group versus the first, and
    only with exactly two groups; the log-rank p is across all groups.
    """
    data = df[[duration_col, event_col, group_col]].dropna()
    labels = list(levels) if levels is not None else sorted(data[group_col].unique())
    data = data[data[group_col].isin(labels)]
    groups = []
    for label in labels:
        part = data[data[group_col] == label]
        median = kaplan_meier(part[duration_col], part[event_col], ci_method=ci_method).median
        groups.append(
            {
                "label": _plain(label),
                "n": len(part),
                "events": int(part[event_col].sum()),
                "median": median["est"],
                "ci_low": median["ci_low"],
                "ci_high": median["ci_high"],
            }
        )
    hazard_ratio = dict(_NO_HAZARD_RATIO)
    if len(labels) == 2:
        second = data.assign(_second=(data[group_col] == labels[1]).astype(float))
        hazard_ratio = cox_hazard_ratio(second, duration_col, event_col, "_second")
    return {
        "name": name,
        "ci_method": ci_method,
        "groups": groups,
        "logrank_p": logrank(data[duration_col], data[event_col], data[group_col]),
        "hazard_ratio": hazard_ratio["hazard_ratio"],
        "hr_ci_low": hazard_ratio["ci_low"],
        "hr_ci_high": hazard_ratio["ci_high"],
        "hr_p": hazard_ratio["p"],
    }


def _cox_estimable(events: pd.Series, covariate: pd.Series) -> bool:
    """False where the partial likelihood has no finite maximum we can spot up front."""
    if events.sum() == 0 or covariate.nunique() < 2:
        return False
    if covariate.nunique() == 2:
        return bool((events.groupby(covariate).sum() > 0).all())
    return True


def _fitted_hazard_ratio(fit, fitter, covariate_col: str, alpha: float) -> dict:
    """Run ``fit`` and read the Wald HR, CI and p of one covariate; None if it fails."""
    try:
        fit()
    except (ConvergenceError, np.linalg.LinAlgError):
        return dict(_NO_HAZARD_RATIO)
    coef = fitter.params_[covariate_col]
    half_width = sps.norm.ppf(1 - alpha / 2) * fitter.standard_errors_[covariate_col]
    if not math.isfinite(coef + half_width) or abs(coef) + half_width > _MAX_LOG_HAZARD_RATIO:
        # (quasi-)complete separation: the partial likelihood has no finite maximum
        return dict(_NO_HAZARD_RATIO)
    return {
        **_interval(
            "hazard_ratio",
            math.exp(coef),
            math.exp(coef - half_width),
            math.exp(coef + half_width),
        ),
        "p": _number(fitter.summary.loc[covariate_col, "p"]),
    }


# --- Sanity guard --------------------------------------------------------------

# (estimate key, low key, high key) of the intervals ``assert_sane_results`` checks.
_INTERVAL_KEYS = (
    ("est", "ci_low", "ci_high"),
    ("pct", "ci_low", "ci_high"),
    ("median", "ci_low", "ci_high"),
    ("hazard_ratio", "ci_low", "ci_high"),
    ("hazard_ratio", "hr_ci_low", "hr_ci_high"),
)


def guard_interval(est: float | None, low: float | None, high: float | None) -> None:
    """Raise ValueError if the interval [low, high] excludes its own estimate."""
    if est is None:
        return
    slack = 1e-9 * max(1.0, abs(est))
    if (low is not None and low > est + slack) or (high is not None and high < est - slack):
        raise ValueError(f"interval [{low}, {high}] excludes its estimate {est}")


def assert_sane_results(results) -> None:
    """Walk nested dicts and lists; raise ValueError on an interval that excludes its
    estimate, or on a percentage (key ``pct`` or ``*_pct``, and a pct's CI) outside 0-100.
    """
    if isinstance(results, Mapping):
        for est_key, low_key, high_key in _INTERVAL_KEYS:
            if est_key in results and (low_key in results or high_key in results):
                guard_interval(results[est_key], results.get(low_key), results.get(high_key))
        percent_keys = [key for key in results if key == "pct" or str(key).endswith("_pct")]
        if "pct" in results:
            percent_keys += [key for key in ("ci_low", "ci_high") if key in results]
        for key in percent_keys:
            value = results[key]
            if value is not None and not 0 <= value <= 100:
                raise ValueError(f"{key} = {value} is not a percentage")
        for value in results.values():
            assert_sane_results(value)
    elif isinstance(results, list | tuple):
        for item in results:
            assert_sane_results(item)


# --- Helpers -------------------------------------------------------------------


def _interval(est_key: str, est, low, high) -> dict:
    """{est_key, ci_low, ci_high} as JSON-ready floats, checked to contain the estimate."""
    est, low, high = _number(est), _number(low), _number(high)
    guard_interval(est, low, high)
    return {est_key: est, "ci_low": low, "ci_high": high}


def _number(value) -> float | None:
    """A finite float, or None for missing, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _plain(value):
    """A numpy scalar as the Python value it holds (for JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def _floats(values: Iterable) -> np.ndarray:
    """Numbers (lists, arrays, Series, nullable dtypes) as a float array, gaps as NaN."""
    if not isinstance(values, pd.Series):
        values = pd.Series(values if isinstance(values, np.ndarray) else list(values))
    return values.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _survival_data(durations: Iterable[float], events: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """Validated (durations, 0/1 events) arrays."""
    durations, events = _floats(durations), _floats(events)
    if durations.shape != events.shape:
        raise ValueError("durations and events must have the same length")
    if np.isnan(durations).any() or (durations < 0).any():
        raise ValueError("durations must be non-negative numbers, without gaps")
    if not np.isin(events, (0, 1)).all():
        raise ValueError("events must be 0 or 1, without gaps")
    return durations, events.astype(int)
