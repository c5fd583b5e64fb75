"""CTCAE v5.0, the terminology of the adverse-event form: its 837 terms with their MedDRA
code, system organ class (SOC) and grade descriptions, shipped in `data/ctcae_v5.csv`
(NCI, public domain) and loaded into `outcomes.models.CtcaeTerm` by a data migration.

A term is haematologic when its SOC is 'Blood and lymphatic system disorders' or it is a
blood-count investigation; other investigations (liver function, lipase) are not.
"""

from __future__ import annotations

import csv
from pathlib import Path

TERMS_CSV = Path(__file__).resolve().parent / "data" / "ctcae_v5.csv"
GRADES = (1, 2, 3, 4, 5)
NOT_APPLICABLE_GRADE = "-"  # how CTCAE marks a grade that does not exist for a term
OTHER_SPECIFY_SUFFIX = " - Other, specify"

BLOOD_SOC = "Blood and lymphatic system disorders"
BLOOD_COUNT_INVESTIGATIONS = frozenset({
    "CD4 lymphocytes decreased",
    "Hemoglobin increased",
    "Lymphocyte count decreased",
    "Lymphocyte count increased",
    "Neutrophil count decreased",
    "Platelet count decreased",
    "White blood cell decreased",
})

# The longest specified term of an "Other, specify" event. It names an event ("Fungal
# pneumonia"), not a narrative.
SPECIFIED_TERM_MAX_LENGTH = 60


def is_haematologic(soc: str, term: str) -> bool:
    return soc == BLOOD_SOC or (soc == "Investigations" and term in BLOOD_COUNT_INVESTIGATIONS)


def is_other_specify(term: str) -> bool:
    return term.endswith(OTHER_SPECIFY_SUFFIX)


def read_terms() -> list[dict]:
    """The rows of the shipped term list, as the model's fields."""
    with TERMS_CSV.open(encoding="utf-8", newline="") as handle:
        return [
            {
                "meddra_code": row["meddra_code"],
                "soc": row["soc"],
                "term": row["term"],
                **{f"grade_{grade}": row[f"grade_{grade}"] for grade in GRADES},
                "definition": "" if row["definition"] == NOT_APPLICABLE_GRADE else row["definition"],
                "haematologic": is_haematologic(row["soc"], row["term"]),
                "other_specify": is_other_specify(row["term"]),
            }
            for row in csv.DictReader(handle)
        ]


# The 36 terms of the form's first, fixed list, as CTCAE v5.0 rows: code → (MedDRA code,
# specified term for an "Other, specify" row). v5.0 has no "Graft versus host disease" and
# no "Hemorrhage - Other": they become the "Other, specify" row of their SOC.
LEGACY_TERMS = {
    "anemia": ("10002272", ""),
    "febrile_neutropenia": ("10016288", ""),
    "neutrophil_count_decreased": ("10029366", ""),
    "platelet_count_decreased": ("10035528", ""),
    "white_blood_cell_decreased": ("10049182", ""),
    "lymphocyte_count_decreased": ("10025256", ""),
    "ast_increased": ("10003481", ""),
    "alt_increased": ("10001551", ""),
    "bilirubin_increased": ("10005364", ""),
    "ggt_increased": ("10056910", ""),
    "alkaline_phosphatase_increased": ("10001675", ""),
    "lipase_increased": ("10024574", ""),
    "hepatic_failure": ("10019663", ""),
    "portal_hypertension": ("10036200", ""),
    "lung_infection": ("10061229", ""),
    "sepsis": ("10040047", ""),
    "bacteremia": ("10003999", ""),
    "cmv_infection": ("10058666", ""),
    "fungal_infection": ("10021881", "Fungal infection"),
    "nausea": ("10028813", ""),
    "vomiting": ("10047700", ""),
    "diarrhea": ("10012727", ""),
    "abdominal_pain": ("10000081", ""),
    "mucositis_oral": ("10028130", ""),
    "fatigue": ("10016256", ""),
    "fever": ("10016558", ""),
    "infusion_related_reaction": ("10051792", ""),
    "headache": ("10019211", ""),
    "hypokalemia": ("10021018", ""),
    "tumor_lysis_syndrome": ("10045152", ""),
    "acute_kidney_injury": ("10069339", ""),
    "hemorrhage_other": ("10047065", "Hemorrhage"),
    "rash": ("10037868", ""),
    "gvhd": ("10021428", "Graft versus host disease"),
    "dyspnea": ("10013963", ""),
    "heart_failure": ("10019279", ""),
}
