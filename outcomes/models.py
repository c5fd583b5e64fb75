"""Response assessments, adverse events, VOD/SOS, and follow-up & outcome."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from outcomes.ctcae import GRADES, NOT_APPLICABLE_GRADE, SPECIFIED_TERM_MAX_LENGTH
from patients.clinical import ClinicalRecord, RepeatingRecord, specified_term
from patients.models import Patient, percent_field
from treatments.models import ResponseCategory

# Best response order: the first of these that a patient reached is the best.
RESPONSE_RANK = [
    ResponseCategory.CR,
    ResponseCategory.CRI,
    ResponseCategory.PR,
    ResponseCategory.NR,
    ResponseCategory.PD,
    ResponseCategory.NE,
]
REMISSIONS = frozenset({ResponseCategory.CR, ResponseCategory.CRI})
REMISSION_BLAST_LIMIT = 5  # % marrow blasts


class MrdStatus(models.TextChoices):
    NEGATIVE = "negative", _("Negative")
    POSITIVE = "positive", _("Positive")
    NOT_DONE = "not_done", _("Not done")


class MrdMethod(models.TextChoices):
    FLOW = "flow", _("Flow cytometry")
    PCR = "pcr", _("PCR")


class ResponseAssessment(RepeatingRecord):
    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="responses")
    assessment_date = models.DateField(_("Date of assessment"))
    marrow_blasts_pct = percent_field(_("Bone marrow blasts (%)"), null=True, blank=True)
    response = models.CharField(_("Response"), max_length=4, choices=ResponseCategory.choices)
    mrd_status = models.CharField(
        _("MRD (threshold 10⁻⁴)"), max_length=10, choices=MrdStatus.choices, default=MrdStatus.NOT_DONE
    )
    mrd_method = models.CharField(_("MRD method"), max_length=4, choices=MrdMethod.choices, blank=True)

    class Meta(RepeatingRecord.Meta):
        ordering = ["patient", "assessment_date"]
        verbose_name = _("response assessment")
        verbose_name_plural = _("response assessments")
        constraints = [
            *RepeatingRecord.Meta.constraints,
            models.CheckConstraint(
                condition=~Q(response__in=sorted(REMISSIONS)) | Q(marrow_blasts_pct__lt=REMISSION_BLAST_LIMIT),
                name="response_remission_blasts_below_5",
            ),
            models.CheckConstraint(
                condition=Q(mrd_status="not_done", mrd_method="") | (~Q(mrd_status="not_done") & ~Q(mrd_method="")),
                name="response_mrd_method_iff_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} response {self.assessment_date}"


class Relation(models.TextChoices):
    RELATED = "related", _("Related")
    POSSIBLY = "possibly", _("Possibly related")
    UNRELATED = "unrelated", _("Not related")


class CtcaeTerm(models.Model):
    """A CTCAE v5.0 adverse-event term (reference data, loaded by a migration, never edited)."""

    meddra_code = models.CharField(_("MedDRA code"), max_length=8, primary_key=True)
    soc = models.CharField(_("system organ class"), max_length=80, db_index=True)
    term = models.CharField(_("CTCAE v5 term"), max_length=100, unique=True)
    grade_1 = models.TextField(_("grade 1"))
    grade_2 = models.TextField(_("grade 2"))
    grade_3 = models.TextField(_("grade 3"))
    grade_4 = models.TextField(_("grade 4"))
    grade_5 = models.TextField(_("grade 5"))
    definition = models.TextField(_("definition"), blank=True)
    haematologic = models.BooleanField(_("haematologic"))
    other_specify = models.BooleanField(_("'Other, specify' term"))

    class Meta:
        ordering = ["term"]
        verbose_name = _("CTCAE v5 term")
        verbose_name_plural = _("CTCAE v5 terms")

    def __str__(self) -> str:
        return self.term

    def grade_description(self, grade: int) -> str:
        return getattr(self, f"grade_{grade}")

    @property
    def grades(self) -> list[int]:
        """The grades CTCAE defines for this term (some have no grade 1, or no grade 5)."""
        return [grade for grade in GRADES if self.grade_description(grade) != NOT_APPLICABLE_GRADE]


class AdverseEvent(RepeatingRecord):
    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="adverse_events")
    ctcae_term = models.ForeignKey(
        CtcaeTerm, verbose_name=_("CTCAE v5 term"), on_delete=models.PROTECT, related_name="+",
        help_text=_("Type a few letters of the term; its MedDRA code is stored."),
    )
    other_specify = specified_term(models.CharField(
        _("Specified term"), max_length=SPECIFIED_TERM_MAX_LENGTH, blank=True,
        validators=[RegexValidator(
            r"^[^\W\d_]+(?:[ \-'/,().]+[^\W\d_]*)*$",
            _("A term is a few words: letters, spaces and - ' / , ( ) only, no digits."),
        )],
        help_text=_("For an 'Other, specify' term only: the event's name in a few words, not a narrative."),
    ))
    grade = models.PositiveSmallIntegerField(_("Grade"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    onset_date = models.DateField(_("Onset date"))
    resolution_date = models.DateField(_("Resolution date"), null=True, blank=True)
    serious = models.BooleanField(_("Serious?"), null=True)
    relation = models.CharField(_("Relation to IO"), max_length=10, choices=Relation.choices)

    class Meta(RepeatingRecord.Meta):
        ordering = ["patient", "onset_date"]
        verbose_name = _("adverse event")
        verbose_name_plural = _("adverse events")
        constraints = [
            *RepeatingRecord.Meta.constraints,
            models.CheckConstraint(condition=Q(grade__gte=1, grade__lte=5), name="ae_grade_1_5"),
            models.CheckConstraint(
                condition=Q(resolution_date__isnull=True) | Q(resolution_date__gte=F("onset_date")),
                name="ae_dates_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.term_label} G{self.grade}"

    @property
    def term_label(self) -> str:
        """The term as reported: the CTCAE term, or for 'Other, specify' the specified term."""
        term = self.ctcae_term
        if term.other_specify and self.other_specify:
            return f"{term.term}: {self.other_specify}"
        return term.term

    @property
    def organ_class(self) -> str:
        return self.ctcae_term.soc

    @property
    def is_haematologic(self) -> bool:
        """Derived from the term's class, never typed."""
        return self.ctcae_term.haematologic


