"""The demo cohort reproduces the published INO-CD22 figures and obeys every edit check.

The figures are recomputed here independently of the generator: lifelines for the
Kaplan-Meier estimates and their log-log CIs, numpy for counts, quartiles and the
R-style KM quantiles of the duration of response.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from collections import Counter
from itertools import pairwise

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times

from outcomes.demo_cohort import (
    DEMO_CUTOFF,
    PatientTimeline,
    design_cohort,
)

DAYS_PER_MONTH = 365.25 / 12
RANK = {"cr": 0, "cri": 1, "pr": 2, "nr": 3, "pd": 4, "ne": 5}
LIVER_TERMS = {
    "Aspartate aminotransferase increased",
    "Alanine aminotransferase increased",
    "Blood bilirubin increased",
    "GGT increased",
}
TERM_CLASSES = {
    "Febrile neutropenia": ("Blood and lymphatic system disorders", True),
    "Anemia": ("Blood and lymphatic system disorders", True),
    "Neutrophil count decreased": ("Investigations", True),
    "Platelet count decreased": ("Investigations", True),
    "Aspartate aminotransferase increased": ("Investigations", False),
    "Alanine aminotransferase increased": ("Investigations", False),
    "Blood bilirubin increased": ("Investigations", False),
    "GGT increased": ("Investigations", False),
    "Lung infection": ("Infections and infestations", False),
    "Sepsis": ("Infections and infestations", False),
    "Nausea": ("Gastrointestinal disorders", False),
    "Fatigue": ("General disorders and administration site conditions", False),
    "Infusion related reaction": ("Injury, poisoning and procedural complications", False),
}


@pytest.fixture(scope="module")
def cohort() -> list[PatientTimeline]:
    return design_cohort()


@pytest.fixture(scope="module")
def large_cohort() -> list[PatientTimeline]:
    return design_cohort(seed=7, n_patients=2000)


# --------------------------------------------------------------------------------------
# Independent computations
# --------------------------------------------------------------------------------------


def months(start: dt.date, end: dt.date) -> float:
    return (end - start).days / DAYS_PER_MONTH


def best_response(p: PatientTimeline) -> str:
    before_hsct = [r.response for r in p.responses if p.hsct is None or r.date < p.hsct.date]
    return min(before_hsct, key=RANK.__getitem__, default="ne")


def responders(patients):
    return [p for p in patients if best_response(p) in ("cr", "cri")]


def overall_survival(patients):
    times = np.array([months(p.c1d1, p.death_date or p.last_contact) for p in patients])
    died = np.array([p.death_date is not None for p in patients])
    return times, died


def duration_of_response(patients):
    times, events = [], []
    for p in responders(patients):
        start = min(r.date for r in p.responses if r.response in ("cr", "cri"))
        ends = [d for d in (p.relapse_date, p.death_date) if d is not None]
        times.append(months(start, min(ends) if ends else p.last_contact))
        events.append(bool(ends))
    return np.array(times), np.array(events)


def km_fit(times, events) -> KaplanMeierFitter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KaplanMeierFitter().fit(times, events)


def km_survival_ci_at(kmf: KaplanMeierFitter, t: float) -> tuple[float, float]:
    bands = kmf.confidence_interval_survival_function_
    return tuple(bands[bands.index <= t].iloc[-1].values)


def r_km_quantile(times, events, p: float) -> float:
    """R survival's quantile: first time S <= 1 - p; the midpoint if S sits exactly there."""
    order = np.lexsort((~events, times))
    times, events = times[order], events[order]
    s, at_risk = 1.0, len(times)
    event_times = np.unique(times[events])
    curve = []
    for t in event_times:
        at_risk = np.sum(times >= t)
        deaths = np.sum((times == t) & events)
        s *= 1 - deaths / at_risk
        curve.append((t, s))
    target = 1 - p
    for i, (t, s) in enumerate(curve):
        if abs(s - target) < 1e-12:
            return (t + curve[i + 1][0]) / 2 if i + 1 < len(curve) else t
        if s < target:
            return t
    return float("nan")


