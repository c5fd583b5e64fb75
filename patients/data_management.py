"""Data management (issue 6): the form workflow of the monitors (verify, lock, unlock),
data queries and their threads, the investigator's electronic signature of a casebook,
and the reads of the monitors (query lists, open query counts, the monitoring
dashboard, the audit trail).

Services write in one transaction with their history entry (who, when, why);
selectors take the requesting user and scope to the centers the user may see.
Clinical values are never written here: they go through `patients.services`.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Count, Min, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inocd22.clinical import ClinicalRecord, is_direct_identifier, row_label
from patients.models import (
    UNRESOLVED_QUERY_STATES,
    CasebookSignature,
    DataQuery,
    DataQueryMessage,
    EnrollmentStatus,
    FormKey,
    FormState,
    FormStatus,
    Patient,
    QueryMessageKind,
    QueryState,
)
from patients.selectors import patient_list_for_user
from sites.auth import credentials_confirm
from sites.models import Center
from sites.roles import Role, can_edit_clinical_data, can_see_identifiers, has_role
from sites.selectors import center_ids_for_user, center_list_for_user

SIGNATURE_MEANING = gettext_lazy(
    "By signing I confirm, as the site investigator responsible for this patient, that I have "
    "reviewed this casebook and that its data are, to the best of my knowledge, complete and "
    "accurate, and consistent with the patient's hospital records."
)

# The forms every enrolled patient's casebook has before it can be signed.
REQUIRED_FORMS_ENROLLED = (FormKey.ENROLLMENT, FormKey.BASELINE, FormKey.IO_CYCLES, FormKey.FOLLOW_UP)
# Bookkeeping columns of every clinical row: not questions of the form.
NON_QUESTION_FIELDS = frozenset({"id", "version", "is_deleted", "created_at", "updated_at", "patient", "center"})
QUERY_AGE_ALERT_DAYS = 30


# ---------------------------------------------------------------------------
# Roles


def is_monitor(user) -> bool:
    return has_role(user, Role.MONITOR)


def can_see_queries(user) -> bool:
    """Queries quote the casebook: for the staff who see it whole (not statisticians)."""
    return can_see_identifiers(user)


def can_see_monitoring_dashboard(user) -> bool:
    return has_role(user, Role.MONITOR, Role.ADMINISTRATOR)


def can_export_audit_trail(user) -> bool:
    return has_role(user, Role.MONITOR, Role.ADMINISTRATOR)


def _require_monitor(user) -> None:
    if not is_monitor(user):
        raise PermissionDenied(_("Only monitors do this."))


def _require_visible(*, user, patient: Patient) -> None:
    if not patient_list_for_user(user=user).filter(pk=patient.pk).exists():
        raise PermissionDenied(_("You may not see this casebook."))


# ---------------------------------------------------------------------------
# The forms' models, found from the clinical models (this app may not import the apps above it)


def clinical_models() -> list[type[ClinicalRecord]]:
    return [model for model in apps.get_models() if issubclass(model, ClinicalRecord)]


def form_models(form: str) -> list[type[ClinicalRecord]]:
    return [model for model in clinical_models() if model.form_key == form]


def question_fields(model: type[models.Model]) -> list[models.Field]:
    """The fields of a form that are questions (what a query can be about)."""
    return [
        f for f in model._meta.concrete_fields if f.name not in NON_QUESTION_FIELDS and f.editable
    ]


def is_repeating(model: type[models.Model]) -> bool:
    """A form of many rows per patient (IO cycles), not of one (baseline)."""
    return model is not Patient and not model._meta.get_field("patient").one_to_one


def row_place(form: str, row: models.Model | None) -> str:
    """Where in the casebook a row is, as a person says it: "Follow-up & outcome",
    "IO cycles · IO cycle 2", "IO cycles · End of IO treatment"."""
    form_name = str(FormKey(form).label) if form in FormKey.values else form
    if row is None:
        return form_name
    model = type(row)
    if is_repeating(model) or len(form_models(form)) > 1:
        return f"{form_name} · {capfirst(row_label(model, row))}"
    return form_name


def field_label(form: str, field_name: str, row_model: type[models.Model] | None = None) -> str:
    for model in [row_model] if row_model else form_models(form):
        try:
            return str(model._meta.get_field(field_name).verbose_name)
        except FieldDoesNotExist:
            continue
    return field_name


# ---------------------------------------------------------------------------
# Form workflow: verify, lock, unlock (monitors). Site staff mark forms complete through
# patients.services.form_status_set, which cannot verify, lock or unlock.


def _state_for_transition(*, patient: Patient, form: str) -> FormState:
    if form not in FormKey.values:
        raise ValidationError({"form": _("Unknown form.")})
    state = FormState.objects.select_for_update().filter(patient=patient, form=form).first()
    if state is None:
        raise ValidationError(_("This form has no data yet."))
    return state


def _refuse_if_unresolved_queries(*, patient: Patient, form: str, action: str) -> None:
    unresolved = DataQuery.objects.filter(patient=patient, form=form, state__in=UNRESOLVED_QUERY_STATES).count()
    if unresolved:
        raise ValidationError(
            _("%(n)d query(ies) of this form are not closed: close them before you %(action)s the form.")
            % {"n": unresolved, "action": action}
        )


def _transition(state: FormState, *, user, status: str, reason: str) -> FormState:
    state.status = status
    state.changed_by = user
    state._history_user = user
    state._change_reason = reason
    state.save()
    return state


@transaction.atomic
def form_verify(*, user, patient: Patient, form: str) -> FormState:
    """Source data verified: a complete form with no open query becomes verified."""
    _require_monitor(user)
    _require_visible(user=user, patient=patient)
    state = _state_for_transition(patient=patient, form=form)
    if state.status != FormStatus.COMPLETE:
        raise ValidationError(
            _("Only a complete form can be verified (this one is %(status)s).") % {"status": state.get_status_display()}
        )
    _refuse_if_unresolved_queries(patient=patient, form=form, action=_("verify"))
    return _transition(state, user=user, status=FormStatus.VERIFIED, reason=_("Source data verified"))


@transaction.atomic
def form_lock(*, user, patient: Patient, form: str) -> FormState:
    """Freeze a verified form: nobody changes it until a monitor unlocks it."""
    _require_monitor(user)
    _require_visible(user=user, patient=patient)
    state = _state_for_transition(patient=patient, form=form)
    if state.status != FormStatus.VERIFIED:
        raise ValidationError(
            _("Only a verified form can be locked (this one is %(status)s).") % {"status": state.get_status_display()}
        )
    _refuse_if_unresolved_queries(patient=patient, form=form, action=_("lock"))
    return _transition(state, user=user, status=FormStatus.LOCKED, reason=_("Locked"))


@transaction.atomic
def form_unlock(*, user, patient: Patient, form: str, reason: str) -> FormState:
    """Unlock a locked form, with the reason. It goes back to verified: its data did not
    change, and the first change sends it back to complete."""
    _require_monitor(user)
    _require_visible(user=user, patient=patient)
    if not reason.strip():
        raise ValidationError({"reason": _("Give the reason for unlocking the form.")})
    state = _state_for_transition(patient=patient, form=form)
    if state.status != FormStatus.LOCKED:
        raise ValidationError(_("This form is not locked."))
    return _transition(state, user=user, status=FormStatus.VERIFIED, reason=_("Unlocked: %(reason)s") % {"reason": reason.strip()})


# ---------------------------------------------------------------------------
# Data queries


def _query_target(*, patient: Patient, form: str, row: models.Model | None, field_name: str) -> None:
    """Refuses a query about a form, row or field that is not this patient's."""
    if form not in FormKey.values:
        raise ValidationError({"form": _("Unknown form.")})
    models_of_form = form_models(form)
    if row is not None:
        if type(row) not in models_of_form:
            raise ValidationError({"row": _("This row does not belong to the form.")})
        if row.casebook_patient_id != patient.pk:
            raise ValidationError({"row": _("This row is not of this patient.")})
        models_of_form = [type(row)]
    if field_name and not any(
        field_name in {f.name for f in question_fields(model)} for model in models_of_form
    ):
        raise ValidationError({"field_name": _("This form has no such question.")})


