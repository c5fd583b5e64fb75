"""The analysis dataset: clinical rows, read through the user's selectors, as pandas tables.

Ten statements whatever the number of patients, each built on a selector: the database
reduces every form to one row per patient (counts, first and last days, the best response
before HSCT), the VOD/SOS events, and each patient's worst grade per adverse event term,
with days from C1D1 computed in SQL; pandas only merges them and applies the rules of the
population. On PostgreSQL the statements are read at once from one snapshot
(``analytics.snapshot``). Everything dated after the data cut-off is ignored and
follow-up is censored at it. Times are days from IO cycle 1 day 1 (C1D1), the index date
of every time-to-event endpoint.

A question answered with a missing-data code (unknown, not done, not applicable) holds
no value: its column is NULL, read as missing data (NaN, or NA in a yes/no column), never
as "no" or zero. The codes themselves are read too, from the same selectors, one row per
coded question of an analysed patient (``missing_codes``): the report counts them per
variable, and they enter the dataset's hash.

The tables hold no direct identifier: the date of birth is read only to derive the age
at C1D1 and is dropped. Patients are numbered 1..N in study-ID order (``row``); the
pseudonymous study ID is kept only to list patients with missing data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.db.models import Case, Count, Max, Min, Value, When
from django.utils import translation
from django.utils.translation import gettext as _

from analytics.exports.sql import DaysBetween
from analytics.snapshot import Statement, rows_in_one_snapshot
from outcomes.models import (
    REMISSIONS,
    RESPONSE_RANK,
    AdverseEvent,
    FollowUp,
    ResponseAssessment,
    VodSosEvent,
)
from patients.models import ADULT_AGE_YEARS, DAYS_PER_YEAR, STUDY_WINDOW, BaselineDisease, EnrollmentStatus
from patients.registry import casebook
from patients.selectors import form_rows_for_user, patient_list_for_user
from sites.selectors import center_list_for_user
from treatments.models import AlloHsct, IOCycle, PriorTherapyLine

REMISSION_CODES = tuple(sorted(str(code) for code in REMISSIONS))
TERM_SEPARATOR = "|"  # between a MedDRA code and the specified term of an "Other, specify" event
NOT_ASSESSED = "not assessed"  # the best response of a patient with no assessment before HSCT


@dataclass(frozen=True)
class AnalysisDataset:
    """The frozen input of one report."""

    cutoff: dt.date
    center_codes: tuple[str, ...]  # the centers selected (all the user may see when none was asked)
    patients: pd.DataFrame  # the analysed population, one row per patient
    adverse_events: pd.DataFrame  # worst grade per patient and term
    vod_events: pd.DataFrame
    flow: dict  # CONSORT-style counts: screened, excluded by reason, analysed
    missing_data: list[dict] = field(default_factory=list)
    # one row per coded question of an analysed patient's row (see MISSING_CODE_COLUMNS)
    missing_codes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(MISSING_CODE_COLUMNS)))

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    def sha256(self) -> str:
        """Hash of a canonical serialisation: the same data gives the same hash."""
        digest = hashlib.sha256()
        digest.update(f"cutoff={self.cutoff.isoformat()};centers={','.join(self.center_codes)}\n".encode())
        for name in ("patients", "adverse_events", "vod_events", "missing_codes"):
            digest.update(f"[{name}]\n".encode())
            digest.update(canonical_bytes(getattr(self, name)))
        digest.update(repr(sorted_items(self.flow)).encode())
        digest.update(repr([sorted_items(entry) for entry in self.missing_data]).encode())
        return digest.hexdigest()


def canonical_bytes(table: pd.DataFrame) -> bytes:
    """A canonical serialisation of a table: columns in name order, each as its name, then
    numbers as little-endian float64 (one NaN), or text as the distinct values in order
    of first appearance (joined by a unit separator) and each row's index into them
    (-1 when missing). Rows keep the table's order, which ``build_dataset`` makes
    independent of the database's (study ID, then row and key)."""
    parts = []
    for name in sorted(table.columns):
        column = table[name]
        parts.append(f"\x1e{name}\x1d".encode())
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            values = column.to_numpy(dtype="<f8", na_value=np.nan)
            parts.append(np.where(np.isnan(values), np.nan, values).astype("<f8").tobytes())
        else:
            codes, distinct = pd.factorize(column.astype(object).to_numpy())
            parts.append("\x1f".join(str(value) for value in distinct).encode())
            parts.append(b"\x1d" + codes.astype("<i8").tobytes())
    return b"".join(parts)


