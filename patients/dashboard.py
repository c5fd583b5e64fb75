"""The monitoring dashboard: per center, enrolled patients, forms by status and the age of
open queries, as a table, a stacked-bar chart (server-rendered SVG) and a CSV file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from patients.models import DataQuery, EnrollmentStatus, FormState, FormStatus, QueryState
from patients.queries import QUERY_AGE_ALERT_DAYS
from patients.registry import casebook
from sites.models import Center
from sites.selectors import center_list_for_user


@dataclass
class CenterProgress:
    center: Center
    patients_enrolled: int = 0
    forms_expected: int = 0  # see `expected_form_count`
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
        """The forms started: those with a state."""
        return self.forms_in_progress + self.forms_complete + self.forms_verified + self.forms_locked

    @property
    def forms_not_started(self) -> int:
        return max(self.forms_expected - self.forms_total, 0)

    @property
    def oldest_open_query_days(self) -> int | None:
        if self.oldest_open_query_at is None:
            return None
        return ((self.now or timezone.now()) - self.oldest_open_query_at).days

    def share(self, name: str) -> float:
        """The part of the expected forms (or of the started ones, if more) in a status."""
        whole = max(self.forms_expected, self.forms_total)
        return getattr(self, name) / whole if whole else 0.0


def expected_form_count(*, enrolled: int, not_enrolled: int) -> int:
    """The forms a center's casebooks are expected to hold: every form of the casebook for each
    enrolled patient (each must be marked complete, a repeating form with no row too), and the
    enrollment form alone for a patient recorded as excluded or withdrawn."""
    return enrolled * len(casebook) + not_enrolled


DASHBOARD_COLUMNS = [
    ("center", gettext_lazy("center")),
    ("patients_enrolled", gettext_lazy("patients enrolled")),
    ("forms_expected", gettext_lazy("forms expected")),
    ("forms_not_started", gettext_lazy("forms not started")),
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
        ),
        n_live=Count("patients", filter=Q(patients__is_deleted=False)),
    )
    rows = {
        c.pk: CenterProgress(center=c, patients_enrolled=c.n_enrolled, now=now,
                             forms_expected=expected_form_count(enrolled=c.n_enrolled, not_enrolled=c.n_live - c.n_enrolled))
        for c in centers
    }
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


CHART_SEGMENTS = [
    ("forms_in_progress", FormStatus.IN_PROGRESS.label, "#e0a526"),
    ("forms_complete", FormStatus.COMPLETE.label, "#4c9a52"),
    ("forms_verified", FormStatus.VERIFIED.label, "#1d4ed8"),
    ("forms_locked", FormStatus.LOCKED.label, "#5b3c9c"),
    ("forms_not_started", gettext_lazy("Not started"), "#c9ced6"),
]


def progress_chart(rows: list[CenterProgress], *, width: int = 640, bar: int = 18, gap: int = 8, label: int = 60) -> dict:
    """Geometry of a server-rendered SVG: one stacked bar per center, shares of its expected
    forms by status (not started included); beside it, the started forms of the expected ones."""
    plot = width - label - 70
    bars = []
    for index, row in enumerate(rows):
        y = index * (bar + gap)
        x = label
        segments = []
        for name, title, colour in CHART_SEGMENTS:
            share = row.share(name)
            w = round(share * plot, 1)
            if w:
                segments.append({"x": x, "width": w, "colour": colour, "title": f"{row.center.code} {title}: {getattr(row, name)}"})
            x += w
        bars.append({"y": y, "text_y": y + bar * 0.7, "code": row.center.code, "segments": segments, "total": f"{row.forms_total}/{row.forms_expected}",
                     "total_x": label + plot + 6})
    return {"width": width, "height": max(len(rows), 1) * (bar + gap) + 30, "bar": bar, "bars": bars,
            "legend_y": len(rows) * (bar + gap) + 14,
            "legend": [{"x": i * 120, "colour": c, "title": t} for i, (_n, t, c) in enumerate(CHART_SEGMENTS)]}
