"""Reads of analysis reports, scoped to the user: only statisticians and administrators see them."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from analytics.models import Report
from sites.roles import can_run_analyses


def report_list_for_user(*, user) -> QuerySet[Report]:
    if not can_run_analyses(user):
        return Report.objects.none()
    return Report.objects.select_related("requested_by")


def report_get_for_user(*, user, report_id: int) -> Report:
    """The report, or 404 when it does not exist or the user may not see it."""
    try:
        return report_list_for_user(user=user).get(pk=report_id)
    except Report.DoesNotExist:
        raise Http404 from None
