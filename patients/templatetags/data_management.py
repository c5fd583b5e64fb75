"""Template helpers of data management, for the casebook and home pages.

    {% load data_management %}
    {% open_queries_for_field patient "follow_up" "last_contact_date" row=row %}  flags on a field
    {% raise_query_link patient "follow_up" "last_contact_date" row=row %}         monitors: ask about it
    {% form_query_count patient "follow_up" as n %}                                 unresolved on a form
    {% form_workflow_actions patient "follow_up" status %}                          monitors: verify/lock/unlock
    {% casebook_signature_block patient %}                                          signature and sign-off link
    {% open_query_summary counts %}                                                 home page counts

The casebook's unresolved queries are read once per page: from the context's
`unresolved_queries` when the view gives them for its `patient`, else once per request."""

from __future__ import annotations

from django import template
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from patients.models import FormState
from patients.queries import OpenQueryCounts, field_label, open_query_counts, unresolved_query_list
from patients.signatures import casebook_signature_list
from patients.workflow import MONITOR_ACTIONS, transitions_available
from sites.roles import can_answer_queries, can_review_forms, can_see_queries, can_sign_casebook

register = template.Library()


def _unresolved(context, patient) -> list:
    given = context.get("patient")
    if given is not None and given.pk == patient.pk and context.get("unresolved_queries") is not None:
        return context["unresolved_queries"]
    request = context.get("request")
    cache = getattr(request, "_dm_unresolved_queries", None) if request else None
    if cache is None:
        cache = {}
        if request is not None:
            request._dm_unresolved_queries = cache
    if patient.pk not in cache:
        user = context["user"] if "user" in context else getattr(request, "user", None)
        cache[patient.pk] = unresolved_query_list(user=user, patient=patient)
    return cache[patient.pk]


def _row_key(row):
    if row is None or row.pk is None:
        return None, None
    return ContentType.objects.get_for_model(row).pk, row.pk


def _back_to(context, form: str) -> str:
    """Where a monitor's action returns: this page, at the form's section."""
    request = context.get("request")
    return f"{request.get_full_path()}#form-{form}" if request else ""


@register.inclusion_tag("data_management/_field_queries.html", takes_context=True)
def open_queries_for_field(context, patient, form: str, field_name: str, row=None, compact: bool = False):
    """The unresolved queries on one field (of one row when given; "" for the queries on the
    row or form as a whole), as links with their state and, unless compact, their question."""
    if row is not None and row.pk is None:
        return {"queries": []}  # a new row: nothing asked about it yet
    row_type, row_id = _row_key(row)
    queries = [
        q for q in _unresolved(context, patient)
        if q.form == form and q.field_name == field_name and (row is None or (q.row_content_type_id, q.row_id) == (row_type, row_id))
    ]
    return {"queries": queries, "field_name": field_name, "form": form, "compact": compact}


@register.inclusion_tag("data_management/_raise_link.html", takes_context=True)
def raise_query_link(context, patient, form: str, field_name: str = "", row=None, label: str = ""):
    """Monitors: a link to the query form, with the form, row and field chosen."""
    user = context.get("user")
    if not can_review_forms(user):
        return {"show": False}
    row_type, row_id = _row_key(row)
    return {
        "show": True,
        "url": reverse("data_management:query-raise", args=[patient.study_id]),
        "form": form,
        "row": f"{row_type}-{row_id}" if row_id is not None else "",
        "field_name": field_name,
        "field_label": field_label(form, field_name, type(row) if row is not None else None) if field_name else "",
        "label": label,
        "next": _back_to(context, form),
    }


@register.simple_tag(takes_context=True)
def form_query_count(context, patient, form: str) -> int:
    return sum(1 for q in _unresolved(context, patient) if q.form == form)


@register.inclusion_tag("data_management/_form_actions.html", takes_context=True)
def form_workflow_actions(context, patient, form: str, status: str | None = None):
    """Verify / lock / unlock buttons of one form, for monitors. Give the form's `status`
    ("" for a form with no data) where the page has it: without it, it is read here."""
    user = context.get("user")
    show = can_review_forms(user)
    if status is None and show:
        status = FormState.objects.filter(patient=patient, form=form).values_list("status", flat=True).first()
    transitions = transitions_available(user=user, status=status, actions=MONITOR_ACTIONS) if show else []
    return {
        "show": show,
        "patient": patient,
        "form": form,
        "status": status,
        "transitions": transitions,
        # The services refuse to verify or lock a form whose queries are not closed: say so first.
        "queries_unresolved": any(t.needs_closed_queries for t in transitions)
        and form_query_count(context, patient, form) > 0,
        "next": _back_to(context, form),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("data_management/_signature_block.html", takes_context=True)
def casebook_signature_block(context, patient):
    """The casebook's signature (who signed, when), its history, and the way to sign."""
    signatures = list(casebook_signature_list(patient=patient))
    user = context.get("user")
    return {
        "patient": patient,
        "signature": next((s for s in signatures if not s.is_void), None),
        "signatures": signatures,
        "may_sign": can_sign_casebook(user),
    }


@register.inclusion_tag("data_management/_query_summary.html", takes_context=True)
def open_query_summary(context, counts: OpenQueryCounts | None = None):
    """The user's unresolved queries, for the home page: the site's to answer, the monitor's
    to review. Pass the page's `counts` (`open_query_counts`) not to count them again."""
    user = context.get("user")
    if counts is None:
        counts = open_query_counts(user=user, per_field=False)
    return {
        "counts": counts,
        "show": can_see_queries(user),
        "is_monitor": can_review_forms(user),
        "is_site_staff": can_answer_queries(user),
    }
