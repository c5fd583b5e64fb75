"""The forms of this app in the casebook registry: enrollment & eligibility, and baseline disease."""

from django.utils.translation import gettext_lazy as _

from patients.forms import BaselineForm, PatientEditForm
from patients.models import BaselineDisease, Patient
from patients.registry import CasebookForm, Part, casebook
from patients.validators import check_baseline, check_patient

casebook.register(CasebookForm(
    key="enrollment",
    label=_("Enrollment & eligibility"),
    order=10,
    requires_data=True,
    why=_("The patient's casebook starts with it: it exists from enrollment on."),
    parts=(Part(
        Patient, slug="enrollment", repeating=False, form_class=PatientEditForm, check=check_patient,
        export_table="patients",
        export=("center", "sex", "age_at_c1d1", "age_90_or_over", "has_rr_b_all", "is_cd22_positive", "received_io",
                "c1d1_date", "enrollment_status", "withdrawal_date"),
        export_order_by=("pk",),
    ),),
))

def baseline_dates(rows) -> dict:
    return {"diagnosis": next((row.diagnosis_date for row in rows), None)}


casebook.register(CasebookForm(
    key="baseline",
    label=_("Baseline disease"),
    order=20,
    requires_data=True,
    why=_("Disease status, Ph status and prior HSCT at IO start are baseline variables of every analysis."),
    parts=(Part(
        BaselineDisease, slug="baseline", repeating=False, form_class=BaselineForm, check=check_baseline,
        dates=baseline_dates,
        codable=("ph_status", "cd22_expression_pct", "marrow_blasts_pct", "extramedullary_disease", "cns_disease",
                 "ecog", "prior_allo_hsct", "prior_allo_hsct_date"),
        export_table="baseline",
        export=("diagnosis_date", "ph_status", "cd22_expression_pct", "disease_status", "marrow_blasts_pct",
                "extramedullary_disease", "cns_disease", "ecog", "prior_allo_hsct", "prior_allo_hsct_date"),
    ),),
))
