"""The synthetic INO-CD22 demo cohort: one clinical timeline per patient.

No real patient is in it. The 73-patient template is built so that the analysis
plan reproduces the published abstract (INO-CD22, Cancer 2025, abstract):
every figure is fixed by construction, not by luck of the random draw.

- Survival and duration of response are laid out by *quantile placement*: the
  k-th event of a Kaplan-Meier curve is put where a target curve crosses the
  middle of the k-th step. The target curves pass through the published median,
  the limits of its 95% CI and the quartiles; where censoring matters (after the
  first year of overall survival) the order of deaths and censorings is listed
  explicitly, because it is that order that sets the 3- and 5-year survival, their
  CI and the reverse-Kaplan-Meier follow-up.
- Counts (responders, HSCT, VOD/SOS, prior therapies, adverse events) are fixed
  lists; ages and prior-line numbers are placed on their published quartiles.
- The seed only decides who gets what (baseline profiles, C1D1 dates, centers,
  small schedule details), so any seed gives the same figures for 73 patients.
- A few answers are missing as in a real chart review, on questions no published
  figure uses (CD22 %, ECOG, a resolution date, TBI, the marrow of a not-evaluable
  assessment): the value is None and the record's ``codes`` say why, as the forms store
  a missing-data code (UNK unknown, ND not done). They are drawn from a generator of
  their own, so adding them changed no other draw.

For another cohort size the template is resampled: each patient is a template
patient whose whole timeline is shifted by a few days (every interval kept), so
every edit-check constraint still holds while the figures are only approximate.

Pure Python and numpy: no Django import, so the generator can be tested alone and
used by a management command, a fixture loader or a load test.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np

DEMO_CUTOFF = dt.date(2024, 6, 30)
STUDY_START = dt.date(2014, 1, 1)
STUDY_END = dt.date(2019, 12, 31)

DAYS_PER_MONTH = 365.25 / 12
DAYS_PER_YEAR = 365.25
TEMPLATE_SIZE = 73
RESPONSE_RANK = {"cr": 0, "cri": 1, "pr": 2, "nr": 3, "pd": 4, "ne": 5}
# The responses that are remissions (outcomes.models.REMISSIONS, restated: no Django here; a test keeps them equal).
REMISSION_CODES = ("cr", "cri")

# --------------------------------------------------------------------------------------
# The timeline records (one per CRF row the mapper writes)
# --------------------------------------------------------------------------------------

UNKNOWN, NOT_DONE = "UNK", "ND"  # missing-data codes (patients.clinical.MissingCode; a test keeps them equal)
Codes = tuple[tuple[str, str], ...]  # (question, missing-data code) of the answers a record lacks


@dataclass(frozen=True, slots=True)
class PriorLine:
    number: int
    category: str  # induction_chemo, blinatumomab, tki, car_t, allo_hsct, other
    regimen: str
    start: dt.date
    end: dt.date
    best_response: str  # cr, cri, pr, nr, pd, ne


@dataclass(frozen=True, slots=True)
class Cycle:
    number: int
    start: dt.date
    dose_d1: float  # mg/m²
    dose_d8: float
    dose_d15: float
    delayed: bool
    reduced: bool
    reason: str

    @property
    def total_dose(self) -> float:
        return round(self.dose_d1 + self.dose_d8 + self.dose_d15, 2)


@dataclass(frozen=True, slots=True)
class Response:
    date: dt.date
    marrow_blasts_pct: int | None
    response: str  # cr, cri, pr, nr, pd, ne
    mrd: str  # negative, positive, not_done
    mrd_method: str  # flow, pcr, or '' when not done
    codes: Codes = ()


@dataclass(frozen=True, slots=True)
class Hsct:
    date: dt.date
    donor: str  # matched_sibling, matched_unrelated, haploidentical, cord, other
    conditioning: str  # mac, ric
    tbi: bool | None
    status_at_hsct: str  # cr_mrd_neg, cr_mrd_pos, other
    io_cycles_before: int
    codes: Codes = ()


@dataclass(frozen=True, slots=True)
class AdverseEvent:
    term: str  # CTCAE v5 term
    soc: str  # its System Organ Class
    haematologic: bool
    grade: int
    onset: dt.date
    resolution: dt.date | None
    serious: bool
    related_to_io: str  # related, possibly, unrelated
    codes: Codes = ()


@dataclass(frozen=True, slots=True)
class Vod:
    date: dt.date
    criteria: str  # ebmt_2016, modified_seattle, baltimore
    severity: str  # mild, moderate, severe, very_severe
    setting: str  # during_io, after_hsct
    defibrotide: bool
    outcome: str  # resolved, fatal


@dataclass(frozen=True, slots=True)
class PatientTimeline:
    center_index: int
    sex: str
    date_of_birth: dt.date
    c1d1: dt.date
    diagnosis_date: dt.date
    ph_positive: bool
    cd22_pct: int | None
    disease_status: str
    marrow_blasts_pct: int
    extramedullary: bool
    cns: bool
    ecog: int | None
    prior_allo_hsct_date: dt.date | None
    prior_lines: tuple[PriorLine, ...]
    cycles: tuple[Cycle, ...]
    end_of_treatment_reason: str
    responses: tuple[Response, ...]
    hsct: Hsct | None
    adverse_events: tuple[AdverseEvent, ...]
    vod: Vod | None
    relapse_date: dt.date | None
    death_date: dt.date | None
    death_cause: str
    last_contact: dt.date
    baseline_codes: Codes = ()

    @property
    def best_response(self) -> str:
        """Best response on IO: the best assessment before HSCT ('ne' if none)."""
        before_hsct = [r for r in self.responses if self.hsct is None or r.date < self.hsct.date]
        return min((r.response for r in before_hsct), key=RESPONSE_RANK.__getitem__, default="ne")

    @property
    def first_response_date(self) -> dt.date | None:
        """Date of the first CR or CRi (start of the duration of response)."""
        return next((r.date for r in self.responses if r.response in REMISSION_CODES), None)

    @property
    def is_responder(self) -> bool:
        return self.best_response in REMISSION_CODES


# --------------------------------------------------------------------------------------
# The published figures, as design tables
# --------------------------------------------------------------------------------------

# fmt: off
# Overall survival, first year: 45 deaths, no censoring. With 73 patients the
# log-log band puts the lower CI limit of the median at the 29th death and the upper
# at the 45th, so the curve passes through the middle of those steps at 6.08 and
# 12.42 months, and through 0.5 (the 37th step's middle) at the median, 7.9 months.
OS_FIRST_YEAR_DEATHS = 45
OS_FIRST_YEAR_CURVE = (  # (months, survival)
    (0.0, 1.0),
    (0.6, 0.995),
    (1.0, 0.96),
    (3.0, 0.80),
    (6.08, 45.5 / 73),
    (7.9, 0.5),
    (12.42, 28.5 / 73),
)
# Overall survival after the first year: (months, died). Nine censorings before
# three years widen the 3-year CI to the published 11.9-32.3%; nine at risk at 36
# months, the censoring at 37.2 months is where the reverse Kaplan-Meier (median
# follow-up) crosses 0.5, and two of eight at risk left at 60 months give 5.3%.
OS_LATER_EVENTS = (
    (13.0, True), (14.25, True), (15.5, True), (16.75, False), (18.0, True),
    (19.25, True), (20.5, False), (21.75, False), (23.0, False), (24.25, False),
    (25.5, True), (26.75, True), (28.0, False), (29.25, False), (30.5, True),
    (31.75, False), (33.0, False), (34.25, True), (35.5, True),
    (36.3, True), (36.8, True), (37.2, False),
    (40.5, True), (45.0, True), (50.0, True), (55.5, True),
    (68.0, True), (84.0, False),
)

# Duration of response among the 54 responders: the first 41 events (relapse or
# death) on a curve through the published quartiles 2.3, 4.4 and 11.2 months; the
# other 13 responders stay in remission beyond 11.2 months. With 54 responders the
# curve sits exactly at 0.5 between events 27 and 28, where R (midpoint) and
# lifelines (first time at or below) disagree, so those two events are tied at 4.4.
N_RESPONDERS = 54
N_CRI = 3
DOR_EARLY_EVENTS = 41
DOR_CURVE = ((0.0, 1.0), (0.5, 0.99), (2.3, 0.75), (4.4, 0.5), (11.2, 0.25))
DOR_TIED_AT_MEDIAN = (27, 28)
DOR_MEDIAN_MONTHS = 4.4

N_NON_RESPONDERS = TEMPLATE_SIZE - N_RESPONDERS
NON_RESPONSES = ("ne",) * 2 + ("pd",) * 3 + ("nr",) * 8 + ("pr",) * 6
N_HSCT = 27
N_LATE_HSCT = 12  # of the 13 long remissions; the other 15 HSCT relapse after it
N_VOD_AFTER_HSCT = 6
N_VOD_DURING_IO = 2
MRD_AMONG_RESPONDERS = ("negative",) * 38 + ("positive",) * 12 + ("not_done",) * 4
N_CR_AT_SECOND_ASSESSMENT = 10

# Ages in years, placed on the published quartiles (numpy's linear percentiles of 73
# values are exactly the 19th, 37th and 55th smallest).
AGE_QUANTILES = ((0.0, 19.0), (0.25, 51.9), (0.5, 52.7), (0.75, 53.5), (1.0, 78.0))

# Prior therapy: (patients, disease status at IO, lines as "CATEGORY:best response").
# 62 patients had induction chemotherapy (11 Ph+ started on a TKI without chemo),
# 42 blinatumomab, 27 an allo-HSCT; lines per patient have quartiles 2-3-4.
PRIOR_THERAPY_RECIPES = (
    (5, "first_relapse", "IND:cr"),
    (1, "first_relapse", "TKI:cr"),
    (2, "primary_refractory", "IND:nr"),
    (3, "first_relapse", "IND:cr HSCT:cr"),
    (2, "first_relapse", "TKI:cr BLI:cr"),
    (1, "first_relapse", "IND:cr BLI:cr"),
    (2, "primary_refractory", "IND:nr BLI:nr"),
    (1, "primary_refractory", "IND:nr OTH:nr"),
    (2, "refractory_relapse", "IND:cr BLI:nr"),
    (2, "refractory_relapse", "IND:cr OTH:nr"),
    (2, "first_relapse", "IND:cr BLI:cr HSCT:cr"),
    (1, "first_relapse", "TKI:cr BLI:cr HSCT:cr"),
    (2, "primary_refractory", "IND:nr OTH:nr BLI:nr"),
    (4, "refractory_relapse", "IND:cr OTH:nr OTH:pd"),
    (2, "refractory_relapse", "TKI:cr TKI:nr BLI:nr"),
    (9, "second_or_later_relapse", "IND:cr OTH:nr OTH:cr"),
    (3, "refractory_relapse", "IND:cr HSCT:cr OTH:nr BLI:nr"),
    (2, "refractory_relapse", "IND:cr OTH:cr OTH:nr BLI:nr"),
    (6, "second_or_later_relapse", "IND:cr OTH:nr BLI:cr OTH:cr"),
    (4, "second_or_later_relapse", "IND:cr OTH:nr OTH:cr HSCT:cr"),
    (3, "second_or_later_relapse", "TKI:cr BLI:cr HSCT:cr TKI:cr"),
    (4, "second_or_later_relapse", "IND:cr HSCT:cr BLI:cr OTH:nr OTH:cr"),
    (3, "second_or_later_relapse", "IND:cr OTH:nr OTH:cr BLI:cr OTH:cr"),
    (2, "refractory_relapse", "TKI:cr BLI:cr HSCT:cr TKI:nr OTH:nr"),
    (2, "second_or_later_relapse", "IND:cr OTH:nr BLI:cr HSCT:cr OTH:nr CART:cr"),
    (2, "second_or_later_relapse", "IND:cr OTH:nr BLI:cr HSCT:cr OTH:nr OTH:cr"),
    (1, "refractory_relapse", "IND:cr TKI:cr BLI:cr HSCT:cr OTH:nr OTH:nr"),
)
N_PH_POSITIVE_WITH_CHEMO = 8  # besides the 11 who started on a TKI
LINE_CATEGORY = {
    "IND": "induction_chemo", "BLI": "blinatumomab", "TKI": "tki",
    "CART": "car_t", "HSCT": "allo_hsct", "OTH": "other",
}
REGIMENS = {
    "IND": ("GIMEMA LAL1913", "GIMEMA LAL1308", "hyper-CVAD", "NILG 10/07", "GRAALL-2005"),
    "IND_PH": ("hyper-CVAD + imatinib", "GIMEMA LAL1308 + imatinib", "EWALL-PH-01"),
    "TKI_FIRST": ("dasatinib + steroids (GIMEMA LAL1205)", "imatinib + steroids (GIMEMA LAL0201-B)"),
    "TKI": ("ponatinib", "nilotinib", "dasatinib"),
    "BLI": ("blinatumomab",),
    "OTH": ("FLAG-Ida", "HD-cytarabine + mitoxantrone", "clofarabine + cyclophosphamide", "hyper-CVAD course B"),
    "CART": ("tisagenlecleucel",),
    "HSCT": ("allo-HSCT, sibling donor", "allo-HSCT, unrelated donor", "allo-HSCT, haploidentical donor"),
}

# Grade >= 3 non-haematologic AEs (patients per term and grade). Liver toxicities and
# pneumonia ('Lung infection' in CTCAE v5) are the most frequent; the only grade 4
# and 5 events are two grade-4 pneumonias and one fatal pneumonia.
SEVERE_NON_HAEM_AES = (
    ("Lung infection", 5, 1), ("Lung infection", 4, 2), ("Lung infection", 3, 4),
    ("Aspartate aminotransferase increased", 3, 6),
    ("Alanine aminotransferase increased", 3, 5),
    ("Blood bilirubin increased", 3, 3),  # plus the two VOD/SOS during IO
    ("GGT increased", 3, 3),
    ("Sepsis", 3, 3),
    ("Fatigue", 3, 2),
    ("Nausea", 3, 1),
)
AE_TERMS = {  # term: (system organ class, haematologic)
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
# Other AEs, drawn per patient: (term, probability, grades to draw from)
COMMON_AES = (
    ("Neutrophil count decreased", 0.55, (3, 4)),
    ("Platelet count decreased", 0.50, (3, 3, 4)),
    ("Febrile neutropenia", 0.25, (3,)),
    ("Anemia", 0.35, (2, 3)),
    ("Nausea", 0.30, (1, 2)),
    ("Fatigue", 0.30, (1, 2)),
    ("Aspartate aminotransferase increased", 0.20, (1, 2)),
    ("Alanine aminotransferase increased", 0.20, (1, 2)),
    ("Infusion related reaction", 0.10, (1, 2)),
)

# Missing answers (see the module docstring): how many of each.
MISSING_CD22 = 3  # CD22-positive by the pathology report, the % of blasts not in it (UNK)
MISSING_ECOG = 2  # performance status not recorded at IO start (ND)
MISSING_AE_RESOLUTION = 2  # an adverse event noted as resolved, on an unknown date (UNK)
MISSING_TBI = 1  # conditioning known, TBI not in the transplant summary (UNK)
MISSING_DATA_STREAM = 1  # their generator: numpy.random.default_rng((seed, MISSING_DATA_STREAM))

C1D1_PER_YEAR = {2014: 6, 2015: 8, 2016: 11, 2017: 14, 2018: 17, 2019: 17}
LABEL_DOSES = (0.8, 0.5, 0.5)  # mg/m² on days 1, 8, 15
DOSES_IN_REMISSION = (0.5, 0.5, 0.5)
MAX_CYCLES = 6
# fmt: on


# --------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------


def design_cohort(*, seed: int = 2025, n_patients: int = 73, n_centers: int = 24) -> list[PatientTimeline]:
    """Design the demo cohort's timelines; the same arguments give the same cohort.

    With 73 patients the cohort is the template itself and reproduces the published
    figures exactly; otherwise template patients are resampled and shifted in time.
    """
    if n_patients < 1 or n_centers < 1:
        raise ValueError("n_patients and n_centers must be positive")
    rng = np.random.default_rng(seed)
    template = _with_missing_data(_design_template(rng), np.random.default_rng((seed, MISSING_DATA_STREAM)))
    centers = _center_indices(n_patients, n_centers, rng)
    if n_patients == TEMPLATE_SIZE:
        return [replace(patient, center_index=center) for patient, center in zip(template, centers, strict=True)]
    return _resample(template, centers, rng)


# --------------------------------------------------------------------------------------
# Quantile placement
# --------------------------------------------------------------------------------------


def _curve_time(curve: tuple[tuple[float, float], ...], survival: float) -> float:
    """Time at which a target curve (log-linear between knots) falls to `survival`."""
    times = [t for t, _ in curve]
    minus_log_s = [-np.log(s) for _, s in curve]
    return float(np.interp(-np.log(survival), minus_log_s, times))


def _step_midpoint_times(curve, n_at_start: int, n_events: int) -> list[float]:
    """Event times of an uncensored KM curve placed at the middle of each step."""
    return [_curve_time(curve, (n_at_start - k + 0.5) / n_at_start) for k in range(1, n_events + 1)]


def _days(months: float) -> int:
    return round(months * DAYS_PER_MONTH)


def _os_events() -> list[tuple[int, bool]]:
    """The 73 overall-survival times in days from C1D1, with death flags, sorted."""
    first_year = [(_days(m), True) for m in _step_midpoint_times(OS_FIRST_YEAR_CURVE, 73, OS_FIRST_YEAR_DEATHS)]
    later = [(_days(m), died) for m, died in OS_LATER_EVENTS]
    return first_year + later


def _dor_event_days() -> list[int]:
    """Days from first CR/CRi to relapse or death of the early-relapsing responders."""
    months = _step_midpoint_times(DOR_CURVE, N_RESPONDERS, DOR_EARLY_EVENTS)
    for k in DOR_TIED_AT_MEDIAN:
        months[k - 1] = DOR_MEDIAN_MONTHS
    return [_days(m) for m in months]


def _placed(quantiles: tuple[tuple[float, float], ...], n: int) -> list[float]:
    """n values at the evenly spaced quantiles 0..1 of a piecewise-linear CDF."""
    ps, values = zip(*quantiles, strict=True)
    return [float(np.interp(i / (n - 1), ps, values)) for i in range(n)]


# --------------------------------------------------------------------------------------
# The 73-patient template
# --------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """A patient's course as day offsets from C1D1, before dates are assigned."""

    last_day: int  # death or last contact
    died: bool
    response: str  # best response on IO
    dor_days: int | None = None  # early relapsers: first CR -> relapse
    late_relapse_day: int | None = None  # long remissions that relapse later
    gets_hsct: bool = False
    vod_setting: str = ""
    death_cause: str = ""
    mrd: str = "not_done"
    cr_at_second_assessment: bool = False