# --------------------------------------------------------------------------------------
# The published figures
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [2025, 1, 42])
def test_counts_match_the_abstract(seed):
    patients = design_cohort(seed=seed)
    best = Counter(best_response(p) for p in patients)
    responding = responders(patients)
    assert len(patients) == 73
    assert len({p.center_index for p in patients}) == 24
    assert best["cr"] == 51 and best["cri"] == 3 and len(responding) == 54
    assert sum(p.hsct is not None for p in patients) == 27
    assert all(best_response(p) in ("cr", "cri") for p in patients if p.hsct is not None)
    assert sum(p.vod is not None for p in patients) == 8
    assert sum(any(line.category == "blinatumomab" for line in p.prior_lines) for p in patients) == 42
    assert sum(any(line.category == "induction_chemo" for line in p.prior_lines) for p in patients) == 62
    assert np.percentile([len(p.prior_lines) for p in patients], [25, 50, 75]).tolist() == [2, 3, 4]
    ages = [(p.c1d1 - p.date_of_birth).days / 365.25 for p in patients]
    assert np.percentile(ages, [25, 50, 75]) == pytest.approx([51.9, 52.7, 53.5], abs=0.05)
    mrd_negative = sum(any(r.mrd == "negative" for r in p.responses) for p in responding)
    assert 0.6 <= mrd_negative / 54 <= 0.8


@pytest.mark.parametrize("seed", [2025, 1, 42])
def test_overall_survival_matches_the_abstract(seed):
    kmf = km_fit(*overall_survival(design_cohort(seed=seed)))
    median_ci = median_survival_times(kmf.confidence_interval_).iloc[0].values

    assert kmf.median_survival_time_ == pytest.approx(7.9, abs=0.05)
    assert median_ci == pytest.approx([6.08, 12.42], abs=0.3)
    assert float(kmf.survival_function_at_times(36).iloc[0]) == pytest.approx(0.212, abs=0.005)
    assert km_survival_ci_at(kmf, 36) == pytest.approx((0.119, 0.323), abs=0.01)
    assert float(kmf.survival_function_at_times(60).iloc[0]) == pytest.approx(0.053, abs=0.005)


@pytest.mark.parametrize("seed", [2025, 1, 42])
def test_median_follow_up_by_reverse_kaplan_meier(seed):
    times, died = overall_survival(design_cohort(seed=seed))
    assert km_fit(times, ~died).median_survival_time_ == pytest.approx(37.2, abs=0.5)


@pytest.mark.parametrize("seed", [2025, 1, 42])
def test_duration_of_response_matches_the_abstract(seed):
    times, events = duration_of_response(design_cohort(seed=seed))
    assert len(times) == 54
    assert r_km_quantile(times, events, 0.5) == pytest.approx(4.4, abs=0.1)
    assert r_km_quantile(times, events, 0.25) == pytest.approx(2.3, abs=0.2)
    assert r_km_quantile(times, events, 0.75) == pytest.approx(11.2, abs=0.2)
    # lifelines (first time at or below 0.5) agrees with R's rule
    assert km_fit(times, events).median_survival_time_ == pytest.approx(4.4, abs=0.1)


def test_severe_non_haematologic_aes_are_liver_toxicity_and_pneumonia(cohort):
    worst: dict[tuple[int, str], int] = {}
    for i, p in enumerate(cohort):
        for ae in p.adverse_events:
            if not ae.haematologic:
                worst[(i, ae.term)] = max(worst.get((i, ae.term), 0), ae.grade)
    severe = Counter(term for (_, term), grade in worst.items() if grade >= 3)
    top_four = {term for term, _ in severe.most_common(4)}
    assert top_four <= LIVER_TERMS | {"Lung infection"}
    assert "Lung infection" in top_four
    grade_4 = Counter(term for (_, term), grade in worst.items() if grade == 4)
    grade_5 = Counter(term for (_, term), grade in worst.items() if grade == 5)
    assert grade_4 == {"Lung infection": 2}
    assert grade_5 == {"Lung infection": 1}
    (fatal,) = [p for p in cohort if any(ae.grade == 5 for ae in p.adverse_events)]
    assert fatal.death_cause == "infection"


def test_no_fatal_vod(cohort):
    vods = [p.vod for p in cohort if p.vod is not None]
    settings = Counter(v.setting for v in vods)
    assert settings["after_hsct"] > settings["during_io"] > 0
    assert all(v.outcome == "resolved" for v in vods)
    assert not any(p.death_cause == "vod_sos" for p in cohort)


