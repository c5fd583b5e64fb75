"""The statistical analysis plan run on an analysis dataset: the results dict and its tables.

No database here: ``report_results_compute`` takes an ``AnalysisDataset`` and returns
JSON-ready results (percentages 0-100, times in months) plus the fitted curves the
figures are drawn from. ``report_tables`` turns results into the printed tables, the
one source of the HTML page, the PDF and the CSV files.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.utils import translation
from django.utils.translation import gettext as _
from lifelines.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from analytics import stats
from analytics.dataset import NOT_ASSESSED, AnalysisDataset
from analytics.parallel import InChild
from outcomes.models import RESPONSE_RANK, VodSetting
from patients.clinical import MissingCode
from patients.models import DiseaseStatus
from treatments.models import ResponseCategory

TIME_POINTS_MONTHS = (12, 24, 36, 60)
VOD_POINTS_MONTHS = (3, 6, 12, 24)
LANDMARK_MONTHS = 6



def _labels(choices) -> dict[str, str]:
    """Code → label of a code list, in English: the results are a record, whatever the
    language of the request that started the report."""
    with translation.override("en"):
        return {str(code): str(label) for code, label in choices}


RESPONSE_LABELS = {**_labels((category, category.label) for category in RESPONSE_RANK), NOT_ASSESSED: "Not assessed"}
DISEASE_STATUS_LABELS = _labels(DiseaseStatus.choices)
VOD_SETTING_LABELS = _labels(VodSetting.choices)

Progress = Callable[[int, str], None]


def _no_progress(percent: int, step: str) -> None:
    return None


@dataclass
class Curves:
    """Fitted curves for the figures (months)."""

    os: stats.KaplanMeier | None = None
    dor: stats.KaplanMeier | None = None
    subgroups: list[tuple[str, list[tuple[str, stats.KaplanMeier]]]] = field(default_factory=list)
    vod: dict[str, stats.CumulativeIncidence] = field(default_factory=dict)


def count_pct(n: int, total: int) -> dict:
    """n (%) without an interval, for descriptive tables."""
    return {"n": int(n), "total": int(total), "pct": None if total == 0 else float(100 * n / total)}


def count_known(values: pd.Series) -> dict:
    """n (%) of a yes/no answer among the patients whose answer is known: a question
    answered with a missing-data code (NA here) is neither yes nor no. ``missing`` says
    how many it leaves out."""
    known = values.notna()
    return {**count_pct(int(values[known].astype(bool).sum()), int(known.sum())), "missing": int((~known).sum())}


def _months(days) -> np.ndarray:
    return stats.days_to_months(np.asarray(days, dtype=float))


def _survival_summary(km: stats.KaplanMeier, *, n_events: int, n: int) -> dict:
    median, q1, q3 = km.median, km.q1, km.q3
    at_months = {}
    for months in TIME_POINTS_MONTHS:
        point = km.survival_at(months)
        at_months[str(months)] = (
            {**point, "estimable": True} if point
            else {"pct": None, "ci_low": None, "ci_high": None, "estimable": False}
        )
    return {
        "n": n,
        "events": n_events,
        "median_months": median["est"],
        "ci_low": median["ci_low"],
        "ci_high": median["ci_high"],
        "q1_months": q1["est"],
        "q3_months": q3["est"],
        "last_follow_up_months": km.last_time,
        "at_months": at_months,
    }


def duration_of_response_days(patients: pd.DataFrame, *, hsct_censors_dor: bool) -> pd.DataFrame:
    """Responders' duration of response: first CR/CRi → relapse or death, whichever first,
    censored at last contact (and at allo-HSCT when ``hsct_censors_dor``)."""
    responders = patients[patients["responder"]]
    start = responders["first_remission_day"].to_numpy(dtype=float)
    relapse = responders["relapse_day"].to_numpy(dtype=float)
    relapse = np.where(relapse >= start, relapse, np.nan)  # only a relapse after the remission counts
    event_day = np.fmin(relapse, responders["death_day"].to_numpy(dtype=float))
    has_event = ~np.isnan(event_day)
    end = np.where(has_event, event_day, responders["last_contact_day"].to_numpy(dtype=float))
    if hsct_censors_dor:
        hsct = responders["hsct_day"].to_numpy(dtype=float)
        censor = ~np.isnan(hsct) & (hsct >= start) & (hsct < end)
        end = np.where(censor, hsct, end)
        has_event = has_event & ~censor
    return pd.DataFrame({"days": np.maximum(end - start, 0), "event": has_event.astype(int)})


def report_results_compute(
    dataset: AnalysisDataset,
    *,
    ci_method: str = "log-log",
    hsct_censors_dor: bool = False,
    progress: Progress = _no_progress,
) -> tuple[dict, Curves]:
    """Every figure of the analysis plan. Raises ValueError on a result that fails the
    sanity guard (an interval excluding its estimate, a percentage outside 0-100)."""
    computing = report_results_start(dataset, ci_method=ci_method, hsct_censors_dor=hsct_censors_dor,
                                     progress=progress)
    try:
        return computing.finish(), computing.curves
    finally:
        computing.cancel()


@dataclass
class ResultsInProgress:
    """Every result but the time-dependent Cox model, which a second process is fitting:
    the caller can draw the figures meanwhile (they do not show it), then ``finish``."""

    results: dict
    curves: Curves
    time_dependent: InChild

    def finish(self) -> dict:
        """The complete results, once the time-dependent model is in; ValueError on a
        result that fails the sanity guard."""
        self.results["hsct"]["os_time_dependent"] = {
            **self.time_dependent.result(),
            "model": "Cox model with allo-HSCT as a time-dependent covariate (exposed from its date)",
        }
        stats.assert_sane_results(self.results)
        return self.results

    def cancel(self) -> None:
        self.time_dependent.cancel()


def report_results_start(
    dataset: AnalysisDataset,
    *,
    ci_method: str = "log-log",
    hsct_censors_dor: bool = False,
    progress: Progress = _no_progress,
) -> ResultsInProgress:
    """Start the time-dependent Cox model, the longest step, in a second process, and
    compute everything else here meanwhile."""
    # One BLAS thread: the fits work on small matrices, and the time-dependent Cox model
    # runs in a second process (the limit is inherited), where extra BLAS threads of
    # each process would fight over the cores: the statistics took twice as long.
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        # a Cox fit that does not converge is reported as not estimable, not logged as noise
        warnings.simplefilter("ignore", ConvergenceWarning)
        if ci_method not in stats.CI_METHODS:
            raise ValueError(f"Unknown confidence interval method {ci_method!r}: "
                             f"use one of {', '.join(stats.CI_METHODS)}.")
        patients = dataset.patients
        total = len(patients)
        if total == 0:
            raise ValueError("No patient is in the analysis population for these centers and this cut-off.")
        curves = Curves()
        results: dict = {
            "n_patients": total,
            "n_centers": int(patients["center"].nunique()),
            "centers": list(dataset.center_codes),
            "cutoff": dataset.cutoff.isoformat(),
            "ci_method": ci_method,
            "ci_level_pct": 95,
            "hsct_censors_dor": hsct_censors_dor,
            "time_unit": "months (days / (365.25 / 12))",
            "flow": dataset.flow,
            "missing_data": dataset.missing_data,
            "missing_codes": _missing_codes(dataset),
        }
        os_months = _months(patients["os_days"])
        os_events = patients["os_event"].to_numpy(dtype=int)
        time_dependent = InChild(stats.cox_time_dependent, os_months, os_events, _months(patients["hsct_day"]))
        try:
            _results_add(results, curves, dataset, os_months, os_events, ci_method=ci_method,
                         hsct_censors_dor=hsct_censors_dor, progress=progress)
        except BaseException:
            time_dependent.cancel()
            raise
        return ResultsInProgress(results=results, curves=curves, time_dependent=time_dependent)


def _results_add(results: dict, curves: Curves, dataset: AnalysisDataset, os_months: np.ndarray,
                 os_events: np.ndarray, *, ci_method: str, hsct_censors_dor: bool, progress: Progress) -> None:
    """Everything but the time-dependent Cox model, into ``results`` and ``curves``."""
    patients = dataset.patients
    total = len(patients)
    progress(25, "Baseline characteristics")
    results["baseline"] = _baseline(patients)
    results["treatment"] = {"io_cycles": stats.median_quartiles(patients["n_cycles"])}

    progress(30, "Response")
    best = patients["best_response"]
    n_cr, n_cri = int((best == ResponseCategory.CR.value).sum()), int((best == ResponseCategory.CRI.value).sum())
    n_responders = n_cr + n_cri  # ORR, CR and CRi printed from the same counts
    results["response"] = {
        "orr": stats.proportion(n_responders, total),
        "cr": stats.proportion(n_cr, total),
        "cri": stats.proportion(n_cri, total),
        "mrd_negative_among_responders": stats.proportion(int(patients["mrd_negative"].sum()), n_responders),
        "best_response": [{"response": RESPONSE_LABELS[code], **count_pct((best == code).sum(), total)}
                          for code in RESPONSE_LABELS],
        "definition": "Best response on IO before allo-HSCT; ORR = (CR + CRi) / N; exact Clopper-Pearson 95% CI.",
    }

    progress(35, "Overall survival and follow-up")
    curves.os = stats.kaplan_meier(os_months, os_events, ci_method=ci_method)
    results["overall_survival"] = _survival_summary(curves.os, n_events=int(os_events.sum()), n=total)
    follow_up = stats.reverse_km_median_follow_up(os_months, os_events, ci_method=ci_method)
    results["follow_up"] = {"median_months": follow_up["est"], "ci_low": follow_up["ci_low"],
                            "ci_high": follow_up["ci_high"], "method": "reverse Kaplan-Meier"}

    progress(45, "Duration of response")
    dor = duration_of_response_days(patients, hsct_censors_dor=hsct_censors_dor)
    curves.dor = stats.kaplan_meier(_months(dor["days"]), dor["event"], ci_method=ci_method)
    results["duration_of_response"] = {
        **_survival_summary(curves.dor, n_events=int(dor["event"].sum()), n=len(dor)),
        "hsct_censors_dor": hsct_censors_dor,
    }

    progress(50, "Allogeneic HSCT")
    results["hsct"] = _hsct(patients, os_months, os_events, ci_method=ci_method)

    progress(55, "VOD/SOS")
    results["vod_sos"] = _vod(dataset, curves)

    progress(60, "Safety")
    results["safety"] = _safety(dataset)

    progress(65, "Subgroups")
    results["subgroups"] = _subgroups(patients, os_months, os_events, ci_method=ci_method, curves=curves)


def _baseline(patients: pd.DataFrame) -> dict:
    total = len(patients)
    lines = patients["prior_lines"]
    ph = patients["ph_status"]
    ecog = patients["ecog"]
    return {
        "age_years": stats.median_quartiles(patients["age_years"]),
        "female": count_pct((patients["sex"] == "F").sum(), total),
        "ph_positive": count_known((ph == "positive").where(ph.notna())),
        "prior_lines": stats.median_quartiles(lines),
        "prior_lines_3_or_more": count_pct((lines >= 3).sum(), total),
        "prior_induction_chemo": count_pct(patients["prior_induction_chemo"].sum(), total),
        "prior_blinatumomab": count_pct(patients["prior_blinatumomab"].sum(), total),
        "prior_allo_hsct": count_known(patients["prior_allo_hsct"]),
        "disease_status": [{"status": label, **count_pct((patients["disease_status"] == code).sum(), total)}
                           for code, label in DISEASE_STATUS_LABELS.items()],
        "ecog_2_or_more": count_known((ecog >= 2).where(ecog.notna())),
        "marrow_blasts": stats.median_quartiles(patients["marrow_blasts_pct"]),
        "extramedullary_disease": count_known(patients["extramedullary_disease"]),
    }


def _hsct(patients: pd.DataFrame, os_months, os_events, *, ci_method: str) -> dict:
    total = len(patients)
    hsct_months = _months(patients["hsct_day"])
    transplanted = ~np.isnan(hsct_months)
    landmark = stats.landmark_table(os_months, os_events, hsct_months, landmark=LANDMARK_MONTHS)
    landmark_hr = stats.cox_hazard_ratio(landmark.assign(hsct=landmark["hsct"].astype(float)),
                                         "duration", "event", "hsct")
    return {
        **stats.proportion(int(transplanted.sum()), total),
        "months_to_hsct": stats.median_quartiles(hsct_months[transplanted]),
        "os_time_dependent": None,  # fitted in a second process: see ResultsInProgress.finish
        "os_landmark": {
            "landmark_months": LANDMARK_MONTHS,
            "n": len(landmark),
            "n_hsct": int(landmark["hsct"].sum()),
            "logrank_p": stats.logrank(landmark["duration"], landmark["event"], landmark["hsct"]),
            **landmark_hr,
        },
    }


def _vod(dataset: AnalysisDataset, curves: Curves) -> dict:
    patients = dataset.patients
    total = len(patients)
    vod_day = patients["vod_day"].to_numpy(dtype=float)
    death_day = patients["death_day"].to_numpy(dtype=float)
    end_day = patients["os_days"].to_numpy(dtype=float)
    has_vod = ~np.isnan(vod_day)
    # Any VOD/SOS from C1D1; death without VOD/SOS competes.
    codes = np.where(has_vod, 1, np.where(~np.isnan(death_day), 2, 0))
    curves.vod["any"] = stats.cumulative_incidence(
        _months(np.where(has_vod, vod_day, end_day)), codes, times=VOD_POINTS_MONTHS)
    by_setting = []
    setting = patients["vod_setting"].to_numpy(dtype=object)
    hsct_day = patients["hsct_day"].to_numpy(dtype=float)
    transplanted = ~np.isnan(hsct_day)
    # During IO without HSCT: from C1D1; death or an HSCT first compete (both end this setting).
    during = has_vod & (setting == "during_io")
    first_competing = np.fmin(death_day, hsct_day)
    codes = np.where(during, 1, np.where(~np.isnan(first_competing), 2, 0))
    times = np.where(during, vod_day, np.where(~np.isnan(first_competing), first_competing, end_day))
    curves.vod[VodSetting.DURING_IO] = stats.cumulative_incidence(_months(times), codes, times=VOD_POINTS_MONTHS)
    by_setting.append({
        "setting": VOD_SETTING_LABELS[VodSetting.DURING_IO],
        "population": "all patients, from C1D1; allo-HSCT and death without VOD/SOS compete",
        **stats.proportion(int(during.sum()), total),
        "cumulative_incidence": curves.vod[VodSetting.DURING_IO].points,
    })
    # After HSCT: transplanted patients, from the HSCT date; death without VOD/SOS competes.
    after = has_vod & (setting == "after_hsct") & transplanted
    codes = np.where(after, 1, np.where(~np.isnan(death_day), 2, 0))[transplanted]
    times = (np.where(after, vod_day, end_day) - hsct_day)[transplanted]
    if transplanted.any():
        curves.vod[VodSetting.AFTER_HSCT] = stats.cumulative_incidence(_months(np.maximum(times, 0)), codes,
                                                              times=VOD_POINTS_MONTHS)
    by_setting.append({
        "setting": VOD_SETTING_LABELS[VodSetting.AFTER_HSCT],
        "population": "patients with allo-HSCT after IO, from the HSCT date; death without VOD/SOS competes",
        **stats.proportion(int(after.sum()), int(transplanted.sum())),
        "cumulative_incidence": curves.vod[VodSetting.AFTER_HSCT].points if "after_hsct" in curves.vod else [],
    })
    vods = dataset.vod_events.drop_duplicates("row")
    return {
        **stats.proportion(int(has_vod.sum()), total),
        "cumulative_incidence": {
            "competing_risk": "death without VOD/SOS",
            "method": "Aalen-Johansen",
            "points": [{"months": point["time"], "pct": point["pct"]} for point in curves.vod["any"].points],
        },
        "by_setting": by_setting,
        "severity": [{"severity": severity.replace("_", " "), **count_pct((vods["severity"] == severity).sum(),
                                                                           int(has_vod.sum()))}
                     for severity in ("mild", "moderate", "severe", "very_severe")],
        "fatal": count_pct((vods["outcome"] == "fatal").sum(), int(has_vod.sum())),
        "defibrotide": count_known(vods["defibrotide"]),
    }


def _safety(dataset: AnalysisDataset) -> dict:
    total = dataset.n_patients
    events = dataset.adverse_events
    by_term = []  # the table holds each patient's worst grade per term already
    for (_term, label, haematologic), rows in events.groupby(["term", "label", "haematologic"]):
        grades = rows["worst_grade"].value_counts()
        by_term.append({
            "term": label,
            "haematologic": bool(haematologic),
            **count_pct(len(rows), total),
            **{f"grade_{grade}": int(grades.get(grade, 0)) for grade in range(1, 6)},
            "grade3plus_n": int((rows["worst_grade"] >= 3).sum()),
        })
    by_term.sort(key=lambda entry: (-entry["n"], entry["term"]))
    serious = [
        {"term": entry["term"], **count_pct(entry["grade3plus_n"], total),
         "grade_3": entry["grade_3"], "grade_4": entry["grade_4"], "grade_5": entry["grade_5"]}
        for entry in by_term if not entry["haematologic"] and entry["grade3plus_n"] > 0
    ]
    serious.sort(key=lambda entry: (-entry["n"], entry["term"]))
    grade5 = events[events["worst_grade"] == 5].sort_values(["grade5_day", "term"])
    return {
        "patients_with_any_ae": count_pct(events["row"].nunique(), total),
        "by_term": by_term,
        "grade3plus_nonhematologic": serious,
        "grade5": [{"term": label, "organ_class": organ_class, "day_from_c1d1": int(day)}
                   for label, organ_class, day in zip(grade5["label"], grade5["organ_class"], grade5["grade5_day"],
                                                      strict=True)],
        "method": "Worst grade per patient and term (CTCAE v5); percentages of all analysed patients.",
    }


def _missing_codes(dataset: AnalysisDataset) -> list[dict]:
    """Per question, how many of the analysed patients (a form with one row per patient) or
    of their rows (a repeating form) answer it with each missing-data code, in casebook order."""
    summary = []
    table = dataset.missing_codes
    for (form, variable, label, repeating), rows in table.groupby(["form", "variable", "label", "repeating"],
                                                                   sort=False):
        counts = rows["code"].value_counts()
        summary.append({
            "form": form, "variable": variable, "label": label, "counted_in": "rows" if repeating else "patients",
            **{code: int(counts.get(code, 0)) for code in MissingCode.values},
            "patients": int(rows["row"].nunique()),
        })
    return summary


def _subgroups(patients: pd.DataFrame, os_months, os_events, *, ci_method: str, curves: Curves) -> list[dict]:
    # Categorical columns: every comparison below is of small integer codes, not of strings.
    data = pd.DataFrame({
        "months": os_months,
        "event": os_events,
        "blinatumomab": pd.Categorical(np.where(patients["prior_blinatumomab"], "Yes", "No"), ["No", "Yes"]),
        "lines": pd.Categorical(np.where(patients["prior_lines"] >= 3, "≥3", "≤2"), ["≤2", "≥3"]),
        "ph": pd.Categorical(patients["ph_status"].map({"negative": "Ph−", "positive": "Ph+"}), ["Ph−", "Ph+"]),
        "remission": pd.Categorical(np.where(patients["responder"], "CR/CRi", "No CR/CRi"), ["No CR/CRi", "CR/CRi"]),
        "cr_vs_cri": pd.Categorical(patients["best_response"].map({ResponseCategory.CR.value: "CR", ResponseCategory.CRI.value: "CRi"}), ["CR", "CRi"]),
    })
    specs = [
        ("Prior blinatumomab", "blinatumomab", ["No", "Yes"]),
        ("Prior lines", "lines", ["≤2", "≥3"]),
        ("Philadelphia chromosome", "ph", ["Ph−", "Ph+"]),
        ("Best response (CR/CRi vs none)", "remission", ["No CR/CRi", "CR/CRi"]),
        ("Best response among responders (CR vs CRi)", "cr_vs_cri", ["CR", "CRi"]),
    ]
    subgroups = []
    for name, column, levels in specs:
        result = stats.subgroup_os(data, duration_col="months", event_col="event", group_col=column,
                                   name=name, levels=levels, ci_method=ci_method)
        result["reference"] = levels[0]
        subgroups.append(result)
        curves.subgroups.append((name, [
            (level, stats.kaplan_meier(data.loc[data[column] == level, "months"],
                                       data.loc[data[column] == level, "event"], ci_method=ci_method))
            for level in levels if (data[column] == level).any()
        ]))
    return subgroups


# --- Printed tables --------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A printed table: its first `text_columns` columns are labels, the others figures
    (aligned right on the page)."""

    name: str  # file name of its CSV
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    text_columns: int = 1