@transaction.atomic
def query_raise(
    *,
    user,
    patient: Patient,
    form: str,
    question: str,
    row: models.Model | None = None,
    field_name: str = "",
    check_key: str = "",
) -> tuple[DataQuery, bool]:
    """A monitor asks the site about a form, or a field of one row of it.

    With a `check_key` (automatic checks) a query is raised once per key: an existing one,
    in any state, is returned instead (re-open it to ask again). Returns (query, created)."""
    _require_monitor(user)
    _require_visible(user=user, patient=patient)
    if not question.strip():
        raise ValidationError({"question": _("Write the question.")})
    _query_target(patient=patient, form=form, row=row, field_name=field_name)
    if check_key:
        existing = DataQuery.objects.filter(check_key=check_key).first()
        if existing is not None:
            return existing, False
    query = DataQuery(
        patient=patient,
        form=form,
        row_content_type=ContentType.objects.get_for_model(row) if row is not None else None,
        row_id=row.pk if row is not None else None,
        field_name=field_name,
        question=question.strip(),
        check_key=check_key,
        raised_by=user,
    )
    query._history_user = user
    try:
        with transaction.atomic():
            query.save()
    except IntegrityError:
        # Raised by a concurrent run of the same check: that one stands.
        if check_key:
            return DataQuery.objects.get(check_key=check_key), False
        raise
    DataQueryMessage.objects.create(query=query, kind=QueryMessageKind.QUESTION, text=query.question, author=user)
    return query, True


