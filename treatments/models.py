"""Prior therapy lines, IO cycles with the end of treatment, and allo-HSCT after IO."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from patients.clinical import ClinicalRecord, RepeatingRecord
from patients.models import Patient

MAX_CYCLES = 6
MAX_DOSE_PER_DAY = Decimal("1.0")  # mg/m²
DOSE_UNIT = "mg/m²"


class ResponseCategory(models.TextChoices):
    """Response categories shared by prior lines and the IO response assessments."""

    CR = "cr", _("Complete remission (CR)")
    CRI = "cri", _("CR with incomplete haematologic recovery (CRi)")
    PR = "pr", _("Partial response")
    NR = "nr", _("No response / refractory")
    PD = "pd", _("Progressive disease")
    NE = "ne", _("Not evaluable")


class TherapyCategory(models.TextChoices):
    INDUCTION_CHEMO = "induction_chemo", _("Induction chemotherapy")
    BLINATUMOMAB = "blinatumomab", _("Blinatumomab")
    TKI = "tki", _("Tyrosine kinase inhibitor")
    CAR_T = "car_t", _("CAR-T")
    ALLO_HSCT = "allo_hsct", _("Allogeneic HSCT")
    OTHER = "other", _("Other")


class PriorTherapyLine(RepeatingRecord):
    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="prior_lines")
    line_number = models.PositiveSmallIntegerField(_("Line number"), validators=[MinValueValidator(1), MaxValueValidator(20)])
    category = models.CharField(_("Category"), max_length=20, choices=TherapyCategory.choices)
    regimen = models.CharField(_("Regimen"), max_length=200, blank=True)
    start_date = models.DateField(_("Start date"))
    end_date = models.DateField(_("End date"), null=True, blank=True)
    best_response = models.CharField(_("Best response to this line"), max_length=4, choices=ResponseCategory.choices)

    class Meta(RepeatingRecord.Meta):
        ordering = ["patient", "line_number"]
        verbose_name = _("prior therapy line")
        verbose_name_plural = _("prior therapy lines")
        constraints = [
            *RepeatingRecord.Meta.constraints,
            models.UniqueConstraint(
                fields=["patient", "line_number"], condition=Q(is_deleted=False), name="prior_line_unique_number"
            ),
            models.CheckConstraint(condition=Q(line_number__gte=1), name="prior_line_number_positive"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")), name="prior_line_dates_in_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} line {self.line_number}"


def dose_field(verbose_name, **kwargs) -> models.DecimalField:
    field = models.DecimalField(
        verbose_name,
        max_digits=4,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_DOSE_PER_DAY)],
        help_text=_("mg/m², 0 to 1.0"),
        **kwargs,
    )
    field.unit = DOSE_UNIT  # the unit the data dictionary gives
    return field


class IOCycle(RepeatingRecord):
    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="io_cycles")
    cycle_number = models.PositiveSmallIntegerField(
        _("Cycle number"), validators=[MinValueValidator(1), MaxValueValidator(MAX_CYCLES)]
    )
    start_date = models.DateField(_("Cycle start date (day 1)"))
    dose_day1 = dose_field(_("Dose on day 1 (mg/m²)"))
    dose_day8 = dose_field(_("Dose on day 8 (mg/m²)"), null=True)
    dose_day15 = dose_field(_("Dose on day 15 (mg/m²)"), null=True)
    delayed = models.BooleanField(_("Cycle delayed?"), null=True)
    dose_reduced = models.BooleanField(_("Dose reduced?"), null=True)
    modification_reason = models.CharField(_("Reason for delay or reduction"), max_length=200, blank=True)

    class Meta(RepeatingRecord.Meta):
        ordering = ["patient", "cycle_number"]
        verbose_name = _("IO cycle")
        verbose_name_plural = _("IO cycles")
        constraints = [
            *RepeatingRecord.Meta.constraints,
            models.UniqueConstraint(
                fields=["patient", "cycle_number"], condition=Q(is_deleted=False), name="io_cycle_unique_number"
            ),
            models.CheckConstraint(condition=Q(cycle_number__gte=1, cycle_number__lte=MAX_CYCLES), name="io_cycle_number_1_6"),
            models.CheckConstraint(
                condition=Q(dose_day1__gte=0, dose_day1__lte=MAX_DOSE_PER_DAY)
                & Q(dose_day8__gte=0, dose_day8__lte=MAX_DOSE_PER_DAY)
                & Q(dose_day15__gte=0, dose_day15__lte=MAX_DOSE_PER_DAY),
                name="io_cycle_dose_per_day_0_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} C{self.cycle_number}"

    @property
    def total_dose(self) -> Decimal | None:
        """Total dose of the cycle in mg/m² (derived)."""
        doses = (self.dose_day1, self.dose_day8, self.dose_day15)
        return None if any(dose is None for dose in doses) else sum(doses)


class EndOfTreatmentReason(models.TextChoices):
    HSCT = "hsct", _("Proceeded to HSCT")
    RESPONSE = "response", _("Response achieved, no further IO")
    TOXICITY = "toxicity", _("Toxicity")
    PROGRESSION = "progression", _("Progression")
    DEATH = "death", _("Death")
    OTHER = "other", _("Other")


class EndOfTreatment(ClinicalRecord):
    """Why IO stopped: the closing part of the IO cycles form."""

    patient = models.OneToOneField(
        Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="end_of_treatment"
    )
    reason = models.CharField(_("End-of-treatment reason"), max_length=12, choices=EndOfTreatmentReason.choices)
    reason_other = models.CharField(_("Other reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("end of IO treatment")
        verbose_name_plural = _("ends of IO treatment")
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=EndOfTreatmentReason.OTHER) | ~Q(reason_other=""), name="eot_other_has_text"
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} end of IO"


class Donor(models.TextChoices):
    MATCHED_SIBLING = "matched_sibling", _("Matched sibling")
    MATCHED_UNRELATED = "matched_unrelated", _("Matched unrelated")
    HAPLOIDENTICAL = "haploidentical", _("Haploidentical")
    CORD = "cord", _("Cord blood")
    OTHER = "other", _("Other")


class Conditioning(models.TextChoices):
    MYELOABLATIVE = "mac", _("Myeloablative")
    REDUCED_INTENSITY = "ric", _("Reduced intensity")


class StatusAtHsct(models.TextChoices):
    CR_MRD_NEGATIVE = "cr_mrd_neg", _("CR, MRD-negative")
    CR_MRD_POSITIVE = "cr_mrd_pos", _("CR, MRD-positive")
    OTHER = "other", _("Other")


class AlloHsct(ClinicalRecord):
    """Allogeneic HSCT after IO: whether it happened, and its details when it did."""

    patient = models.OneToOneField(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="hsct")
    performed = models.BooleanField(_("Did the patient receive an allogeneic HSCT after IO?"), null=True)
    hsct_date = models.DateField(_("Date of HSCT"), null=True, blank=True)
    donor = models.CharField(_("Donor"), max_length=20, choices=Donor.choices, blank=True)
    conditioning = models.CharField(_("Conditioning"), max_length=4, choices=Conditioning.choices, blank=True)
    tbi = models.BooleanField(_("Total body irradiation?"), null=True, blank=True)
    status_at_hsct = models.CharField(
        _("Disease status at HSCT"), max_length=12, choices=StatusAtHsct.choices, blank=True
    )
    io_cycles_before = models.PositiveSmallIntegerField(
        _("IO cycles before HSCT"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_CYCLES)]
    )

    class Meta:
        verbose_name = _("allogeneic HSCT after IO")
        verbose_name_plural = _("allogeneic HSCTs after IO")
        constraints = [
            models.CheckConstraint(
                condition=Q(performed=False, hsct_date__isnull=True) | Q(performed=True, hsct_date__isnull=False),
                name="hsct_date_iff_performed",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} HSCT"