def sorted_items(mapping) -> list:
    if isinstance(mapping, dict):
        return [(key, sorted_items(value)) for key, value in sorted(mapping.items())]
    if isinstance(mapping, list | tuple):
        return [sorted_items(value) for value in mapping]
    return mapping


def centers_resolve(*, user, center_codes: Sequence[str] | None) -> list[str]:
    """The codes of the centers to analyse, all the user may see when none is given.

    Raises ValidationError naming any code the user may not see (or that does not exist).
    """
    visible = list(center_list_for_user(user=user).values_list("code", flat=True))
    if not center_codes:
        return sorted(visible)
    asked = sorted({code.strip().upper() for code in center_codes if code.strip()})
    unknown = [code for code in asked if code not in set(visible)]
    if unknown:
        raise ValidationError({"center_codes": _("Unknown center code(s): %(codes)s.") % {"codes": ", ".join(unknown)}})
    return asked


def analysis_dataset_load(*, user, cutoff: dt.date, center_codes: Sequence[str] | None = None) -> AnalysisDataset:
    """Read the analysis dataset of the given centers (default: all the user may see).

    Access control stays in the selectors: a center the user may not see raises
    ValidationError exactly like a center that does not exist.
    """
    codes = centers_resolve(user=user, center_codes=center_codes)
    frames = _query_frames(user=user, codes=codes, cutoff=cutoff)
    return build_dataset(frames, cutoff=cutoff, center_codes=tuple(codes))


# --- Queries: ten statements, whatever the number of patients -----------------------

PATIENT_COLUMNS = (
    "pk", "study_id", "center__code", "sex", "date_of_birth", "has_rr_b_all", "is_cd22_positive",
    "received_io", "c1d1_date", "enrollment_status",
)
BASELINE_COLUMNS = ("ph_status", "disease_status", "ecog", "marrow_blasts_pct", "extramedullary_disease",
                    "cns_disease", "prior_allo_hsct")
# The columns of each statement; every one but the patients' starts with patient_id.
COLUMNS = {
    "patients": PATIENT_COLUMNS,
    "baseline": ("patient_id", *BASELINE_COLUMNS),
    "follow_up": ("patient_id", "death_cause", "relapse_day", "death_day", "last_contact_day"),
    "prior_lines": ("patient_id", "prior_lines", "prior_blinatumomab", "prior_induction_chemo"),
    "io_cycles": ("patient_id", "n_cycles", "last_cycle_day"),
    "hsct": ("patient_id", "hsct_day"),
    "responses": ("patient_id", "n_responses", "best_rank", "first_remission_day", "mrd_negative"),
    "adverse_events": ("patient_id", "code", "other_specify", "term", "soc", "haematologic", "worst_grade",
                       "grade5_day"),
    "vod_events": ("patient_id", "day", "setting", "severity", "outcome", "defibrotide"),
    "missing_codes": ("patient_id", "part", "codes"),
}
# The date that puts a row of a repeating form before or after the data cut-off.
ROW_DATES = {IOCycle: "start_date", ResponseAssessment: "assessment_date", AdverseEvent: "onset_date",
             VodSosEvent: "diagnosis_date"}
# The analysis table of missing-data codes: the patient's row number, the form and the
# question (its export name and its label), whether the form repeats (the codes then count
# rows, else patients), and the code.
MISSING_CODE_COLUMNS = ("row", "form", "variable", "label", "repeating", "code")

