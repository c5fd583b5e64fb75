"""The CTCAE v5.0 terms the adverse-event form offers, with their system organ class.

A term is haematologic when its class is 'Blood and lymphatic system disorders' or it
is a blood-count investigation; liver-function investigations are not haematologic.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrganClass(models.TextChoices):
    BLOOD = "blood", _("Blood and lymphatic system disorders")
    CARDIAC = "cardiac", _("Cardiac disorders")
    GASTROINTESTINAL = "gastrointestinal", _("Gastrointestinal disorders")
    GENERAL = "general", _("General disorders and administration site conditions")
    HEPATOBILIARY = "hepatobiliary", _("Hepatobiliary disorders")
    IMMUNE = "immune", _("Immune system disorders")
    INFECTIONS = "infections", _("Infections and infestations")
    INJURY = "injury", _("Injury, poisoning and procedural complications")
    INVESTIGATIONS = "investigations", _("Investigations")
    METABOLISM = "metabolism", _("Metabolism and nutrition disorders")
    NERVOUS = "nervous", _("Nervous system disorders")
    RENAL = "renal", _("Renal and urinary disorders")
    RESPIRATORY = "respiratory", _("Respiratory, thoracic and mediastinal disorders")
    SKIN = "skin", _("Skin and subcutaneous tissue disorders")
    VASCULAR = "vascular", _("Vascular disorders")


@dataclass(frozen=True)
class Term:
    code: str
    label: str
    organ_class: OrganClass
    haematologic: bool = False


TERMS: tuple[Term, ...] = (
    Term("anemia", "Anemia", OrganClass.BLOOD, True),
    Term("febrile_neutropenia", "Febrile neutropenia", OrganClass.BLOOD, True),
    Term("neutrophil_count_decreased", "Neutrophil count decreased", OrganClass.INVESTIGATIONS, True),
    Term("platelet_count_decreased", "Platelet count decreased", OrganClass.INVESTIGATIONS, True),
    Term("white_blood_cell_decreased", "White blood cell decreased", OrganClass.INVESTIGATIONS, True),
    Term("lymphocyte_count_decreased", "Lymphocyte count decreased", OrganClass.INVESTIGATIONS, True),
    Term("ast_increased", "Aspartate aminotransferase increased", OrganClass.INVESTIGATIONS),
    Term("alt_increased", "Alanine aminotransferase increased", OrganClass.INVESTIGATIONS),
    Term("bilirubin_increased", "Blood bilirubin increased", OrganClass.INVESTIGATIONS),
    Term("ggt_increased", "GGT increased", OrganClass.INVESTIGATIONS),
    Term("alkaline_phosphatase_increased", "Alkaline phosphatase increased", OrganClass.INVESTIGATIONS),
    Term("lipase_increased", "Lipase increased", OrganClass.INVESTIGATIONS),
    Term("hepatic_failure", "Hepatic failure", OrganClass.HEPATOBILIARY),
    Term("portal_hypertension", "Portal hypertension", OrganClass.HEPATOBILIARY),
    Term("lung_infection", "Lung infection", OrganClass.INFECTIONS),
    Term("sepsis", "Sepsis", OrganClass.INFECTIONS),
    Term("bacteremia", "Bacteremia", OrganClass.INFECTIONS),
    Term("cmv_infection", "Cytomegalovirus infection reactivation", OrganClass.INFECTIONS),
    Term("fungal_infection", "Infections and infestations - Other, fungal", OrganClass.INFECTIONS),
    Term("nausea", "Nausea", OrganClass.GASTROINTESTINAL),
    Term("vomiting", "Vomiting", OrganClass.GASTROINTESTINAL),
    Term("diarrhea", "Diarrhea", OrganClass.GASTROINTESTINAL),
    Term("abdominal_pain", "Abdominal pain", OrganClass.GASTROINTESTINAL),
    Term("mucositis_oral", "Mucositis oral", OrganClass.GASTROINTESTINAL),
    Term("fatigue", "Fatigue", OrganClass.GENERAL),
    Term("fever", "Fever", OrganClass.GENERAL),
    Term("infusion_related_reaction", "Infusion related reaction", OrganClass.INJURY),
    Term("headache", "Headache", OrganClass.NERVOUS),
    Term("hypokalemia", "Hypokalemia", OrganClass.METABOLISM),
    Term("tumor_lysis_syndrome", "Tumor lysis syndrome", OrganClass.METABOLISM),
    Term("acute_kidney_injury", "Acute kidney injury", OrganClass.RENAL),
    Term("hemorrhage_other", "Hemorrhage - Other", OrganClass.VASCULAR),
    Term("rash", "Rash maculo-papular", OrganClass.SKIN),
    Term("gvhd", "Graft versus host disease", OrganClass.IMMUNE),
    Term("dyspnea", "Dyspnea", OrganClass.RESPIRATORY),
    Term("heart_failure", "Heart failure", OrganClass.CARDIAC),
)

TERMS_BY_CODE = {term.code: term for term in TERMS}
TERM_CHOICES = [(term.code, term.label) for term in TERMS]
LIVER_TERMS = frozenset(
    {"ast_increased", "alt_increased", "bilirubin_increased", "ggt_increased", "alkaline_phosphatase_increased",
     "hepatic_failure", "portal_hypertension"}
)
