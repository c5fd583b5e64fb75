"""Enrollment & eligibility, baseline disease, and the state of each casebook form."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.timezone import now as timezone_now
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from patients.clinical import ClinicalRecord, direct_identifier
from patients.registry import form_choices
from sites.models import Center

STUDY_WINDOW = (dt.date(2014, 1, 1), dt.date(2019, 12, 31))
ADULT_AGE_YEARS = 18
DAYS_PER_YEAR = 365.25


class Sex(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")


class EnrollmentStatus(models.TextChoices):
    ENROLLED = "enrolled", _("Enrolled")
    EXCLUDED = "excluded", _("Excluded")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# A study ID as the enrollment makes it (`RM01-007`): the only shape a URL may name a casebook by.
STUDY_ID_PATTERN = r"[A-Z]{2}[0-9]{2}-[0-9]+"


class Patient(ClinicalRecord):
    """One patient of one center: the enrollment & eligibility form."""

    center = models.ForeignKey(Center, verbose_name=_("center"), on_delete=models.PROTECT, related_name="patients")
    study_id = models.CharField(_("study ID"), max_length=16, unique=True, editable=False)
    sequence = models.PositiveIntegerField(_("sequence number in the center"), editable=False)

    local_hospital_id = direct_identifier(
        models.CharField(_("local hospital ID"), max_length=40, help_text=_("Direct identifier: never exported."))
    )
    initials = direct_identifier(
        models.CharField(_("initials"), max_length=4, help_text=_("Direct identifier: never exported."))
    )
    date_of_birth = direct_identifier(
        models.DateField(_("date of birth"), help_text=_("Direct identifier: never exported."))
    )
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)

    has_rr_b_all = models.BooleanField(_("Relapsed or refractory B-cell ALL?"), default=False)
    is_cd22_positive = models.BooleanField(_("CD22-positive blasts?"), default=False)
    received_io = models.BooleanField(_("At least one dose of inotuzumab ozogamicin given?"), default=False)
    c1d1_date = models.DateField(
        _("Date of IO cycle 1 day 1"),
        null=True,
        blank=True,
        help_text=_("The index date of every time-to-event endpoint."),
    )

    enrollment_status = models.CharField(
        _("enrollment status"), max_length=12, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ENROLLED
    )
    exclusion_reason = models.TextField(_("reason for exclusion"), blank=True)
    withdrawal_date = models.DateField(_("date of withdrawal"), null=True, blank=True)
    withdrawal_reason = models.TextField(_("reason for withdrawal"), blank=True)

    class Meta:
        ordering = ["center__code", "sequence"]
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        constraints = [
            models.UniqueConstraint(fields=["center", "sequence"], name="patient_unique_sequence_per_center"),
            models.CheckConstraint(
                condition=~Q(enrollment_status=EnrollmentStatus.EXCLUDED) | ~Q(exclusion_reason=""),
                name="patient_excluded_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(c1d1_date__isnull=True) | Q(c1d1_date__gt=models.F("date_of_birth")),
                name="patient_c1d1_after_birth",
            ),
        ]

    def __str__(self) -> str:
        return self.study_id

    @property
    def age_at_c1d1(self) -> float | None:
        """Age in years at IO cycle 1 day 1 (derived, never typed)."""
        if not (self.c1d1_date and self.date_of_birth):
            return None
        return (self.c1d1_date - self.date_of_birth).days / DAYS_PER_YEAR

    @property
    def unmet_eligibility(self) -> list[str]:
        """The eligibility criteria this patient does not meet, as sentences."""
        unmet = []
        age = self.age_at_c1d1
        if age is None or age < ADULT_AGE_YEARS:
            unmet.append(str(_("aged 18 or more at IO start")))
        if not self.has_rr_b_all:
            unmet.append(str(_("relapsed/refractory B-ALL")))
        if not self.is_cd22_positive:
            unmet.append(str(_("CD22-positive")))
        if not self.received_io:
            unmet.append(str(_("at least one IO dose")))
        if not self.c1d1_date or not (STUDY_WINDOW[0] <= self.c1d1_date <= STUDY_WINDOW[1]):
            unmet.append(str(_("C1D1 between 2014-01-01 and 2019-12-31")))
        return unmet

    @property
    def is_eligible(self) -> bool:
        return not self.unmet_eligibility

    @property
    def casebook_patient_id(self) -> int:
        return self.pk


class PhStatus(models.TextChoices):
    POSITIVE = "positive", _("Ph+")
    NEGATIVE = "negative", _("Ph−")


class DiseaseStatus(models.TextChoices):
    PRIMARY_REFRACTORY = "primary_refractory", _("Primary refractory")
    FIRST_RELAPSE = "first_relapse", _("First relapse")
    SECOND_OR_LATER_RELAPSE = "second_or_later_relapse", _("Second or later relapse")
    REFRACTORY_RELAPSE = "refractory_relapse", _("Refractory relapse")


def percent_field(verbose_name, **kwargs) -> models.DecimalField:
    field = models.DecimalField(
        verbose_name,
        max_digits=5,
        decimal_places=1,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        **kwargs,
    )
    field.unit = "%"  # the unit the data dictionary gives
    return field


class BaselineDisease(ClinicalRecord):
    """Disease at IO start."""

    patient = models.OneToOneField(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="baseline")
    diagnosis_date = models.DateField(_("Date of B-ALL diagnosis"))
    ph_status = models.CharField(_("Philadelphia chromosome"), max_length=8, choices=PhStatus.choices)
    cd22_expression_pct = percent_field(_("CD22 expression (% of blasts)"), null=True)
    disease_status = models.CharField(_("Disease status at IO start"), max_length=32, choices=DiseaseStatus.choices)
    marrow_blasts_pct = percent_field(_("Bone marrow blasts at IO start (%)"), null=True)
    extramedullary_disease = models.BooleanField(_("Extramedullary disease?"), null=True)
    cns_disease = models.BooleanField(_("CNS disease?"), null=True)
    ecog = models.PositiveSmallIntegerField(
        _("ECOG performance status"), null=True, validators=[MinValueValidator(0), MaxValueValidator(4)]
    )
    prior_allo_hsct = models.BooleanField(_("Allogeneic HSCT before IO?"), null=True)
    prior_allo_hsct_date = models.DateField(_("Date of the allogeneic HSCT before IO"), null=True, blank=True)

    class Meta:
        verbose_name = _("baseline disease")
        verbose_name_plural = _("baseline disease")
        constraints = [
            models.CheckConstraint(condition=Q(ecog__gte=0, ecog__lte=4), name="baseline_ecog_0_4"),
            models.CheckConstraint(
                condition=Q(cd22_expression_pct__gte=0, cd22_expression_pct__lte=100)
                & Q(marrow_blasts_pct__gte=0, marrow_blasts_pct__lte=100),
                name="baseline_percentages_0_100",
            ),
            models.CheckConstraint(
                condition=Q(prior_allo_hsct=True) | Q(prior_allo_hsct_date__isnull=True),
                name="baseline_hsct_date_only_if_hsct",
            ),
            models.CheckConstraint(
                condition=Q(prior_allo_hsct_date__isnull=True) | Q(prior_allo_hsct_date__gte=models.F("diagnosis_date")),
                name="baseline_hsct_after_diagnosis",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} baseline"


class FormStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETE = "complete", _("Complete")
    VERIFIED = "verified", _("Verified")
    LOCKED = "locked", _("Locked")


class FormState(models.Model):
    """The state of one form of one casebook. A form with no row is 'empty' and has no state."""

    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="form_states")
    form = models.CharField(_("form"), max_length=20, choices=form_choices)
    status = models.CharField(_("status"), max_length=12, choices=FormStatus.choices, default=FormStatus.IN_PROGRESS)
    changed_at = models.DateTimeField(_("changed"), auto_now=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("changed by"), on_delete=models.PROTECT, null=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("form state")
        verbose_name_plural = _("form states")
        constraints = [models.UniqueConstraint(fields=["patient", "form"], name="form_state_unique_per_casebook")]
        # One form's states for every patient (an export's `<form>_complete` column): read from
        # the index alone (PostgreSQL), not picked out of every form's rows.
        indexes = [models.Index(fields=["form", "patient"], include=["status"], name="form_state_by_form")]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.form}: {self.status}"


# Data management: queries, electronic signatures, automatic check runs.


class QueryState(models.TextChoices):
    OPEN = "open", _("Open")
    ANSWERED = "answered", _("Answered")
    CLOSED = "closed", _("Closed")


# Queries that still need someone's action (the site's answer or the monitor's review).
UNRESOLVED_QUERY_STATES = (QueryState.OPEN, QueryState.ANSWERED)


class DataQuery(models.Model):
    """A monitor's question about a form of a casebook, or one field of one row of it.
    Never deleted: a query ends closed, and may be re-opened."""

    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="data_queries")
    form = models.CharField(_("form"), max_length=20, choices=form_choices)
    row_content_type = models.ForeignKey(
        "contenttypes.ContentType", verbose_name=_("row type"), on_delete=models.PROTECT, null=True, blank=True
    )
    row_id = models.PositiveBigIntegerField(_("row"), null=True, blank=True)
    field_name = models.CharField(_("field"), max_length=64, blank=True)
    question = models.TextField(_("question"))
    state = models.CharField(_("state"), max_length=10, choices=QueryState.choices, default=QueryState.OPEN)
    # Set by the automatic checks: one query per patient, check and row, never raised twice.
    check_key = models.CharField(_("automatic check"), max_length=120, blank=True, editable=False)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("raised by"), on_delete=models.PROTECT, related_name="+"
    )
    raised_at = models.DateTimeField(_("raised"), default=timezone_now)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("closed by"), on_delete=models.PROTECT, null=True, blank=True,
        related_name="+",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-raised_at", "-pk"]
        verbose_name = _("data query")
        verbose_name_plural = _("data queries")
        indexes = [models.Index(fields=["patient", "state"]), models.Index(fields=["state", "raised_at"])]
        constraints = [
            models.UniqueConstraint(fields=["check_key"], condition=~Q(check_key=""), name="data_query_unique_check_key"),
            models.CheckConstraint(
                condition=Q(row_id__isnull=True, row_content_type__isnull=True)
                | Q(row_id__isnull=False, row_content_type__isnull=False),
                name="data_query_row_type_and_id",
            ),
        ]

    def __str__(self) -> str:
        return f"Q{self.pk} {self.patient_id} {self.form}{'.' + self.field_name if self.field_name else ''}"

    @property
    def is_unresolved(self) -> bool:
        return self.state in UNRESOLVED_QUERY_STATES


class QueryMessageKind(models.TextChoices):
    QUESTION = "question", _("Question")
    ANSWER = "answer", _("Answer")
    CLOSE = "close", _("Closed")
    REOPEN = "reopen", _("Re-opened")


class DataQueryMessage(models.Model):
    """One entry of a query's thread. Append-only."""

    query = models.ForeignKey(DataQuery, verbose_name=_("query"), on_delete=models.PROTECT, related_name="messages")
    kind = models.CharField(_("kind"), max_length=10, choices=QueryMessageKind.choices)
    text = models.TextField(_("text"), blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("author"), on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("written"), default=timezone_now)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("query message")
        verbose_name_plural = _("query messages")

    def __str__(self) -> str:
        return f"{self.query_id} {self.kind}"