def _design_outcomes(rng: np.random.Generator) -> list[_Outcome]:
    """Who responds, relapses, is transplanted and dies when (in days from C1D1)."""
    events = _os_events()
    deaths = [day for day, died in events if died]
    alive = [day for day, died in events if not died]

    # Non-responders die first; early relapsers take the next deaths in order of
    # relapse (death always well after relapse); the 13 long remissions are the 11
    # alive patients and the two latest deaths.
    non_responder_deaths, responder_deaths = deaths[:N_NON_RESPONDERS], deaths[N_NON_RESPONDERS:-2]
    late_deaths = deaths[-2:]

    outcomes = []
    non_responses = list(NON_RESPONSES[:2]) + _shuffled(rng, list(NON_RESPONSES[2:]))  # NE die first
    # the fatal pneumonia: the first refractory ('nr') patient to die after a month
    fatal = next(i for i, day in enumerate(non_responder_deaths) if day >= 35)
    swap = non_responses.index("nr", 2)
    non_responses[fatal], non_responses[swap] = non_responses[swap], non_responses[fatal]
    for index, (day, response) in enumerate(zip(non_responder_deaths, non_responses, strict=True)):
        cause = "infection" if index == fatal else "disease"
        outcomes.append(_Outcome(last_day=day, died=True, response=response, death_cause=cause))

    early = [
        _Outcome(last_day=day, died=True, response="cr", dor_days=dor, death_cause="disease")
        for day, dor in zip(responder_deaths, _dor_event_days(), strict=True)
    ]
    for outcome in early[-(N_HSCT - N_LATE_HSCT) :]:  # relapse late enough to be transplanted first
        outcome.gets_hsct = True
    late = [_Outcome(last_day=day, died=False, response="cr") for day in alive]
    late_relapse, late_other_death = (_Outcome(last_day=day, died=True, response="cr") for day in late_deaths)
    late_relapse.late_relapse_day, late_relapse.death_cause = _days(40.0), "disease"
    late_other_death.death_cause = "other"  # second malignancy, in continuous remission
    late += [late_relapse, late_other_death]
    for outcome in _shuffled(rng, late)[:N_LATE_HSCT]:
        outcome.gets_hsct = True

    responders = early + late
    for outcome, mrd in zip(responders, _shuffled(rng, list(MRD_AMONG_RESPONDERS)), strict=True):
        outcome.mrd = mrd
    for outcome in _shuffled(rng, responders)[:N_CRI]:
        outcome.response = "cri"
    for outcome in _shuffled(rng, responders)[:N_CR_AT_SECOND_ASSESSMENT]:
        outcome.cr_at_second_assessment = True

    transplanted = [o for o in responders if o.gets_hsct]
    for outcome in _shuffled(rng, transplanted)[:N_VOD_AFTER_HSCT]:
        outcome.vod_setting = "after_hsct"
    # VOD/SOS during IO: early relapsers without HSCT whose relapse is 3+ months away
    candidates = [o for o in early if not o.gets_hsct and o.dor_days >= 90 and not o.cr_at_second_assessment]
    for outcome in _shuffled(rng, candidates)[:N_VOD_DURING_IO]:
        outcome.vod_setting = "during_io"
    return outcomes + responders


