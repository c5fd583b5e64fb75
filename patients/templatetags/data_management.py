"""Template helpers of data management (issue 6), for the casebook and home pages.

    {% load data_management %}
    {% open_queries_for_field patient "follow_up" "last_contact_date" row=row %}  badges on a field
    {% raise_query_link patient "follow_up" "last_contact_date" row=row %}         monitors: ask about it
    {% form_query_count patient "follow_up" as n %}                                 unresolved on a form
    {% form_workflow_actions patient "follow_up" %}                                 monitors: verify/lock/unlock
    {% casebook_signature_block patient %}                                          signature and sign-off link
    {% open_query_summary %}                                                        home page counts

The casebook's unresolved queries are read once per request and patient."""

from __future__ import annotations

from django import template
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from patients import data_management as dm
from patients.models import FormState, FormStatus, QueryState
from sites.roles import Role, has_role

register = template.Library()


@register.filter
def is_monitor(user) -> bool:
    return dm.is_monitor(user)


@register.filter
def may_see_dashboard(user) -> bool:
    return has_role(user, Role.MONITOR, Role.ADMINISTRATOR)


def _unresolved(context, patient) -> list:
    request = context.get("request")
    cache = getattr(request, "_dm_unresolved_queries", None) if request else None
    if cache is None:
        cache = {}
        if request is not None:
            request._dm_unresolved_queries = cache
    if patient.pk not in cache:
        user = context["user"] if "user" in context else getattr(request, "user", None)
        cache[patient.pk] = list(
            dm.query_list_for_user(user=user, patient=patient).filter(state__in=(QueryState.OPEN, QueryState.ANSWERED))
        )
    return cache[patient.pk]


def _row_key(row):
    if row is None:
        return None, None
    return ContentType.objects.get_for_model(row).pk, row.pk


@register.inclusion_tag("data_management/_field_queries.html", takes_context=True)
def open_queries_for_field(context, patient, form: str, field_name: str, row=None):
    """The unresolved queries on one field (of one row when given), as linked badges."""
    row_type, row_id = _row_key(row)
    queries = [
        q for q in _unresolved(context, patient)
        if q.form == form and q.field_name == field_name and (row is None or (q.row_content_type_id, q.row_id) == (row_type, row_id))
    ]
    return {"queries": queries, "field_name": field_name, "form": form}


@register.inclusion_tag("data_management/_raise_link.html", takes_context=True)
def raise_query_link(context, patient, form: str, field_name: str = "", row=None):
    user = context.get("user")
    row_type, row_id = _row_key(row)
    request = context.get("request")
    return {
        "show": dm.is_monitor(user),
        "url": reverse("data_management:query-raise", args=[patient.study_id]),
        "form": form,
        "row": f"{row_type}-{row_id}" if row is not None else "",
        "field_name": field_name,
        "next": request.get_full_path() if request else "",
    }


@register.simple_tag(takes_context=True)
def form_query_count(context, patient, form: str) -> int:
    return sum(1 for q in _unresolved(context, patient) if q.form == form)


@register.inclusion_tag("data_management/_form_actions.html", takes_context=True)
def form_workflow_actions(context, patient, form: str, status: str | None = None):
    """Verify / lock / unlock buttons of one form, for monitors."""
    user = context.get("user")
    if status is None:
        status = FormState.objects.filter(patient=patient, form=form).values_list("status", flat=True).first()
    request = context.get("request")
    return {
        "show": dm.is_monitor(user),
        "patient": patient,
        "form": form,
        "status": status,
        "can_verify": status == FormStatus.COMPLETE,
        "can_lock": status == FormStatus.VERIFIED,
        "can_unlock": status == FormStatus.LOCKED,
        "next": request.get_full_path() if request else "",
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("data_management/_signature_block.html", takes_context=True)
def casebook_signature_block(context, patient):
    return {"patient": patient, "signature": dm.casebook_signature_get(patient=patient)}


@register.inclusion_tag("data_management/_query_summary.html", takes_context=True)
def open_query_summary(context):
    """The user's unresolved queries, for the home page: the site's to answer, the monitor's to review."""
    user = context.get("user")
    counts = dm.open_query_counts(user=user)
    return {"counts": counts, "is_monitor": dm.is_monitor(user)}