class CasebookSignature(models.Model):
    """A site investigator's electronic signature of a whole casebook: who, when, and what
    the signature means. A change to the signed data voids it; it is never deleted."""

    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="signatures")
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("signed by"), on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(_("signed"), default=timezone_now)
    meaning = models.TextField(_("meaning of the signature"))
    is_void = models.BooleanField(_("void"), default=False)
    voided_at = models.DateTimeField(_("voided"), null=True, blank=True)
    void_reason = models.TextField(_("why the signature is void"), blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-signed_at", "-pk"]
        verbose_name = _("casebook signature")
        verbose_name_plural = _("casebook signatures")
        constraints = [
            models.UniqueConstraint(fields=["patient"], condition=Q(is_void=False), name="signature_one_active_per_casebook"),
            models.CheckConstraint(
                condition=Q(is_void=False, voided_at__isnull=True) | Q(is_void=True, voided_at__isnull=False),
                name="signature_voided_at_iff_void",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} signed by {self.signer_id} at {self.signed_at:%Y-%m-%d %H:%M}"


class CheckRunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class DataCheckRun(models.Model):
    """One run of the automatic checks across casebooks (from the page or the nightly job)."""

    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), on_delete=models.PROTECT, related_name="+"
    )
    center = models.ForeignKey(Center, verbose_name=_("center"), on_delete=models.PROTECT, null=True, blank=True)
    cutoff = models.DateField(_("data cut-off"))
    status = models.CharField(_("status"), max_length=10, choices=CheckRunStatus.choices, default=CheckRunStatus.RUNNING)
    started_at = models.DateTimeField(_("started"), default=timezone_now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    patients_checked = models.PositiveIntegerField(_("patients checked"), default=0)
    problems_found = models.PositiveIntegerField(_("problems found"), default=0)
    queries_raised = models.PositiveIntegerField(_("queries raised"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("automatic check run")
        verbose_name_plural = _("automatic check runs")

    def __str__(self) -> str:
        return f"check run {self.pk} ({self.status})"