def _c1d1_slots(rng: np.random.Generator) -> list[dt.date]:
    """73 C1D1 dates, evenly spread inside each year, more after the 2017 approval."""
    slots = []
    for year, count in C1D1_PER_YEAR.items():
        start = dt.date(year, 1, 1)
        length = (dt.date(year, 12, 31) - start).days
        for i in range(count):
            day = int((i + 0.5) / count * length + rng.integers(-5, 6))
            slots.append(start + dt.timedelta(days=min(max(day, 0), length)))
    return slots


def _assign_c1d1(last_days: list[int], rng: np.random.Generator) -> list[dt.date]:
    """Give every patient a C1D1 such that the last contact is on or before the cut-off.

    Patients with the longest course choose first among the slots that fit them; the
    sets of fitting slots are nested, so this greedy choice always succeeds.
    """
    free = _c1d1_slots(rng)
    assigned: list[dt.date | None] = [None] * len(last_days)
    for index in sorted(range(len(last_days)), key=lambda i: -last_days[i]):
        fitting = [s for s in free if s + dt.timedelta(days=last_days[index]) <= DEMO_CUTOFF]
        chosen = fitting[int(rng.integers(len(fitting)))]
        free.remove(chosen)
        assigned[index] = chosen
    return assigned


@dataclass
class _Baseline:
    status: str
    recipe: tuple[tuple[str, str], ...]
    ph_positive: bool