# --------------------------------------------------------------------------------------
# Edit checks on every patient
# --------------------------------------------------------------------------------------


def value_or_code(value, codes, name: str, valid) -> bool:
    """A question holds a valid value, or no value and a missing-data code: never both."""
    code = dict(codes).get(name)
    return value is None and code in ("UNK", "ND", "NA") if code else value is not None and valid(value)


def violations(p: PatientTimeline, n_centers: int = 24) -> list[str]:
    problems = []

    def check(condition: bool, message: str) -> None:
        if not condition:
            problems.append(message)

    dead = p.death_date is not None
    end = p.last_contact
    all_dates = [p.date_of_birth, p.c1d1, p.diagnosis_date, p.last_contact]

    # enrollment and baseline
    check(0 <= p.center_index < n_centers, "center out of range")
    check(p.sex in ("M", "F"), "sex")
    check(dt.date(2014, 1, 1) <= p.c1d1 <= dt.date(2019, 12, 31), "C1D1 outside 2014-2019")
    check((p.c1d1 - p.date_of_birth).days / 365.25 >= 18, "under 18 at C1D1")
    check(value_or_code(p.cd22_pct, p.baseline_codes, "cd22_expression_pct", lambda v: 20 <= v <= 100), "CD22")
    check(
        p.disease_status in ("primary_refractory", "first_relapse", "second_or_later_relapse", "refractory_relapse"),
        "disease status",
    )
    check(0 <= p.marrow_blasts_pct <= 100, "blasts")
    check(value_or_code(p.ecog, p.baseline_codes, "ecog", lambda v: 0 <= v <= 4), "ECOG")
    check(p.date_of_birth < p.diagnosis_date, "diagnosis before birth")

    # prior lines
    check(len(p.prior_lines) >= 1, "no prior line")
    check([line.number for line in p.prior_lines] == list(range(1, len(p.prior_lines) + 1)), "line numbers")
    for line in p.prior_lines:
        all_dates += [line.start, line.end]
        check(
            line.category in ("induction_chemo", "blinatumomab", "tki", "car_t", "allo_hsct", "other"), "line category"
        )
        check(line.best_response in RANK, "line response")
        check(bool(line.regimen), "regimen")
        check(p.diagnosis_date <= line.start <= line.end < p.c1d1, "line dates")
    for previous, line in pairwise(p.prior_lines):
        check(previous.end < line.start, "prior lines overlap")
    hsct_lines = [line for line in p.prior_lines if line.category == "allo_hsct"]
    if p.prior_allo_hsct_date is None:
        check(not hsct_lines, "HSCT line without prior HSCT date")
    else:
        check(any(line.start == p.prior_allo_hsct_date for line in hsct_lines), "prior HSCT date has no line")

    # IO cycles
    check(1 <= len(p.cycles) <= 6, "number of cycles")
    check([c.number for c in p.cycles] == list(range(1, len(p.cycles) + 1)), "cycle numbers")
    check(p.cycles[0].start == p.c1d1, "cycle 1 is not C1D1")
    remission_dates = [r.date for r in p.responses if r.response in ("cr", "cri")]
    for previous, cycle in pairwise(p.cycles):
        gap = (cycle.start - previous.start).days
        check(gap > 28 if cycle.delayed else 21 <= gap <= 28, f"cycle gap {gap}")
    for cycle in p.cycles:
        all_dates.append(cycle.start)
        doses = (cycle.dose_d1, cycle.dose_d8, cycle.dose_d15)
        check(all(0 <= d <= 1.0 for d in doses), "dose per day")
        in_remission = any(d < cycle.start for d in remission_dates)
        label = (0.5, 0.5, 0.5) if in_remission else (0.8, 0.5, 0.5)
        check(cycle.dose_d1 == label[0] and cycle.dose_d8 == label[1], "label dose")
        check(cycle.dose_d15 == (0.0 if cycle.reduced else label[2]), "day 15 dose")
        check(bool(cycle.reason) == (cycle.delayed or cycle.reduced), "delay / reduction reason")
        check(p.hsct is None or cycle.start < p.hsct.date, "cycle after HSCT")
        check(cycle.start <= end, "cycle after death / last contact")
    check(p.end_of_treatment_reason in ("hsct", "response", "toxicity", "progression", "death", "other"), "EOT")
    check((p.end_of_treatment_reason == "hsct") == (p.hsct is not None), "EOT hsct")

    # responses
    check([r.date for r in p.responses] == sorted({r.date for r in p.responses}), "assessment dates")
    for r in p.responses:
        all_dates.append(r.date)
        check(p.c1d1 < r.date <= end, "assessment date")
        check(p.hsct is None or r.date < p.hsct.date, "assessment after HSCT")
        check(r.response in RANK, "response")
        check(value_or_code(r.marrow_blasts_pct, r.codes, "marrow_blasts_pct", lambda v: 0 <= v <= 100), "blasts")
        check(r.response not in ("cr", "cri") or r.marrow_blasts_pct < 5, "CR/CRi with blasts >= 5%")
        check(r.mrd in ("negative", "positive", "not_done"), "MRD")
        check(r.mrd_method == "" if r.mrd == "not_done" else r.mrd_method in ("flow", "pcr"), "MRD method")
    check(p.best_response == best_response(p), "best response property")
    check(p.first_response_date == (min(remission_dates) if remission_dates else None), "first response date")

    # HSCT
    if p.hsct is not None:
        h = p.hsct
        all_dates.append(h.date)
        check(p.c1d1 < h.date <= end, "HSCT date")
        check(h.donor in ("matched_sibling", "matched_unrelated", "haploidentical", "cord", "other"), "donor")
        check(h.conditioning in ("mac", "ric") and value_or_code(h.tbi, h.codes, "tbi", lambda v: isinstance(v, bool)),
              "conditioning")
        check(h.status_at_hsct in ("cr_mrd_neg", "cr_mrd_pos", "other"), "status at HSCT")
        check(h.io_cycles_before == len(p.cycles), "IO cycles before HSCT")
        check(p.relapse_date is None or p.relapse_date > h.date, "HSCT after relapse")

    # adverse events
    for ae in p.adverse_events:
        all_dates.append(ae.onset)
        check(TERM_CLASSES.get(ae.term) == (ae.soc, ae.haematologic), f"term / class {ae.term}")
        check(1 <= ae.grade <= 5, "grade")
        check(p.c1d1 <= ae.onset <= end, "AE onset")
        check(ae.related_to_io in ("related", "possibly", "unrelated"), "relation")
        check(not (ae.codes and ae.resolution), "AE resolution date and code")
        if ae.resolution is not None:
            all_dates.append(ae.resolution)
            check(ae.onset <= ae.resolution <= end, "AE resolution")
        if ae.grade == 5:
            check(dead and ae.resolution == p.death_date and ae.onset <= p.death_date, "grade 5 without death")

    # VOD/SOS
    if p.vod is not None:
        v = p.vod
        all_dates.append(v.date)
        check(v.criteria in ("ebmt_2016", "modified_seattle", "baltimore"), "VOD criteria")
        check(v.severity in ("mild", "moderate", "severe", "very_severe"), "VOD severity")
        check(v.outcome in ("resolved", "fatal") and isinstance(v.defibrotide, bool), "VOD outcome")
        check(p.c1d1 < v.date <= end, "VOD date")
        if v.setting == "after_hsct":
            check(p.hsct is not None and p.hsct.date <= v.date, "VOD after HSCT without HSCT before it")
        else:
            check(v.setting == "during_io" and (p.hsct is None or p.hsct.date > v.date), "VOD during IO")

    # follow-up
    if p.relapse_date is not None:
        all_dates.append(p.relapse_date)
        check(p.first_response_date is not None and p.relapse_date > p.first_response_date, "relapse")
    check(
        p.death_cause in ("disease", "vod_sos", "infection", "gvhd", "other_toxicity", "other")
        if dead
        else p.death_cause == "",
        "death cause",
    )
    if dead:
        check(p.death_date == p.last_contact, "death is not the last contact")
    check(max(all_dates) == p.last_contact, "a date after the last contact")
    check(p.last_contact <= DEMO_CUTOFF, "a date after the cut-off")
    return problems