def _query_locked(query: DataQuery) -> DataQuery:
    return DataQuery.objects.select_for_update().get(pk=query.pk)


@transaction.atomic
def query_answer(*, user, query: DataQuery, text: str) -> DataQuery:
    """The site answers (correcting the data goes through the CRF services, with its reason)."""
    if not can_edit_clinical_data(user):
        raise PermissionDenied(_("Only the site's staff answer queries."))
    query = _query_locked(query)
    _require_visible(user=user, patient=query.patient)
    if not text.strip():
        raise ValidationError({"text": _("Write the answer.")})
    if query.state == QueryState.CLOSED:
        raise ValidationError(_("This query is closed."))
    now = timezone.now()
    query.state = QueryState.ANSWERED
    query.answered_at = now
    query._history_user = user
    query._change_reason = _("Answered")
    query.save()
    DataQueryMessage.objects.create(query=query, kind=QueryMessageKind.ANSWER, text=text.strip(), author=user, created_at=now)
    return query


@transaction.atomic
def query_close(*, user, query: DataQuery, text: str = "") -> DataQuery:
    """The monitor accepts the answer (or withdraws the question) and closes the query."""
    _require_monitor(user)
    query = _query_locked(query)
    _require_visible(user=user, patient=query.patient)
    if query.state == QueryState.CLOSED:
        raise ValidationError(_("This query is already closed."))
    now = timezone.now()
    query.state = QueryState.CLOSED
    query.closed_at = now
    query.closed_by = user
    query._history_user = user
    query._change_reason = _("Closed")
    query.save()
    DataQueryMessage.objects.create(query=query, kind=QueryMessageKind.CLOSE, text=text.strip(), author=user, created_at=now)
    return query