def _baselines(rng: np.random.Generator) -> list[_Baseline]:
    baselines = []
    for count, status, recipe in PRIOR_THERAPY_RECIPES:
        lines = tuple(tuple(item.split(":")) for item in recipe.split())
        ph_positive = any(code == "TKI" for code, _ in lines)
        baselines += [_Baseline(status, lines, ph_positive) for _ in range(count)]
    chemo_ph_negative = [b for b in baselines if not b.ph_positive and len(b.recipe) >= 2]
    for baseline in _shuffled(rng, chemo_ph_negative)[:N_PH_POSITIVE_WITH_CHEMO]:
        baseline.ph_positive = True
    return _shuffled(rng, baselines)


def _design_template(rng: np.random.Generator) -> list[PatientTimeline]:
    outcomes = _design_outcomes(rng)
    c1d1s = _assign_c1d1([o.last_day for o in outcomes], rng)
    baselines = _baselines(rng)
    ages = rng.permutation(_placed(AGE_QUANTILES, TEMPLATE_SIZE))
    sexes = rng.permutation(["M"] * 41 + ["F"] * 32)
    cd22 = rng.permutation([round(v) for v in _placed(((0, 30), (0.2, 70), (0.5, 90), (1, 100)), 73)])
    blasts = rng.permutation([round(v) for v in _placed(((0, 12), (0.5, 55), (1, 95)), 73)])
    ecog = rng.permutation([0] * 22 + [1] * 36 + [2] * 12 + [3] * 3)
    extramedullary = rng.permutation([True] * 12 + [False] * 61)
    cns = rng.permutation([True] * 4 + [False] * 69)

    patients = [
        _build_patient(
            outcome=outcomes[i],
            baseline=baselines[i],
            c1d1=c1d1s[i],
            age_days=round(ages[i] * DAYS_PER_YEAR),
            sex=str(sexes[i]),
            cd22_pct=int(cd22[i]),
            marrow_blasts_pct=int(blasts[i]),
            ecog=int(ecog[i]),
            extramedullary=bool(extramedullary[i]),
            cns=bool(cns[i]),
            rng=rng,
        )
        for i in range(TEMPLATE_SIZE)
    ]
    patients = _with_severe_adverse_events(patients, outcomes, rng)
    order = rng.permutation(TEMPLATE_SIZE)
    return [patients[i] for i in order]