def test_every_patient_passes_the_edit_checks(cohort):
    assert {i: violations(p) for i, p in enumerate(cohort) if violations(p)} == {}


def test_every_resampled_patient_passes_the_edit_checks(large_cohort):
    assert len(large_cohort) == 2000
    assert {i: violations(p) for i, p in enumerate(large_cohort) if violations(p)} == {}
    assert len({p.center_index for p in large_cohort}) == 24


@pytest.mark.parametrize("seed", [1, 42])
def test_other_seeds_pass_the_edit_checks(seed):
    patients = design_cohort(seed=seed, n_patients=500, n_centers=30)
    assert {i: violations(p, 30) for i, p in enumerate(patients) if violations(p, 30)} == {}


def test_every_center_gets_a_patient_and_few_patients_use_distinct_centers():
    assert len({p.center_index for p in design_cohort(n_patients=73, n_centers=40)}) == 40
    small = design_cohort(n_patients=10, n_centers=24)
    assert len(small) == 10 and len({p.center_index for p in small}) == 10


def test_resampled_cohort_stays_plausible(large_cohort):
    orr = len(responders(large_cohort)) / len(large_cohort)
    kmf = km_fit(*overall_survival(large_cohort))
    assert 0.65 < orr < 0.83
    assert 6 < kmf.median_survival_time_ < 10