# Responses reduced per patient: how many by the cut-off, and among those before the
# allo-HSCT (the rule of outcomes.selectors.best_response_from) the best rank, the first
# CR/CRi and MRD negativity. r and h are the SQL of the selectors' querysets.
_RESPONSES_SQL = """
WITH r (patient_id, response, mrd_status, day) AS ({r}),
     h (patient_id, day) AS ({h})
SELECT r.patient_id, COUNT(*),
       MIN(CASE WHEN h.day IS NULL OR r.day < h.day THEN {rank} END),
       MIN(CASE WHEN (h.day IS NULL OR r.day < h.day) AND r.response IN ({remissions}) THEN r.day END),
       MAX(CASE WHEN (h.day IS NULL OR r.day < h.day) AND r.response IN ({remissions})
                 AND r.mrd_status = %s THEN 1 ELSE 0 END)
FROM r LEFT JOIN h ON h.patient_id = r.patient_id
GROUP BY r.patient_id
"""


def _statements(*, user, codes: list[str], cutoff: dt.date) -> dict[str, Statement]:
    """The SQL of each statement, every one built on a selector (access control stays
    there), in the centers of ``codes``: the database reduces each form to what the
    analysis needs per patient, with days from C1D1."""
    center_ids = list(center_list_for_user(user=user).filter(code__in=codes).values_list("pk", flat=True))

    def rows(model):  # the selector's live rows of one form, in the chosen centers, unordered
        return form_rows_for_user(user=user, model=model).filter(patient__center_id__in=center_ids).order_by()

    def days(column: str) -> DaysBetween:
        return DaysBetween(column, "patient__c1d1_date")

    def flag(**condition) -> Max:
        return Max(Case(When(**condition, then=1), default=0))

    def analysed(model):  # the rows the analysis reads: up to the cut-off for a dated repeating form
        return rows(model).filter(**{f"{ROW_DATES[model]}__lte": cutoff}) if model in ROW_DATES else rows(model)

    hsct = rows(AlloHsct).filter(performed=True, hsct_date__isnull=False, hsct_date__lte=cutoff) \
        .values_list("patient_id", days("hsct_date"))
    querysets = {
        "patients": patient_list_for_user(user=user).filter(center_id__in=center_ids).order_by()
        .values_list(*PATIENT_COLUMNS),
        "baseline": rows(BaselineDisease).values_list("patient_id", *BASELINE_COLUMNS),
        "follow_up": rows(FollowUp).values_list("patient_id", "death_cause", days("relapse_date"),
                                                days("death_date"), days("last_contact_date")),
        "prior_lines": rows(PriorTherapyLine).values("patient_id").annotate(
            n=Count("pk"), blinatumomab=flag(category="blinatumomab"),
            induction_chemo=flag(category="induction_chemo")).values_list("patient_id", "n", "blinatumomab",
                                                                         "induction_chemo"),
        "io_cycles": analysed(IOCycle).values("patient_id").annotate(
            n=Count("pk"), last_day=Max(days("start_date"))).values_list("patient_id", "n", "last_day"),
        "hsct": hsct,
        # the term's name, class and haematologic flag come with it: one row per patient and term
        "adverse_events": analysed(AdverseEvent)
        .values("patient_id", "ctcae_term", "other_specify", "ctcae_term__term", "ctcae_term__soc",
                "ctcae_term__haematologic").annotate(
            worst_grade=Max("grade"), grade5_day=Min(Case(When(grade=5, then=days("onset_date"))))
        ).values_list("patient_id", "ctcae_term", "other_specify", "ctcae_term__term", "ctcae_term__soc",
                      "ctcae_term__haematologic", "worst_grade", "grade5_day"),
        "vod_events": analysed(VodSosEvent).values_list(
            "patient_id", days("diagnosis_date"), "setting", "severity", "outcome", "defibrotide"),
        "missing_codes": _coded_rows([analysed(part.model).exclude(missing_codes={}).annotate(part=Value(part.slug))
                                      .values_list("patient_id", "part", "missing_codes")
                                      for part in casebook.parts() if part.codable]),
    }
    statements = {name: queryset.query.sql_with_params() for name, queryset in querysets.items()}

    responses = analysed(ResponseAssessment).values_list(
        "patient_id", "response", "mrd_status", days("assessment_date"))
    (r_sql, r_params), (h_sql, h_params) = responses.query.sql_with_params(), hsct.query.sql_with_params()
    ranks = list(RESPONSE_RANK)
    sql = _RESPONSES_SQL.format(
        r=r_sql, h=h_sql, rank="CASE r.response " + " ".join("WHEN %s THEN %s" for _ in ranks) + " END",
        remissions=", ".join("%s" for _ in REMISSION_CODES))
    params = [*r_params, *h_params, *(value for rank, category in enumerate(ranks) for value in (str(category), rank)),
              *REMISSION_CODES, *REMISSION_CODES, "negative"]
    statements["responses"] = (sql, params)
    return statements