# --------------------------------------------------------------------------------------
# One patient
# --------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _shuffled(rng: np.random.Generator, items: list) -> list:
    return [items[i] for i in rng.permutation(len(items))]


def _day_counter(c1d1: dt.date):
    """Dates from day offsets relative to C1D1."""

    def day(offset: int) -> dt.date:
        return c1d1 + dt.timedelta(days=int(offset))

    return day


def _build_patient(
    *,
    outcome: _Outcome,
    baseline: _Baseline,
    c1d1: dt.date,
    age_days: int,
    sex: str,
    cd22_pct: int,
    marrow_blasts_pct: int,
    ecog: int,
    extramedullary: bool,
    cns: bool,
    rng: np.random.Generator,
) -> PatientTimeline:
    day = _day_counter(c1d1)
    responder = outcome.response in REMISSION_CODES
    last_day = outcome.last_day

    # Cycle starts and the assessment after each cycle (the day before the next cycle
    # would start), for up to six cycles.
    starts, assessment_days, delays = [0], [], []
    for _ in range(MAX_CYCLES):
        delayed = rng.random() < 0.15 and not outcome.gets_hsct
        gap = int(rng.integers(35, 43)) if delayed else int(rng.integers(21, 29))
        assessment_days.append(starts[-1] + gap - 1)
        starts.append(starts[-1] + gap)
        delays.append(delayed)

    cr_day = relapse_day = hsct_day = vod_day = None
    if responder:
        cr_day = assessment_days[1] if outcome.cr_at_second_assessment else assessment_days[0]
        if outcome.dor_days is not None:
            relapse_day = cr_day + outcome.dor_days
        elif outcome.late_relapse_day is not None:
            relapse_day = outcome.late_relapse_day

    # How many cycles, and why treatment ended.
    if not responder:
        limit = {"ne": 1, "pd": 1, "nr": 2, "pr": 3}[outcome.response]
        n_cycles = max(1, min(limit, sum(1 for s in starts if s <= last_day - 10)))
        eot = (
            "death"
            if outcome.response == "ne" or outcome.death_cause == "infection"
            else ("other" if outcome.response == "pr" else "progression")
        )
    elif outcome.gets_hsct:
        # HSCT three to five weeks after the last dose (day 15), in remission
        n_cycles = 3 if rng.random() < 0.4 else 2
        hsct_day = starts[n_cycles - 1] + 15 + int(rng.integers(21, 36))
        if relapse_day is not None and hsct_day > relapse_day - 30:
            n_cycles = 2
            hsct_day = starts[1] + 15 + 21
        eot = "hsct"
    else:
        stop = min(relapse_day - 7 if relapse_day is not None else last_day, last_day - 14)
        n_cycles = max(1, min(MAX_CYCLES, sum(1 for s in starts[:MAX_CYCLES] if s < stop)))
        if outcome.cr_at_second_assessment:
            n_cycles = max(n_cycles, 2)
        stopped_by_relapse = relapse_day is not None and n_cycles < MAX_CYCLES
        eot = "progression" if stopped_by_relapse else "response"
    if outcome.vod_setting == "during_io":
        n_cycles = 2
        vod_day = starts[1] + int(rng.integers(10, 19))
        eot = "toxicity"
    elif outcome.vod_setting == "after_hsct":
        vod_day = hsct_day + int(rng.integers(7, 22))

    # Response assessments: after cycles 1, 2 and 4, while in remission, before HSCT
    # and alive.
    responses = []
    end_of_assessments = min(d for d in (relapse_day, hsct_day, last_day) if d is not None)
    for cycle_number in (1, 2, 4):
        if cycle_number > n_cycles:
            break
        a_day = assessment_days[cycle_number - 1]
        if not responder:
            a_day = min(a_day, last_day - 2)
        if a_day >= end_of_assessments or (responses and a_day <= (responses[-1].date - c1d1).days):
            break
        responses.append(_assessment(outcome, baseline, marrow_blasts_pct, a_day, cr_day, len(responses), rng, day))
        if not responder and outcome.response in ("ne", "pd"):
            break

    cycles = []
    for number in range(1, n_cycles + 1):
        start = starts[number - 1]
        in_remission = cr_day is not None and cr_day < start
        d1, d8, d15 = DOSES_IN_REMISSION if in_remission else LABEL_DOSES
        reasons = []
        delayed = number > 1 and delays[number - 2]
        if delayed:
            reasons.append(
                _pick(
                    rng, ("delayed for count recovery", "delayed for infection", "delayed for liver enzyme elevation")
                )
            )
        reduced = number > 1 and rng.random() < 0.08
        if reduced:
            d15 = 0.0
            reasons.append("day 15 dose omitted for thrombocytopenia")
        cycles.append(Cycle(number, day(start), d1, d8, d15, delayed, reduced, "; ".join(reasons)))

    hsct = None
    if hsct_day is not None:
        last_before = responses[-1]
        if last_before.response == "cr" and last_before.mrd in ("negative", "positive"):
            status = "cr_mrd_neg" if last_before.mrd == "negative" else "cr_mrd_pos"
        else:
            status = "other"
        conditioning = "mac" if rng.random() < 0.67 else "ric"
        hsct = Hsct(
            date=day(hsct_day),
            donor=_pick(
                rng, ("matched_unrelated",) * 4 + ("haploidentical",) * 3 + ("matched_sibling",) * 2 + ("cord", "other")
            ),
            conditioning=conditioning,
            tbi=conditioning == "mac" and rng.random() < 0.55,
            status_at_hsct=status,
            io_cycles_before=n_cycles,
        )

    vod = None
    if vod_day is not None:
        severity = _pick(rng, ("mild", "moderate", "moderate", "severe", "severe", "very_severe"))
        vod = Vod(
            date=day(vod_day),
            criteria=_pick(rng, ("ebmt_2016",) * 4 + ("modified_seattle", "baltimore")),
            severity=severity,
            setting=outcome.vod_setting,
            defibrotide=severity in ("severe", "very_severe") or rng.random() < 0.3,
            outcome="resolved",
        )

    ae_window_end = min(starts[n_cycles - 1] + 28, last_day, (hsct_day or last_day + 1) - 1)
    adverse_events = _common_adverse_events(rng, ae_window_end, last_day, outcome.died, day)
    if outcome.vod_setting == "during_io":
        adverse_events.append(
            _adverse_event("Blood bilirubin increased", 3, vod_day, vod_day + 14, last_day, outcome.died, day)
        )

    dob = c1d1 - dt.timedelta(days=age_days)
    prior_lines, diagnosis_date = _prior_lines(baseline, c1d1, rng)
    prior_hsct = next((line.start for line in prior_lines if line.category == "allo_hsct"), None)
    return PatientTimeline(
        center_index=0,
        sex=sex,
        date_of_birth=dob,
        c1d1=c1d1,
        diagnosis_date=diagnosis_date,
        ph_positive=baseline.ph_positive,
        cd22_pct=cd22_pct,
        disease_status=baseline.status,
        marrow_blasts_pct=marrow_blasts_pct,
        extramedullary=extramedullary,
        cns=cns,
        ecog=ecog,
        prior_allo_hsct_date=prior_hsct,
        prior_lines=prior_lines,
        cycles=tuple(cycles),
        end_of_treatment_reason=eot,
        responses=tuple(responses),
        hsct=hsct,
        adverse_events=tuple(adverse_events),
        vod=vod,
        relapse_date=day(relapse_day) if relapse_day is not None else None,
        death_date=day(last_day) if outcome.died else None,
        death_cause=outcome.death_cause if outcome.died else "",
        last_contact=day(last_day),
    )