@transaction.atomic
def query_reopen(*, user, query: DataQuery, text: str) -> DataQuery:
    """The monitor re-opens a closed query, saying why."""
    _require_monitor(user)
    query = _query_locked(query)
    _require_visible(user=user, patient=query.patient)
    if query.state != QueryState.CLOSED:
        raise ValidationError(_("Only a closed query can be re-opened."))
    if not text.strip():
        raise ValidationError({"text": _("Say why the query is re-opened.")})
    now = timezone.now()
    query.state = QueryState.OPEN
    query.closed_at = None
    query.closed_by = None
    query._history_user = user
    query._change_reason = _("Re-opened")
    query.save()
    DataQueryMessage.objects.create(query=query, kind=QueryMessageKind.REOPEN, text=text.strip(), author=user, created_at=now)
    return query


def query_list_for_user(
    *,
    user,
    center: Center | str | None = None,
    state: str = "",
    min_age_days: int | None = None,
    form: str = "",
    patient: Patient | None = None,
    now: dt.datetime | None = None,
) -> QuerySet[DataQuery]:
    """The queries the user may see (their centers'; monitors all), newest first.
    `min_age_days` keeps the queries raised at least that many days ago."""
    if not can_see_identifiers(user):
        return DataQuery.objects.none()
    queries = DataQuery.objects.filter(
        patient__center__in=center_ids_for_user(user=user), patient__is_deleted=False
    ).select_related("patient", "patient__center", "raised_by", "row_content_type")
    if isinstance(center, Center):
        queries = queries.filter(patient__center=center)
    elif center:
        queries = queries.filter(patient__center__code=center)
    if state:
        queries = queries.filter(state=state)
    if min_age_days:
        queries = queries.filter(raised_at__lte=(now or timezone.now()) - dt.timedelta(days=min_age_days))
    if form:
        queries = queries.filter(form=form)
    if patient is not None:
        queries = queries.filter(patient=patient)
    return queries


def query_get_for_user(*, user, pk: int) -> DataQuery:
    """The query, or 404 when it does not exist or is of a center the user may not see."""
    try:
        return query_list_for_user(user=user).get(pk=pk)
    except DataQuery.DoesNotExist:
        raise Http404 from None


@dataclass
class OpenQueryCounts:
    """Unresolved (open or answered) queries, counted per patient, form and field."""

    by_center: Counter = field(default_factory=Counter)  # center id
    by_patient: Counter = field(default_factory=Counter)  # patient id
    by_form: Counter = field(default_factory=Counter)  # (patient id, form)
    by_field: Counter = field(default_factory=Counter)  # (patient id, form, row type id, row id, field name)
    awaiting_site: int = 0  # state open: the site's turn
    awaiting_monitor: int = 0  # state answered: the monitor's turn

    @property
    def total(self) -> int:
        return self.awaiting_site + self.awaiting_monitor

    def for_field(self, patient_id: int, form: str, field_name: str, row_type_id=None, row_id=None) -> int:
        """Queries on this field; without a row, on this field of any row of the form."""
        if row_id is not None:
            return self.by_field[(patient_id, form, row_type_id, row_id, field_name)]
        return sum(n for key, n in self.by_field.items() if key[0] == patient_id and key[1] == form and key[4] == field_name)


def open_query_counts(
    *, user, patient: Patient | None = None, center: Center | str | None = None, per_field: bool = True
) -> OpenQueryCounts:
    """Counts of the unresolved queries the user may see, in one aggregate query. Without
    `per_field` only the counts per center and the totals (a smaller GROUP BY, for the home page)."""
    grouping = ["patient__center_id", "state"]
    if per_field:
        grouping += ["patient_id", "form", "row_content_type_id", "row_id", "field_name"]
    rows = (
        query_list_for_user(user=user, center=center, patient=patient)
        .filter(state__in=UNRESOLVED_QUERY_STATES)
        .order_by()
        .values(*grouping)
        .annotate(n=Count("pk"))
    )
    counts = OpenQueryCounts()
    for row in rows:
        n = row["n"]
        counts.by_center[row["patient__center_id"]] += n
        if per_field:
            counts.by_patient[row["patient_id"]] += n
            counts.by_form[(row["patient_id"], row["form"])] += n
        if per_field and row["field_name"]:
            key = (row["patient_id"], row["form"], row["row_content_type_id"], row["row_id"], row["field_name"])
            counts.by_field[key] += n
        if row["state"] == QueryState.OPEN:
            counts.awaiting_site += n
        else:
            counts.awaiting_monitor += n
    return counts