def fmt(value, digits: int = 1) -> str:
    return "NE" if value is None else f"{value:.{digits}f}"


def fmt_p(value) -> str:
    if value is None:
        return "NE"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def n_pct(entry: dict) -> str:
    """n (%); where a missing-data code left patients out, n/known (%) and how many."""
    if entry.get("missing"):
        return _("%(n)s/%(total)s (%(pct)s%%); %(missing)s missing") % {
            "n": entry["n"], "total": entry["total"], "pct": fmt(entry["pct"]), "missing": entry["missing"]}
    return f"{entry['n']} ({fmt(entry['pct'])}%)"


def with_ci(entry: dict, key: str = "pct", digits: int = 1) -> str:
    return f"{fmt(entry[key], digits)} ({fmt(entry['ci_low'], digits)}-{fmt(entry['ci_high'], digits)})"


def median_iqr(entry: dict, digits: int = 1) -> str:
    return f"{fmt(entry['median'], digits)} ({fmt(entry['q1'], digits)}-{fmt(entry['q3'], digits)})"


def _label(text) -> str:
    """A label the results hold in English (a code list's label, a subgroup's name), in the
    active language where the catalogue has it; the empty string stays empty."""
    return _(str(text)) if text else ""


def report_tables(results: dict) -> list[Table]:
    """The tables of the analysis plan, formatted as printed (NE = not estimable), with their
    headings and labels in the active language (the PDF and the CSV files ask for English)."""
    n = results["n_patients"]
    base = results["baseline"]
    baseline_rows = [
        (_("Age at C1D1, years, median (I-III quartiles)"), median_iqr(base["age_years"])),
        (_("Female sex, n (%)"), n_pct(base["female"])),
        (_("Ph+, n (%)"), n_pct(base["ph_positive"])),
        (_("Prior lines, median (I-III quartiles)"), median_iqr(base["prior_lines"], 0)),
        (_("Prior lines ≥ 3, n (%)"), n_pct(base["prior_lines_3_or_more"])),
        (_("Prior induction chemotherapy, n (%)"), n_pct(base["prior_induction_chemo"])),
        (_("Prior blinatumomab, n (%)"), n_pct(base["prior_blinatumomab"])),
        (_("Prior allo-HSCT, n (%)"), n_pct(base["prior_allo_hsct"])),
        *[(_("Disease status: %(status)s, n (%%)") % {"status": _label(entry["status"])}, n_pct(entry))
          for entry in base["disease_status"]],
        (_("ECOG ≥ 2, n (%)"), n_pct(base["ecog_2_or_more"])),
        (_("Marrow blasts %, median (I-III quartiles)"), median_iqr(base["marrow_blasts"])),
        (_("Extramedullary disease, n (%)"), n_pct(base["extramedullary_disease"])),
        (_("IO cycles, median (I-III quartiles)"), median_iqr(results["treatment"]["io_cycles"], 0)),
    ]
    response = results["response"]
    response_rows = [
        (_("ORR (CR + CRi)"), str(response["orr"]["n"]), with_ci(response["orr"])),
        ("CR", str(response["cr"]["n"]), with_ci(response["cr"])),
        ("CRi", str(response["cri"]["n"]), with_ci(response["cri"])),
        (_("MRD-negative among responders"), f"{response['mrd_negative_among_responders']['n']}"
         f"/{response['mrd_negative_among_responders']['total']}", with_ci(response["mrd_negative_among_responders"])),
    ]
    os_ = results["overall_survival"]
    dor = results["duration_of_response"]
    survival_rows = [
        (_("Overall survival: median, months (95% CI)"),
         _("%(events)s deaths / %(n)s") % {"events": os_["events"], "n": os_["n"]}, with_ci(os_, "median_months")),
        *[(_("Overall survival at %(months)s months, %% (95%% CI)") % {"months": months}, "",
           with_ci(os_["at_months"][str(months)]) if os_["at_months"][str(months)]["estimable"]
           else _("NE (beyond the last follow-up)")) for months in TIME_POINTS_MONTHS],
        (_("Median follow-up, months (reverse Kaplan-Meier, 95% CI)"), "",
         with_ci(results["follow_up"], "median_months")),
        (_("Duration of response: median, months (I-III quartiles)"),
         _("%(events)s events / %(n)s") % {"events": dor["events"], "n": dor["n"]},
         f"{fmt(dor['median_months'])} ({fmt(dor['q1_months'])}-{fmt(dor['q3_months'])})"),
        (_("Allo-HSCT censors the duration of response"), "", _("yes") if dor["hsct_censors_dor"] else _("no")),
    ]
    hsct = results["hsct"]
    td, lm = hsct["os_time_dependent"], hsct["os_landmark"]
    hsct_rows = [
        (_("Allo-HSCT after IO, n (%; 95% CI)"), f"{hsct['n']} ({fmt(hsct['pct'])}%)",
         f"{fmt(hsct['ci_low'])}-{fmt(hsct['ci_high'])}"),
        (_("Months from C1D1 to HSCT, median (I-III quartiles)"), "", median_iqr(hsct["months_to_hsct"])),
        (_("OS, HSCT as time-dependent covariate: HR (95% CI), p"), "",
         f"{with_ci(td, 'hazard_ratio', 2)}, p {fmt_p(td['p'])}"),
        (_("OS, landmark at %(months)s months: HSCT by then vs not, HR (95%% CI), p")
         % {"months": lm["landmark_months"]},
         f"{lm['n_hsct']} / {lm['n']}", _("%(hr)s, log-rank p %(p)s") % {"hr": with_ci(lm, "hazard_ratio", 2),
                                                                        "p": fmt_p(lm["logrank_p"])}),
    ]
    vod = results["vod_sos"]
    months_short = _("mo")
    vod_rows = [(_("Any VOD/SOS"), str(vod["n"]), f"{fmt(vod['pct'])} ({fmt(vod['ci_low'])}-{fmt(vod['ci_high'])})",
                 "; ".join(f"{fmt(p['months'], 0)} {months_short} {fmt(p['pct'])}%"
                           for p in vod["cumulative_incidence"]["points"]))]
    vod_rows += [(_label(entry["setting"]), f"{entry['n']}/{entry['total']}",
                  f"{fmt(entry['pct'])} ({fmt(entry['ci_low'])}-{fmt(entry['ci_high'])})",
                  "; ".join(f"{fmt(p['time'], 0)} {months_short} {fmt(p['pct'])}%" for p in entry["cumulative_incidence"]))
                 for entry in vod["by_setting"]]
    safety = results["safety"]
    ae_rows = [(entry["term"], str(entry["grade_3"]), str(entry["grade_4"]), str(entry["grade_5"]), n_pct(entry))
               for entry in safety["grade3plus_nonhematologic"]]
    grade5_rows = [(entry["term"], entry["organ_class"], str(entry["day_from_c1d1"])) for entry in safety["grade5"]]
    subgroup_rows = []
    for subgroup in results["subgroups"]:
        for group in subgroup["groups"]:
            subgroup_rows.append((
                _label(subgroup["name"]), _label(group["label"]), str(group["n"]), str(group["events"]),
                f"{fmt(group['median'])} ({fmt(group['ci_low'])}-{fmt(group['ci_high'])})",
                _("reference") if group["label"] == subgroup["reference"] else
                f"{fmt(subgroup['hazard_ratio'], 2)} ({fmt(subgroup['hr_ci_low'], 2)}-{fmt(subgroup['hr_ci_high'], 2)})",
                fmt_p(subgroup["logrank_p"]),
            ))
    flow = results["flow"]
    flow_rows = [(_("Registered (screened)"), str(flow["screened"]))]
    flow_rows += [(_("Excluded: %(reason)s") % {"reason": _label(entry["reason"])}, str(entry["n"]))
                  for entry in flow["excluded"]]
    flow_rows.append((_("Analysed"), str(flow["analysed"])))
    missing_rows = [(entry["study_id"], entry["center"], ", ".join(_label(item) for item in entry["missing"]),
                     _label(entry["action"])) for entry in results["missing_data"]]
    counted_in = {"rows": _("rows"), "patients": _("patients")}
    code_rows = [(_label(entry["form"]), _label(entry["label"]), counted_in.get(entry["counted_in"], entry["counted_in"]),
                  *(str(entry[code]) for code in MissingCode.values), str(entry["patients"]))
                 for entry in results.get("missing_codes", [])]
    ci_method = results["ci_method"]
    return [
        Table("flow", _("Patient flow"), (_("Step"), "n"), flow_rows),
        Table("baseline", _("Baseline characteristics (N = %(n)s)") % {"n": n}, (_("Characteristic"), _("Value")),
              baseline_rows),
        Table("response", _("Best response on IO before allo-HSCT (exact 95% CI)"),
              (_("Response"), "n", _("% (95% CI)")), response_rows),
        Table("survival", _("Survival (%(method)s 95%% CI)") % {"method": ci_method},
              (_("Endpoint"), _("Events"), _("Estimate")), survival_rows),
        Table("hsct", _("Allogeneic HSCT after IO"), ("", "n", _("Estimate")), hsct_rows),
        Table("vod_sos", _("VOD/SOS: crude rate (exact 95% CI) and cumulative incidence (Aalen-Johansen, "
                           "death without VOD/SOS competing)"),
              (_("Setting"), "n", _("% (95% CI)"), _("Cumulative incidence")), vod_rows),
        Table("safety", _("Grade ≥ 3 non-haematologic adverse events (worst grade per patient)"),
              (_("Term"), _("Grade 3"), _("Grade 4"), _("Grade 5"), _("Grade ≥ 3, n (%)")), ae_rows),
        Table("grade5", _("Grade 5 events"), (_("Term"), _("Organ class"), _("Day from C1D1")), grade5_rows,
              text_columns=2),
        Table("subgroups", _("Overall survival by subgroup (median months, %(method)s 95%% CI; Cox HR vs reference)")
              % {"method": ci_method},
              (_("Subgroup"), _("Group"), "n", _("Deaths"), _("Median OS (95% CI)"), _("HR (95% CI)"),
               _("Log-rank p")), subgroup_rows, text_columns=2),
        Table("missing_data", _("Patients with missing data"), (_("Study ID"), _("Center"), _("Missing"), _("Action")),
              missing_rows, text_columns=4),
        Table("missing_codes", _("Missing-data codes per question, among the analysed patients (UNK unknown, "
                                 "ND not done, NA not applicable): a coded answer is missing data in the analysis"),
              (_("Form"), _("Question"), _("Counted in"), *MissingCode.values, _("Patients")), code_rows,
              text_columns=3),
    ]
