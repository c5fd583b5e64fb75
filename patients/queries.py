"""Data queries: a monitor's question about a form of a casebook, or one field of one row of
it; the site's answer; the monitor's close or re-open. Services write in one transaction
with their history entry; selectors take the requesting user and scope to the centers the
user may see."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import (
    UNRESOLVED_QUERY_STATES,
    DataQuery,
    DataQueryMessage,
    Patient,
    QueryMessageKind,
    QueryState,
)
from patients.registry import casebook
from patients.selectors import patient_list_for_user
from patients.validators import reason_text
from sites.models import Center
from sites.roles import can_answer_queries, can_review_forms, can_see_queries
from sites.selectors import center_ids_for_user

QUERY_AGE_ALERT_DAYS = 30


def require_reviewer(user) -> None:
    if not can_review_forms(user):
        raise PermissionDenied(_("Only monitors do this."))


def require_visible(*, user, patient: Patient) -> None:
    if not patient_list_for_user(user=user).filter(pk=patient.pk).exists():
        raise PermissionDenied(_("You may not see this casebook."))


def field_label(form: str, field_name: str, row_model: type[models.Model] | None = None) -> str:
    """The question a field asks, in the form (or the row's model) it belongs to."""
    parts = [casebook.part_for(row_model)] if row_model else (casebook.form(form).parts if casebook.has_form(form) else ())
    for part in parts:
        try:
            return str(part.model._meta.get_field(field_name).verbose_name)
        except FieldDoesNotExist:
            continue
    return field_name


def row_place(form: str, row: models.Model | None) -> str:
    """Where in the casebook a row is, as a person says it: "Follow-up & outcome",
    "IO cycles · IO cycle 2", "IO cycles · End of IO treatment"."""
    if row is None:
        return casebook.label(form)
    return casebook.part_for(row).place(row)


def query_raiser(query: DataQuery) -> str:
    """Who asked, as the pages say it: the automatic checks for a query they raised (the
    monitor whose run raised it stays its `raised_by`, in the history), else the monitor."""
    if query.check_key:
        return _("Automatic checks")
    return person_name(query.raised_by)


def person_name(user) -> str:
    """A user as the pages name them: full name, else user name."""
    if user is None:
        return "—"
    return user.get_full_name() or user.get_username()


def _query_target(*, patient: Patient, form: str, row: models.Model | None, field_name: str) -> None:
    """Refuses a query about a form, row or field that is not this patient's."""
    if not casebook.has_form(form):
        raise ValidationError({"form": _("Unknown form.")})
    parts = casebook.form(form).parts
    if row is not None:
        if type(row) not in {part.model for part in parts}:
            raise ValidationError({"row": _("This row does not belong to the form.")})
        if row.casebook_patient_id != patient.pk:
            raise ValidationError({"row": _("This row is not of this patient.")})
        parts = [casebook.part_for(row)]
    if field_name and not any(
        field_name in {f.name for f in part.question_fields()} for part in parts
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
    require_reviewer(user)
    require_visible(user=user, patient=patient)
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
    if not can_answer_queries(user):
        raise PermissionDenied(_("Only the site's staff answer queries."))
    query = _query_locked(query)
    require_visible(user=user, patient=query.patient)
    if not reason_text(text):
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
    require_reviewer(user)
    query = _query_locked(query)
    require_visible(user=user, patient=query.patient)
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
    require_reviewer(user)
    query = _query_locked(query)
    require_visible(user=user, patient=query.patient)
    if query.state != QueryState.CLOSED:
        raise ValidationError(_("Only a closed query can be re-opened."))
    if not reason_text(text):
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
    if not can_see_queries(user):
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