def unresolved_query_list(*, user, patient: Patient) -> list[DataQuery]:
    """The casebook's open and answered queries the user may see, in one query: what its
    pages flag on the forms and fields."""
    return list(query_list_for_user(user=user, patient=patient).filter(state__in=UNRESOLVED_QUERY_STATES))


def query_age_days(query: DataQuery, *, now: dt.datetime | None = None) -> int:
    end = query.closed_at if query.state == QueryState.CLOSED and query.closed_at else (now or timezone.now())
    return (end - query.raised_at).days


def query_row(query: DataQuery) -> models.Model | None:
    """The row the query is about (deleted rows too), or None for a query on a whole form."""
    if query.row_content_type_id is None:
        return None
    model = query.row_content_type.model_class()
    return model.objects.filter(pk=query.row_id).first() if model else None


# ---------------------------------------------------------------------------
# Investigator sign-off


def casebook_signature_get(*, patient: Patient) -> CasebookSignature | None:
    return CasebookSignature.objects.filter(patient=patient, is_void=False).select_related("signer").first()


def casebook_signature_list(*, patient: Patient) -> QuerySet[CasebookSignature]:
    return CasebookSignature.objects.filter(patient=patient).select_related("signer")


def casebook_unsigned_reasons(*, patient: Patient) -> list[str]:
    """Why this casebook cannot be signed yet (empty when it can)."""
    statuses = dict(FormState.objects.filter(patient=patient).values_list("form", "status"))
    reasons = []
    required = REQUIRED_FORMS_ENROLLED if patient.enrollment_status == EnrollmentStatus.ENROLLED else (FormKey.ENROLLMENT,)
    for form in required:
        if form not in statuses:
            reasons.append(_("%(form)s: no data.") % {"form": FormKey(form).label})
    for form, status in sorted(statuses.items(), key=lambda item: FormKey.values.index(item[0])):
        if status == FormStatus.IN_PROGRESS:
            reasons.append(_("%(form)s: still in progress.") % {"form": FormKey(form).label})
    return reasons


@transaction.atomic
def casebook_sign(*, user, patient: Patient, password: str, otp_code: str = "") -> CasebookSignature:
    """The site investigator's electronic signature of a complete casebook. The password
    (and the two-factor code, when required) is asked again; the signer, the date-time and
    the meaning are recorded."""
    if not has_role(user, Role.INVESTIGATOR):
        raise PermissionDenied(_("Only site investigators sign casebooks."))
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    _require_visible(user=user, patient=patient)
    credentials_confirm(user=user, password=password, otp_code=otp_code)
    if casebook_signature_get(patient=patient) is not None:
        raise ValidationError(_("This casebook is already signed."))
    reasons = casebook_unsigned_reasons(patient=patient)
    if reasons:
        raise ValidationError(_("The casebook is not complete: %(reasons)s") % {"reasons": " ".join(reasons)})
    signature = CasebookSignature(patient=patient, signer=user, meaning=str(SIGNATURE_MEANING))
    signature._history_user = user
    signature._change_reason = _("Signed")
    signature.save()
    return signature


# ---------------------------------------------------------------------------
# Monitoring dashboard


@dataclass
class CenterProgress:
    center: Center
    patients_enrolled: int = 0
    forms_in_progress: int = 0
    forms_complete: int = 0
    forms_verified: int = 0
    forms_locked: int = 0
    queries_open: int = 0
    queries_answered: int = 0
    queries_open_over_alert: int = 0  # open for QUERY_AGE_ALERT_DAYS days or more
    oldest_open_query_at: dt.datetime | None = None
    now: dt.datetime | None = None

    @property
    def forms_total(self) -> int:
        return self.forms_in_progress + self.forms_complete + self.forms_verified + self.forms_locked

    @property
    def oldest_open_query_days(self) -> int | None:
        if self.oldest_open_query_at is None:
            return None
        return ((self.now or timezone.now()) - self.oldest_open_query_at).days

    def share(self, name: str) -> float:
        return getattr(self, name) / self.forms_total if self.forms_total else 0.0