# --------------------------------------------------------------------------------------
# Determinism and speed
# --------------------------------------------------------------------------------------


def test_same_seed_same_cohort():
    assert design_cohort(seed=3) == design_cohort(seed=3)
    assert design_cohort(seed=3, n_patients=500) == design_cohort(seed=3, n_patients=500)
    assert design_cohort(seed=3) != design_cohort(seed=4)


def test_a_large_cohort_is_designed_quickly():
    started = time.perf_counter()
    patients = design_cohort(seed=11, n_patients=100_000)
    assert len(patients) == 100_000
    assert time.perf_counter() - started < 30


def test_the_designs_response_codes_are_the_models():
    """The design restates the response rank and the remissions (it imports no Django): the same as the models'."""
    from outcomes import demo_cohort
    from outcomes.models import REMISSIONS, RESPONSE_RANK

    assert list(demo_cohort.RESPONSE_RANK) == [category.value for category in RESPONSE_RANK]
    assert set(demo_cohort.REMISSION_CODES) == {category.value for category in REMISSIONS}


def test_a_few_answers_are_missing_coded_as_the_forms_code_them(cohort):
    """The realistic gaps of a chart review, on questions no published figure uses."""
    from outcomes import demo_cohort
    from patients.clinical import MissingCode

    assert {demo_cohort.UNKNOWN, demo_cohort.NOT_DONE} <= set(MissingCode.values)
    baseline = Counter(code for p in cohort for code in p.baseline_codes)
    assert baseline == {("cd22_expression_pct", "UNK"): demo_cohort.MISSING_CD22, ("ecog", "ND"): demo_cohort.MISSING_ECOG}
    assert sum(bool(ae.codes) for p in cohort for ae in p.adverse_events) == demo_cohort.MISSING_AE_RESOLUTION
    assert sum(bool(p.hsct and p.hsct.codes) for p in cohort) == demo_cohort.MISSING_TBI
    not_evaluable = [r for p in cohort for r in p.responses if r.response == "ne"]
    assert not_evaluable and all(r.codes == (("marrow_blasts_pct", "ND"),) for r in not_evaluable)
    assert all(not r.codes for p in cohort for r in p.responses if r.response != "ne")


def test_every_adverse_event_grade_is_one_ctcae_defines_for_its_term(cohort, large_cohort):
    """CTCAE v5.0 marks some grades '-' for a term (no grade 1 febrile neutropenia or
    lung infection, no grade 4 nausea): the design never draws one."""
    from outcomes import demo_cohort
    from outcomes.ctcae import read_terms

    grades = {row["term"]: {g for g in range(1, 6) if row[f"grade_{g}"] != "-"} for row in read_terms()}
    designed = [(term, grade) for term, _probability, drawn in demo_cohort.COMMON_AES for grade in drawn]
    designed += [(term, grade) for term, grade, _count in demo_cohort.SEVERE_NON_HAEM_AES]
    assert all(grade in grades[term] for term, grade in designed), designed
    drawn = {(ae.term, ae.grade) for p in [*cohort, *large_cohort] for ae in p.adverse_events}
    assert {(term, grade) for term, grade in drawn if grade not in grades[term]} == set()