def _coded_rows(querysets: list):
    """The rows that hold a missing-data code, of every form that takes one, in one statement."""
    first, *others = querysets
    return first.union(*others, all=True) if others else first


def _query_frames(*, user, codes: list[str], cutoff: dt.date) -> dict[str, pd.DataFrame]:
    """One frame per statement of ``_statements``, all read from one snapshot, at once
    on PostgreSQL (``rows_in_one_snapshot``): 100 000 rows per form rather than 1.4
    million rows in all at 100 000 patients."""
    statements = _statements(user=user, codes=codes, cutoff=cutoff)
    order = ("responses", "adverse_events", "patients", "follow_up", "baseline", "prior_lines", "io_cycles",
             "hsct", "vod_events", "missing_codes")  # the longest first, so that the short ones fill in around them
    return rows_in_one_snapshot({name: statements[name] for name in order},
                                then=lambda name, rows: pd.DataFrame(rows, columns=list(COLUMNS[name])))


# --- From the frames to the analysis tables (no database) ---------------------------


def build_dataset(frames: dict[str, pd.DataFrame], *, cutoff: dt.date, center_codes: tuple[str, ...]) -> AnalysisDataset:
    """The analysis tables from the frames of ``_query_frames``."""
    cutoff_ts = pd.Timestamp(cutoff)
    raw = frames["patients"].copy()
    for name in ("baseline", "follow_up", "prior_lines", "io_cycles", "hsct", "responses"):
        per_patient = frames[name].drop_duplicates("patient_id").set_index("patient_id")
        for column in per_patient.columns:
            raw[column] = per_patient[column].reindex(raw["pk"]).to_numpy()
    raw["has_baseline"] = raw["pk"].isin(frames["baseline"]["patient_id"])
    raw["has_follow_up"] = raw["pk"].isin(frames["follow_up"]["patient_id"])
    for column in ("prior_lines", "prior_blinatumomab", "prior_induction_chemo", "n_cycles", "n_responses",
                   "mrd_negative"):
        raw[column] = pd.to_numeric(raw[column]).fillna(0).astype(int)
    for column in ("date_of_birth", "c1d1_date"):
        raw[column] = pd.to_datetime(raw[column])
    raw = raw.sort_values("study_id", kind="mergesort").reset_index(drop=True)
    raw["age_years"] = (raw["c1d1_date"] - raw["date_of_birth"]).dt.days / DAYS_PER_YEAR
    raw = raw.drop(columns=["date_of_birth"])  # a direct identifier: used for the age only

    # Population and CONSORT flow: each patient excluded for the first reason that applies.
    eligible = (
        (raw["age_years"] >= ADULT_AGE_YEARS)
        & raw["has_rr_b_all"].astype(bool)
        & raw["is_cd22_positive"].astype(bool)
        & raw["received_io"].astype(bool)
        & raw["c1d1_date"].between(pd.Timestamp(STUDY_WINDOW[0]), pd.Timestamp(STUDY_WINDOW[1]))
    )
    reasons = pd.Series("", index=raw.index, dtype=object)
    reasons[raw["enrollment_status"] == EnrollmentStatus.EXCLUDED] = "excluded at enrollment"
    reasons[(reasons == "") & (raw["enrollment_status"] == EnrollmentStatus.WITHDRAWN)] = "withdrawn"
    reasons[(reasons == "") & ~eligible] = "not eligible"
    reasons[(reasons == "") & (raw["c1d1_date"] > cutoff_ts)] = "C1D1 after the data cut-off"

    missing_data = []
    has_baseline = raw["has_baseline"].astype(bool)
    has_follow_up = raw["has_follow_up"].astype(bool)
    for position in np.flatnonzero((reasons == "").to_numpy() & ~(has_baseline & has_follow_up).to_numpy()):
        missing = []
        if not has_baseline.iloc[position]:
            missing.append("baseline disease form")
        if not has_follow_up.iloc[position]:
            missing.append("follow-up & outcome form")
        missing_data.append({"study_id": raw["study_id"].iloc[position], "center": raw["center__code"].iloc[position],
                             "missing": missing, "action": "excluded from the analysis"})
        reasons.iloc[position] = "missing required data"
    for position in np.flatnonzero((reasons == "").to_numpy() & (raw["n_responses"] == 0).to_numpy()):
        missing_data.append({"study_id": raw["study_id"].iloc[position], "center": raw["center__code"].iloc[position],
                             "missing": ["response assessment"], "action": "analysed as a non-responder"})
    missing_data.sort(key=lambda entry: entry["study_id"])

    excluded_counts = reasons[reasons != ""].value_counts()
    flow = {
        "screened": len(raw),
        "excluded": [{"reason": reason, "n": int(excluded_counts.get(reason, 0))}
                     for reason in ("excluded at enrollment", "withdrawn", "not eligible",
                                    "C1D1 after the data cut-off", "missing required data")],
        "analysed": int((reasons == "").sum()),
    }

    patients = raw[reasons == ""].reset_index(drop=True)
    patients["row"] = np.arange(1, len(patients) + 1)
    cutoff_day = (cutoff_ts - patients["c1d1_date"]).dt.days.astype(float)

    def day_column(name: str) -> pd.Series:
        return pd.to_numeric(patients[name], errors="coerce").astype(float)

    for column in ("marrow_blasts_pct", "ecog", "last_cycle_day", "hsct_day", "first_remission_day"):
        patients[column] = day_column(column)
    # Yes/no questions that take a code: NA (unknown, not done) stays NA, never "no".
    for column in ("extramedullary_disease", "cns_disease", "prior_allo_hsct"):
        patients[column] = patients[column].astype("boolean")
    for column in ("prior_blinatumomab", "prior_induction_chemo", "mrd_negative"):  # counts and flags, never NULL
        patients[column] = patients[column].astype(bool)
    for column in ("ph_status", "disease_status"):  # a coded choice is empty: missing
        patients[column] = patients[column].replace("", None)
    for column in ("prior_lines", "n_cycles"):
        patients[column] = patients[column].astype(int)

    # Follow-up & outcome, censored at the cut-off
    death = day_column("death_day").where(lambda day: day <= cutoff_day)
    patients["death_day"] = death
    patients["death_cause"] = patients["death_cause"].where(death.notna(), "")
    patients["relapse_day"] = day_column("relapse_day").where(lambda day: day <= cutoff_day)
    patients["last_contact_day"] = np.fmin(day_column("last_contact_day"), cutoff_day)
    patients["os_days"] = patients["death_day"].fillna(patients["last_contact_day"])
    patients["os_event"] = patients["death_day"].notna().astype(int)

    # Best response before HSCT, by its rank (computed in the database)
    ranks = pd.to_numeric(patients["best_rank"], errors="coerce")
    codes = np.array([str(category) for category in RESPONSE_RANK] + [NOT_ASSESSED], dtype=object)
    patients["best_response"] = codes[ranks.fillna(len(RESPONSE_RANK)).astype(int).to_numpy()]
    patients["responder"] = patients["best_response"].isin(REMISSION_CODES)
    patients["mrd_negative"] = patients["mrd_negative"] & patients["responder"]

    # VOD/SOS: the first event of each patient
    rows = pd.Series(patients["row"].to_numpy(), index=patients["pk"].to_numpy())
    vods = frames["vod_events"]
    vods = vods[vods["patient_id"].isin(rows.index)].assign(day=lambda frame: frame["day"].astype(float))
    vods = vods.sort_values(["patient_id", "day"], kind="mergesort")
    first_vod = vods.drop_duplicates("patient_id").set_index("patient_id")
    patients["vod_day"] = first_vod["day"].reindex(patients["pk"]).to_numpy()
    patients["vod_setting"] = first_vod["setting"].reindex(patients["pk"]).fillna("").to_numpy()

    # Adverse events: worst grade per patient and term
    events = frames["adverse_events"]
    events = events[events["patient_id"].isin(rows.index)]
    # By patient row, then term: an order that does not depend on the database's.
    # A term is its MedDRA code, and for an "Other, specify" term the specified term too.
    specified = events["other_specify"].fillna("").astype(str)
    event_terms = (events["code"].astype(str) + TERM_SEPARATOR + specified).str.removesuffix(TERM_SEPARATOR)
    term_codes, distinct_terms = pd.factorize(event_terms.to_numpy(dtype=object), sort=True)
    event_rows = events["patient_id"].map(rows).to_numpy()
    order = np.lexsort((term_codes, event_rows))
    term_codes = term_codes[order]
    # the term's name, class and flag were read with the events
    names = events["term"].to_numpy(dtype=object)[order]
    specified = specified.to_numpy(dtype=object)[order]
    events = pd.DataFrame({
        "row": event_rows[order],
        "term": distinct_terms[term_codes],
        "label": np.array([f"{name}: {text}" if text else name for name, text in zip(names, specified, strict=True)],
                          dtype=object),
        "organ_class": events["soc"].to_numpy(dtype=object)[order],
        "haematologic": events["haematologic"].to_numpy(dtype=bool)[order],
        "worst_grade": events["worst_grade"].to_numpy()[order],
        "grade5_day": pd.to_numeric(events["grade5_day"], errors="coerce").to_numpy(dtype=float)[order],
    })
    patients["c1d1_date"] = patients["c1d1_date"].dt.date
    patients = patients.drop(columns=["pk", "has_rr_b_all", "is_cd22_positive", "received_io", "enrollment_status",
                                      "has_baseline", "has_follow_up", "n_responses", "best_rank"])
    patients = patients.rename(columns={"center__code": "center"})

    # VOD/SOS events by patient row, in an order that does not depend on the database's
    vod_columns = ["row", "day", "setting", "severity", "outcome", "defibrotide"]
    vods = vods.assign(row=vods["patient_id"].map(rows))[vod_columns]
    vods["defibrotide"] = vods["defibrotide"].astype("boolean")  # a coded answer is NA
    vods = vods.sort_values(vod_columns, kind="mergesort").reset_index(drop=True)
    return AnalysisDataset(
        cutoff=cutoff,
        center_codes=center_codes,
        patients=patients,
        adverse_events=events[["row", "term", "label", "organ_class", "haematologic", "worst_grade", "grade5_day"]],
        vod_events=vods,
        flow=flow,
        missing_data=missing_data,
        missing_codes=missing_code_table(frames["missing_codes"], rows),
    )


def missing_code_table(coded: pd.DataFrame, rows: pd.Series) -> pd.DataFrame:
    """One row per coded question of an analysed patient (``rows``: patient key → row
    number), the table ``MISSING_CODE_COLUMNS`` describes, in casebook order of the
    questions, then by patient row: an order that does not depend on the database's."""
    parts = list(casebook.parts())
    position = {part.slug: index for index, part in enumerate(parts)}
    records = []
    with translation.override("en"):  # the labels are a record, in one language
        for patient_id, slug, codes in coded[coded["patient_id"].isin(rows.index)].itertuples(index=False):
            part = parts[position[slug]]
            questions = [f.name for f in part.model._meta.concrete_fields]
            for name, code in (json.loads(codes) if isinstance(codes, str) else codes).items():
                if not part.accepts_code(name):  # the write path refuses it: not a coded answer
                    continue
                label = str(part.model._meta.get_field(name).verbose_name)
                records.append(((position[slug], questions.index(name), int(rows[patient_id]), code),
                                (int(rows[patient_id]), str(part.title), name, label, part.repeating, code)))
    records.sort(key=lambda record: record[0])
    return pd.DataFrame([record for _key, record in records], columns=list(MISSING_CODE_COLUMNS))