DASHBOARD_COLUMNS = [
    ("center", gettext_lazy("center")),
    ("patients_enrolled", gettext_lazy("patients enrolled")),
    ("forms_in_progress", gettext_lazy("forms in progress")),
    ("forms_complete", gettext_lazy("forms complete")),
    ("forms_verified", gettext_lazy("forms verified")),
    ("forms_locked", gettext_lazy("forms locked")),
    ("queries_open", gettext_lazy("open queries")),
    ("queries_answered", gettext_lazy("answered queries")),
    ("queries_open_over_alert", gettext_lazy("open queries older than 30 days")),
    ("oldest_open_query_days", gettext_lazy("oldest open query (days)")),
]


def monitoring_dashboard(*, user, now: dt.datetime | None = None) -> list[CenterProgress]:
    """One row per center the user may see, in three aggregate queries whatever the size."""
    now = now or timezone.now()
    centers = center_list_for_user(user=user).annotate(
        n_enrolled=Count(
            "patients", filter=Q(patients__is_deleted=False, patients__enrollment_status=EnrollmentStatus.ENROLLED)
        )
    )
    rows = {c.pk: CenterProgress(center=c, patients_enrolled=c.n_enrolled, now=now) for c in centers}
    forms = (
        FormState.objects.filter(patient__center__in=rows.keys(), patient__is_deleted=False)
        .order_by()
        .values("patient__center_id")
        .annotate(
            **{
                f"forms_{status}": Count("pk", filter=Q(status=status))
                for status in (FormStatus.IN_PROGRESS, FormStatus.COMPLETE, FormStatus.VERIFIED, FormStatus.LOCKED)
            }
        )
    )
    for counts in forms:
        row = rows[counts.pop("patient__center_id")]
        for name, value in counts.items():
            setattr(row, name, value)
    queries = (
        DataQuery.objects.filter(patient__center__in=rows.keys(), patient__is_deleted=False)
        .order_by()
        .values("patient__center_id")
        .annotate(
            queries_open=Count("pk", filter=Q(state=QueryState.OPEN)),
            queries_answered=Count("pk", filter=Q(state=QueryState.ANSWERED)),
            queries_open_over_alert=Count(
                "pk", filter=Q(state=QueryState.OPEN, raised_at__lte=now - dt.timedelta(days=QUERY_AGE_ALERT_DAYS))
            ),
            oldest_open_query_at=Min("raised_at", filter=Q(state=QueryState.OPEN)),
        )
    )
    for counts in queries:
        row = rows[counts.pop("patient__center_id")]
        for name, value in counts.items():
            setattr(row, name, value)
    return list(rows.values())


def dashboard_csv_rows(rows: Iterable[CenterProgress]) -> Iterator[list]:
    yield [str(label) for _name, label in DASHBOARD_COLUMNS]
    for row in rows:
        yield [row.center.code if name == "center" else ("" if getattr(row, name) is None else getattr(row, name))
               for name, _label in DASHBOARD_COLUMNS]


# ---------------------------------------------------------------------------
# Audit trail export

AUDIT_COLUMNS = [
    gettext_lazy("changed at"),
    gettext_lazy("center"),
    gettext_lazy("study ID"),
    gettext_lazy("form"),
    gettext_lazy("record"),
    gettext_lazy("record ID"),
    gettext_lazy("action"),
    gettext_lazy("user"),
    gettext_lazy("reason"),
    gettext_lazy("changes"),
]
AUDIT_SKIPPED_FIELDS = frozenset({"id", "version", "created_at", "updated_at", "changed_at"})
HISTORY_ACTIONS = {"+": gettext_lazy("created"), "~": gettext_lazy("changed"), "-": gettext_lazy("deleted")}
IDENTIFIER_SHOWN = "[direct identifier]"