def _assessment(outcome, baseline, baseline_blasts, a_day, cr_day, index, rng, day) -> Response:
    if cr_day is not None and a_day >= cr_day:
        response = "cri" if outcome.response == "cri" else "cr"
        blasts = int(rng.integers(0, 5))
        mrd = outcome.mrd
        method = "" if mrd == "not_done" else ("pcr" if baseline.ph_positive else "flow")  # BCR::ABL1 or flow
        return Response(day(a_day), blasts, response, mrd, method)
    if outcome.response in REMISSION_CODES:  # responds at the second assessment
        return Response(day(a_day), max(5, baseline_blasts // 3), "pr", "not_done", "")
    response = outcome.response if index == 0 else ("nr" if outcome.response == "nr" else "pr")
    blasts = {
        "pr": max(5, baseline_blasts // 3),
        "nr": max(25, baseline_blasts),
        "pd": min(99, max(40, baseline_blasts + 15)),
        "ne": 10,
    }[response]
    return Response(day(a_day), blasts, response, "not_done", "")


def _adverse_event(term, grade, onset_day, resolution_day, last_day, died, day) -> AdverseEvent:
    """One AE; a resolution after death is left open, after the last contact is moved to it."""
    soc, haematologic = AE_TERMS[term]
    resolution = day(resolution_day)
    if resolution_day > last_day:
        resolution = None if died else day(last_day)
    serious = grade >= 4 or (grade >= 3 and term in ("Febrile neutropenia", "Lung infection", "Sepsis"))
    if haematologic or "increased" in term:
        related = "related"
    elif term in ("Lung infection", "Sepsis"):
        related = "possibly"
    else:
        related = "possibly" if term != "Infusion related reaction" else "related"
    return AdverseEvent(term, soc, haematologic, grade, day(onset_day), resolution, serious, related)


def _common_adverse_events(rng, window_end: int, last_day: int, died: bool, day) -> list[AdverseEvent]:
    events = []
    for term, probability, grades in COMMON_AES:
        if rng.random() >= probability or window_end < 2:
            continue
        onset = int(rng.integers(1, window_end + 1))
        grade = int(_pick(rng, grades))
        events.append(_adverse_event(term, grade, onset, onset + int(rng.integers(3, 22)), last_day, died, day))
    return events


def _with_severe_adverse_events(patients, outcomes, rng) -> list[PatientTimeline]:
    """Add the fixed list of grade >= 3 non-haematologic AEs to distinct patients."""
    patients = list(patients)

    def window_end(i: int) -> int:
        p = patients[i]
        end = min((p.cycles[-1].start - p.c1d1).days + 28, (p.last_contact - p.c1d1).days)
        if p.hsct is not None:
            end = min(end, (p.hsct.date - p.c1d1).days - 1)
        return end

    fatal = next(i for i, o in enumerate(outcomes) if o.death_cause == "infection")
    vod_during_io = {i for i, o in enumerate(outcomes) if o.vod_setting == "during_io"}
    taken: dict[str, set[int]] = {"Blood bilirubin increased": set(vod_during_io)}
    for term, grade, count in SEVERE_NON_HAEM_AES:
        used = taken.setdefault(term, set())
        if grade == 5:
            chosen = [fatal]
        else:
            pool = [i for i in range(len(patients)) if i not in used and i != fatal and window_end(i) >= 5]
            chosen = [int(i) for i in rng.permutation(pool)[:count]]
        for i in chosen:
            used.add(i)
            p = patients[i]
            others = tuple(ae for ae in p.adverse_events if ae.term != term)
            end = window_end(i)
            died = p.death_date is not None
            last_day = (p.last_contact - p.c1d1).days
            day = _day_counter(p.c1d1)
            if grade == 5:
                event = _adverse_event(term, 5, max(1, last_day - 8), last_day, last_day, True, day)
            else:
                onset = int(rng.integers(1, end + 1))
                event = _adverse_event(term, grade, onset, onset + int(rng.integers(5, 22)), last_day, died, day)
            patients[i] = replace(p, adverse_events=(*others, event))
    return patients


def _with_missing_data(patients: list[PatientTimeline], rng: np.random.Generator) -> list[PatientTimeline]:
    """The template with a few answers missing, coded as the forms code them; every figure
    of the analysis stays as it was (none of these answers is in one)."""
    patients = list(patients)
    picks = [int(i) for i in rng.permutation(len(patients))]
    for i in picks[:MISSING_CD22]:
        patients[i] = replace(patients[i], cd22_pct=None,
                              baseline_codes=(*patients[i].baseline_codes, ("cd22_expression_pct", UNKNOWN)))
    for i in picks[MISSING_CD22:MISSING_CD22 + MISSING_ECOG]:
        patients[i] = replace(patients[i], ecog=None, baseline_codes=(*patients[i].baseline_codes, ("ecog", NOT_DONE)))
    resolved = [(i, j) for i, p in enumerate(patients) for j, ae in enumerate(p.adverse_events)
                if ae.resolution is not None and ae.grade < 5]
    for index in sorted(int(k) for k in rng.choice(len(resolved), MISSING_AE_RESOLUTION, replace=False)):
        i, j = resolved[index]
        events = list(patients[i].adverse_events)
        events[j] = replace(events[j], resolution=None, codes=(("resolution_date", UNKNOWN),))
        patients[i] = replace(patients[i], adverse_events=tuple(events))
    transplanted = [i for i, p in enumerate(patients) if p.hsct is not None]
    for i in sorted(int(k) for k in rng.choice(transplanted, MISSING_TBI, replace=False)):
        patients[i] = replace(patients[i], hsct=replace(patients[i].hsct, tbi=None, codes=(("tbi", UNKNOWN),)))
    # a not-evaluable assessment: no marrow was taken
    for i, p in enumerate(patients):
        if any(r.response == "ne" for r in p.responses):
            patients[i] = replace(p, responses=tuple(
                replace(r, marrow_blasts_pct=None, codes=(("marrow_blasts_pct", NOT_DONE),)) if r.response == "ne" else r
                for r in p.responses))
    return patients


def _prior_lines(baseline: _Baseline, c1d1: dt.date, rng) -> tuple[tuple[PriorLine, ...], dt.date]:
    """Prior lines laid out backwards from C1D1: durations and the gaps between them."""
    durations = {"IND": (150, 240), "BLI": (42, 84), "TKI": (60, 300), "OTH": (21, 42), "CART": (0, 0), "HSCT": (0, 0)}
    spans = []  # (code, response, start offset, end offset) counted backwards in days
    end = -int(rng.integers(14, 46))
    recipe = baseline.recipe
    for position in range(len(recipe) - 1, -1, -1):
        code, response = recipe[position]
        low, high = durations[code]
        start = end - int(rng.integers(low, high + 1))
        spans.append((code, response, start, end))
        if position > 0:
            _, previous_response = recipe[position - 1]
            if code == "HSCT":
                gap = int(rng.integers(20, 61))  # consolidation in remission
            elif previous_response == "cr":
                gap = int(rng.integers(90, 541))  # remission, then relapse
            else:
                gap = int(rng.integers(7, 22))  # refractory: next salvage soon
            end = start - gap
    spans.reverse()
    lines = []
    for number, (code, response, start, end) in enumerate(spans, start=1):
        if code == "IND" and baseline.ph_positive:
            regimen = _pick(rng, REGIMENS["IND_PH"])
        elif code == "TKI" and number == 1:
            regimen = _pick(rng, REGIMENS["TKI_FIRST"])
        else:
            regimen = _pick(rng, REGIMENS[code])
        lines.append(
            PriorLine(
                number,
                LINE_CATEGORY[code],
                regimen,
                c1d1 + dt.timedelta(days=start),
                c1d1 + dt.timedelta(days=end),
                response,
            )
        )
    diagnosis = lines[0].start - dt.timedelta(days=int(rng.integers(3, 11)))
    return tuple(lines), diagnosis


# --------------------------------------------------------------------------------------
# Other cohort sizes and centers
# --------------------------------------------------------------------------------------

MAX_SHIFT_DAYS = 14


def _resample(template: list[PatientTimeline], centers: list[int], rng: np.random.Generator) -> list[PatientTimeline]:
    """n patients drawn from the template, each shifted in time by a few days.

    Shifting a whole timeline keeps every interval, so every ordering rule holds; the
    shift is bounded so that C1D1 stays in the study window and nothing passes the
    cut-off. Shifted timelines are cached: a large cohort shares its records.
    """
    n_patients = len(centers)
    if n_patients <= TEMPLATE_SIZE:
        picks = rng.choice(TEMPLATE_SIZE, size=n_patients, replace=False)
    else:
        picks = rng.integers(0, TEMPLATE_SIZE, size=n_patients)
    lows, highs = [], []
    for p in template:
        lows.append(max(-MAX_SHIFT_DAYS, (STUDY_START - p.c1d1).days))
        highs.append(min(MAX_SHIFT_DAYS, (STUDY_END - p.c1d1).days, (DEMO_CUTOFF - p.last_contact).days))
    unit = rng.random(n_patients)
    birth_jitter = rng.integers(-60, 61, size=n_patients)
    cache: dict[tuple[int, int], PatientTimeline] = {}
    patients = []
    for index, u, jitter, center in zip(picks.tolist(), unit.tolist(), birth_jitter.tolist(), centers, strict=True):
        shift = lows[index] + int(u * (highs[index] - lows[index] + 1))
        key = (index, shift)
        if key not in cache:
            cache[key] = _shifted(template[index], dt.timedelta(days=shift))
        patient = cache[key]
        # an earlier birthday only makes the patient older, so age >= 18 still holds
        patients.append(
            replace(patient, center_index=center, date_of_birth=patient.date_of_birth - dt.timedelta(days=abs(jitter)))
        )
    return patients


def _shifted(p: PatientTimeline, delta: dt.timedelta) -> PatientTimeline:
    def move(d: dt.date | None) -> dt.date | None:
        return None if d is None else d + delta

    return replace(
        p,
        date_of_birth=p.date_of_birth + delta,
        c1d1=p.c1d1 + delta,
        diagnosis_date=p.diagnosis_date + delta,
        prior_allo_hsct_date=move(p.prior_allo_hsct_date),
        prior_lines=tuple(replace(x, start=x.start + delta, end=x.end + delta) for x in p.prior_lines),
        cycles=tuple(replace(x, start=x.start + delta) for x in p.cycles),
        responses=tuple(replace(x, date=x.date + delta) for x in p.responses),
        hsct=None if p.hsct is None else replace(p.hsct, date=p.hsct.date + delta),
        adverse_events=tuple(
            replace(x, onset=x.onset + delta, resolution=move(x.resolution)) for x in p.adverse_events
        ),
        vod=None if p.vod is None else replace(p.vod, date=p.vod.date + delta),
        relapse_date=move(p.relapse_date),
        death_date=move(p.death_date),
        last_contact=p.last_contact + delta,
    )


def _center_indices(n_patients: int, n_centers: int, rng: np.random.Generator) -> list[int]:
    """Center of each patient: a few large centers and many small ones, none empty.

    Sizes follow weights 1/rank^0.8; when there are at least as many patients as
    centers every center gets one patient before the rest are shared out.
    """
    if n_patients < n_centers:
        return [int(c) for c in rng.choice(n_centers, size=n_patients, replace=False)]
    weights = 1 / np.arange(1, n_centers + 1) ** 0.8
    extra = (n_patients - n_centers) * weights / weights.sum()
    sizes = 1 + np.floor(extra).astype(int)
    remainder = n_patients - sizes.sum()
    sizes[np.argsort(-(extra - np.floor(extra)), kind="stable")[:remainder]] += 1
    centers = np.repeat(rng.permutation(n_centers), sizes)
    return [int(c) for c in rng.permutation(centers)]