class VodCriteria(models.TextChoices):
    EBMT_2016 = "ebmt_2016", _("EBMT adult criteria (2016)")
    MODIFIED_SEATTLE = "modified_seattle", _("Modified Seattle")
    BALTIMORE = "baltimore", _("Baltimore")


class VodSeverity(models.TextChoices):
    MILD = "mild", _("Mild")
    MODERATE = "moderate", _("Moderate")
    SEVERE = "severe", _("Severe")
    VERY_SEVERE = "very_severe", _("Very severe")


class VodSetting(models.TextChoices):
    DURING_IO = "during_io", _("During IO, without HSCT")
    AFTER_HSCT = "after_hsct", _("After HSCT")


class VodOutcome(models.TextChoices):
    RESOLVED = "resolved", _("Resolved")
    FATAL = "fatal", _("Fatal")


class VodSosEvent(RepeatingRecord):
    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="vod_events")
    diagnosis_date = models.DateField(_("Date of VOD/SOS diagnosis"))
    criteria = models.CharField(_("Diagnostic criteria"), max_length=20, choices=VodCriteria.choices)
    severity = models.CharField(_("EBMT severity"), max_length=12, choices=VodSeverity.choices)
    setting = models.CharField(_("Setting"), max_length=12, choices=VodSetting.choices)
    defibrotide = models.BooleanField(_("Defibrotide given?"), null=True)
    outcome = models.CharField(_("Outcome"), max_length=10, choices=VodOutcome.choices)

    class Meta(RepeatingRecord.Meta):
        ordering = ["patient", "diagnosis_date"]
        verbose_name = _("VOD/SOS event")
        verbose_name_plural = _("VOD/SOS events")

    def __str__(self) -> str:
        return f"{self.patient_id} VOD/SOS {self.diagnosis_date}"


class VitalStatus(models.TextChoices):
    ALIVE = "alive", _("Alive")
    DEAD = "dead", _("Dead")


class DeathCause(models.TextChoices):
    DISEASE = "disease", _("Disease")
    VOD_SOS = "vod_sos", _("VOD/SOS")
    INFECTION = "infection", _("Infection")
    GVHD = "gvhd", _("GVHD")
    OTHER_TOXICITY = "other_toxicity", _("Other toxicity")
    OTHER = "other", _("Other")


class FollowUp(ClinicalRecord):
    patient = models.OneToOneField(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="follow_up")
    relapsed = models.BooleanField(_("Relapse after response?"), null=True)
    relapse_date = models.DateField(_("Date of relapse"), null=True, blank=True)
    vital_status = models.CharField(_("Vital status"), max_length=8, choices=VitalStatus.choices)
    death_date = models.DateField(_("Date of death"), null=True, blank=True)
    death_cause = models.CharField(_("Cause of death"), max_length=16, choices=DeathCause.choices, blank=True)
    last_contact_date = models.DateField(_("Date of last contact"))

    class Meta:
        verbose_name = _("follow-up & outcome")
        verbose_name_plural = _("follow-up & outcome")
        constraints = [
            models.CheckConstraint(
                condition=Q(vital_status="dead", death_date__isnull=False)
                | Q(vital_status="alive", death_date__isnull=True, death_cause=""),
                name="follow_up_death_date_iff_dead",
            ),
            models.CheckConstraint(
                # a relapse has its date, or the date is coded (unknown)
                condition=Q(relapsed=True, relapse_date__isnull=False)
                | Q(relapsed=True, relapse_date__isnull=True, missing_codes__has_key="relapse_date")
                | Q(relapsed=False, relapse_date__isnull=True),
                name="follow_up_relapse_date_iff_relapsed",
            ),
            models.CheckConstraint(
                condition=Q(death_date__isnull=True) | Q(last_contact_date=F("death_date")),
                name="follow_up_death_is_last_contact",
            ),
            models.CheckConstraint(
                condition=Q(relapse_date__isnull=True) | Q(relapse_date__lte=F("last_contact_date")),
                name="follow_up_relapse_before_last_contact",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} follow-up"