@dataclass(frozen=True)
class AuditedModel:
    model: type[models.Model]
    patient_attr: str  # the patient's id on the history rows
    form: str | None  # None: the form is a column of the row (form states, queries)


def audited_models() -> list[AuditedModel]:
    audited = [
        AuditedModel(model, "id" if model is Patient else "patient_id", model.form_key)
        for model in sorted(clinical_models(), key=lambda m: (FormKey.values.index(m.form_key), m._meta.label))
    ]
    audited += [
        AuditedModel(FormState, "patient_id", None),
        AuditedModel(DataQuery, "patient_id", None),
        AuditedModel(CasebookSignature, "patient_id", FormKey.ENROLLMENT),
    ]
    return audited


def _local_day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _shown(model_field: models.Field, value) -> str:
    if is_direct_identifier(model_field):
        return IDENTIFIER_SHOWN
    if value is None:
        return ""
    return str(value)


def audit_trail_rows(
    *,
    user,
    center: str = "",
    username: str = "",
    form: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> Iterator[list[str]]:
    """Every recorded change of the casebooks the user may see, oldest first per record,
    with the old and new values of what changed. Direct identifiers show only that they
    changed. A generator: the rows stream out, one database cursor per audited model."""
    if not can_export_audit_trail(user):
        raise PermissionDenied(_("Only monitors export the audit trail."))
    patients = Patient.objects.filter(center__in=center_ids_for_user(user=user))
    if center:
        patients = patients.filter(center__code=center)
    labels = {pk: (study_id, code) for pk, study_id, code in patients.values_list("pk", "study_id", "center__code")}
    start = _local_day_start(date_from) if date_from else None
    end = _local_day_start(date_to + dt.timedelta(days=1)) if date_to else None
    yield [str(column) for column in AUDIT_COLUMNS]
    for audited in audited_models():
        if form and audited.form is not None and audited.form != form:
            continue
        history = audited.model.history.model.objects.filter(
            **{f"{audited.patient_attr}__in": patients.values("pk")}
        )
        if audited.form is None and form:
            history = history.filter(form=form)
        if end:
            history = history.filter(history_date__lt=end)  # earlier rows are needed for the differences
        fields = [f for f in audited.model._meta.concrete_fields if f.name not in AUDIT_SKIPPED_FIELDS]
        previous = None
        for record in history.select_related("history_user").order_by("id", "history_date", "history_id").iterator(2000):
            if previous is not None and previous.id != record.id:
                previous = None
            if (start is None or record.history_date >= start) and (
                not username or (record.history_user and record.history_user.get_username() == username)
            ):
                patient_id = getattr(record, audited.patient_attr)
                study_id, center_code = labels.get(patient_id, ("", ""))
                record_form = audited.form or record.form
                yield [
                    timezone.localtime(record.history_date).isoformat(timespec="seconds"),
                    center_code,
                    study_id,
                    str(FormKey(record_form).label) if record_form in FormKey.values else record_form,
                    str(audited.model._meta.verbose_name),
                    str(record.id),
                    str(HISTORY_ACTIONS.get(record.history_type, record.history_type)),
                    record.history_user.get_username() if record.history_user else "",
                    record.history_change_reason or "",
                    _changes(fields, record, previous),
                ]
            previous = record


def _changes(fields: list[models.Field], record, previous) -> str:
    parts = []
    for model_field in fields:
        new = getattr(record, model_field.attname)
        if previous is None:
            if new not in (None, "", False):
                parts.append(f"{model_field.name}: {_shown(model_field, new)}")
            continue
        old = getattr(previous, model_field.attname)
        if old != new:
            parts.append(f"{model_field.name}: {_shown(model_field, old)} → {_shown(model_field, new)}")
    return "; ".join(parts)


def csv_safe(value) -> str:
    """A cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
