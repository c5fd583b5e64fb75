"""Pages of data management (issue 6): queries, the monitors' form workflow, the automatic
checks, the monitoring dashboard, the audit trail export and the investigator sign-off.
Thin: the rules live in patients.data_management and outcomes.checks."""

from __future__ import annotations

import csv
import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from patients import data_management as dm
from patients.models import DataCheckRun, FormKey, FormStatus, Patient, QueryState
from patients.selectors import patient_get_for_user
from sites.roles import Role, has_role
from sites.selectors import center_list_for_user

AGE_CHOICES = [("", gettext_lazy("any age")), ("7", gettext_lazy("7 days or more")), ("30", gettext_lazy("30 days or more")),
               ("90", gettext_lazy("90 days or more"))]


def casebook_url(study_id: str, form: str = "") -> str:
    try:
        url = reverse("casebook:detail", args=[study_id])
    except NoReverseMatch:  # the casebook pages are another issue's; keep working without them
        url = f"/patients/{study_id}/"
    return f"{url}#form-{form}" if form else url


def _next_or(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def _require_monitor(request) -> None:
    if not dm.is_monitor(request.user):
        raise PermissionDenied


def _error_text(error: ValidationError | PermissionDenied) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error.args[0]) if error.args else _("You may not do this.")


# --- Queries ---------------------------------------------------------------------------


class QueryFilterForm(forms.Form):
    center = forms.ChoiceField(label=gettext_lazy("center"), required=False)
    state = forms.ChoiceField(label=gettext_lazy("state"), required=False,
                              choices=[("", gettext_lazy("all unresolved")), ("all", gettext_lazy("all")), *QueryState.choices])
    age = forms.ChoiceField(label=gettext_lazy("age"), required=False, choices=AGE_CHOICES)
    form = forms.ChoiceField(label=gettext_lazy("form"), required=False, choices=[("", gettext_lazy("all forms")), *FormKey.choices])

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["center"].choices = [("", _("all centers"))] + [
            (c.code, str(c)) for c in center_list_for_user(user=user)
        ]


@login_required
def query_list(request):
    if not dm.can_see_queries(request.user):
        raise Http404
    filters = QueryFilterForm(request.GET or None, user=request.user)
    values = filters.cleaned_data if filters.is_valid() else {}
    state = values.get("state") or ""
    queries = dm.query_list_for_user(
        user=request.user,
        center=values.get("center") or None,
        state="" if state in ("", "all") else state,
        min_age_days=int(values["age"]) if values.get("age") else None,
        form=values.get("form") or "",
    )
    if state == "":
        queries = queries.filter(state__in=[QueryState.OPEN, QueryState.ANSWERED])
    now = timezone.now()
    rows = [(query, dm.query_age_days(query, now=now), dm.field_label(query.form, query.field_name)) for query in queries[:500]]
    return render(request, "data_management/query_list.html", {
        "filters": filters, "rows": rows, "total": queries.count(), "is_monitor": dm.is_monitor(request.user),
    })


class QueryActionForm(forms.Form):
    text = forms.CharField(label=gettext_lazy("message"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


@login_required
def query_detail(request, pk: int):
    query = dm.query_get_for_user(user=request.user, pk=pk)
    form = QueryActionForm(request.POST or None)
    if request.method == "POST":
        action = request.POST.get("action", "")
        services = {"answer": dm.query_answer, "close": dm.query_close, "reopen": dm.query_reopen}
        if action not in services:
            return HttpResponse(_("Unknown action."), status=400)
        form.is_valid()
        try:
            services[action](user=request.user, query=query, text=form.cleaned_data.get("text", ""))
        except ValidationError as error:
            if hasattr(error, "error_dict") and "text" in error.error_dict:
                form.add_error("text", error.error_dict["text"])
            else:
                form.add_error(None, error)
        except PermissionDenied as error:
            form.add_error(None, _error_text(error))
        else:
            messages.success(request, {
                "answer": _("Your answer is sent."), "close": _("The query is closed."), "reopen": _("The query is re-opened."),
            }[action])
            return redirect("data_management:query-detail", pk=query.pk)
    row = dm.query_row(query)
    current_value = None
    if row is not None and query.field_name:
        value = getattr(row, f"get_{query.field_name}_display", None)
        current_value = value() if value else getattr(row, query.field_name, None)
        if isinstance(current_value, dt.date):
            current_value = current_value.isoformat()
    user = request.user
    return render(request, "data_management/query_detail.html", {
        "query": query,
        "thread": query.messages.select_related("author"),
        "field_label": dm.field_label(query.form, query.field_name, type(row) if row is not None else None),
        "row": row,
        "row_place": dm.row_place(query.form, row),
        "current_value": current_value,
        "age_days": dm.query_age_days(query),
        "form": form,
        "casebook_url": casebook_url(query.patient.study_id, query.form),
        "can_answer": query.state != QueryState.CLOSED and has_role(user, Role.COORDINATOR, Role.INVESTIGATOR),
        "can_close": query.state != QueryState.CLOSED and dm.is_monitor(user),
        "can_reopen": query.state == QueryState.CLOSED and dm.is_monitor(user),
    })


class QueryRaiseForm(forms.Form):
    form = forms.ChoiceField(label=gettext_lazy("form"), choices=FormKey.choices)
    row = forms.ChoiceField(label=gettext_lazy("row"), required=False)
    field_name = forms.ChoiceField(label=gettext_lazy("question of the form"), required=False)
    question = forms.CharField(label=gettext_lazy("your question"), widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, patient: Patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.rows = {}
        row_choices = [("", _("the whole form"))]
        field_choices = [("", _("no particular question"))]
        seen_fields = set()
        # The questions of the chosen form first, named as that form asks them (a name such as
        # start_date is a question of several forms).
        chosen = self.data.get("form") if self.is_bound else self.initial.get("form")
        models_in_order = sorted(dm.clinical_models(), key=lambda model: model.form_key != chosen)
        for model in models_in_order:
            content_type = ContentType.objects.get_for_model(model)
            rows = [patient] if model is Patient else model.objects.filter(patient=patient, is_deleted=False)
            for row in rows:
                key = f"{content_type.pk}-{row.pk}"
                self.rows[key] = row
                row_choices.append((key, dm.row_place(model.form_key, row)))
            for model_field in dm.question_fields(model):
                if model_field.name not in seen_fields:
                    seen_fields.add(model_field.name)
                    field_choices.append(
                        (model_field.name, f"{FormKey(model.form_key).label} · {capfirst(model_field.verbose_name)}")
                    )
        self.fields["row"].choices = row_choices
        self.fields["field_name"].choices = field_choices


@login_required
def query_raise_view(request, study_id: str):
    # The casebook first: one the user may not see is 404 before any role check says more.
    patient = patient_get_for_user(user=request.user, study_id=study_id)
    _require_monitor(request)
    initial = {key: request.GET.get(key, "") for key in ("form", "row", "field_name")}
    form = QueryRaiseForm(request.POST or None, initial=initial, patient=patient)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            query, _created = dm.query_raise(
                user=request.user, patient=patient, form=data["form"], question=data["question"],
                row=form.rows.get(data["row"]), field_name=data["field_name"],
            )
        except ValidationError as error:
            errors = error.error_dict if hasattr(error, "error_dict") else {None: error.error_list}
            for name, field_errors in errors.items():
                form.add_error(name if name in form.fields else None, field_errors)
        else:
            messages.success(request, _("Query %(pk)s raised.") % {"pk": query.pk})
            return redirect(_next_or(request, casebook_url(patient.study_id, query.form)))
    return render(request, "data_management/query_raise.html", {"patient": patient, "form": form,
                                                                 "next": request.GET.get("next", "")})


# --- Form workflow ---------------------------------------------------------------------


@login_required
def form_transition(request, study_id: str, form: str, action: str):
    """Verify, lock or unlock (with a reason) one form of a casebook (POST, monitors)."""
    patient = patient_get_for_user(user=request.user, study_id=study_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    _require_monitor(request)
    if form not in FormKey.values or action not in ("verify", "lock", "unlock"):
        raise Http404
    try:
        if action == "verify":
            state = dm.form_verify(user=request.user, patient=patient, form=form)
        elif action == "lock":
            state = dm.form_lock(user=request.user, patient=patient, form=form)
        else:
            state = dm.form_unlock(user=request.user, patient=patient, form=form, reason=request.POST.get("reason", ""))
    except (ValidationError, PermissionDenied) as error:
        messages.error(request, f"{FormKey(form).label}: {_error_text(error)}")
    else:
        messages.success(request, _("%(form)s: %(status)s.") % {"form": FormKey(form).label,
                                                                 "status": state.get_status_display()})
    return redirect(_next_or(request, casebook_url(study_id, form)))


# --- Automatic checks ---------------------------------------------------------------------


class CheckRunForm(forms.Form):
    center = forms.ChoiceField(label=gettext_lazy("center"), required=False)
    cutoff = forms.DateField(label=gettext_lazy("data cut-off"), required=False,
                             widget=forms.DateInput(attrs={"type": "date"}),
                             help_text=gettext_lazy("Empty: today (or the DATA_CHECKS_CUTOFF setting)."))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["center"].choices = [("", _("all centers"))] + [(c.code, str(c)) for c in center_list_for_user(user=user)]


@login_required
def check_runs(request):
    _require_monitor(request)
    from outcomes.checks import check_run_start
    from outcomes.tasks import casebook_checks_run_task
    from sites.jobs import QueueUnavailable, job_enqueue

    form = CheckRunForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        center = center_list_for_user(user=request.user).filter(code=form.cleaned_data["center"]).first()
        run = check_run_start(user=request.user, center=center, cutoff=form.cleaned_data["cutoff"])
        try:
            job_enqueue(casebook_checks_run_task, row=run, kwargs={"run_id": run.pk})
        except QueueUnavailable as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("The checks are running (run %(pk)s): new queries appear in the list.") % {"pk": run.pk})
        return redirect("data_management:checks")
    runs = DataCheckRun.objects.select_related("started_by", "center")[:20]
    return render(request, "data_management/checks.html", {"form": form, "runs": runs})


# --- Dashboard ---------------------------------------------------------------------------

CHART_SEGMENTS = [
    ("forms_in_progress", FormStatus.IN_PROGRESS.label, "#e0a526"),
    ("forms_complete", FormStatus.COMPLETE.label, "#4c9a52"),
    ("forms_verified", FormStatus.VERIFIED.label, "#1d4ed8"),
    ("forms_locked", FormStatus.LOCKED.label, "#5b3c9c"),
]


def progress_chart(rows: list[dm.CenterProgress], *, width: int = 640, bar: int = 18, gap: int = 8, label: int = 60) -> dict:
    """Geometry of a server-rendered SVG: one stacked bar per center, shares of its forms by status."""
    plot = width - label - 50
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
        bars.append({"y": y, "text_y": y + bar * 0.7, "code": row.center.code, "segments": segments, "total": row.forms_total,
                     "total_x": label + plot + 6})
    return {"width": width, "height": max(len(rows), 1) * (bar + gap) + 30, "bar": bar, "bars": bars,
            "legend_y": len(rows) * (bar + gap) + 14,
            "legend": [{"x": label + i * 120, "colour": c, "title": t} for i, (_n, t, c) in enumerate(CHART_SEGMENTS)]}


def _require_dashboard(request) -> None:
    if not dm.can_see_monitoring_dashboard(request.user):
        raise PermissionDenied


@login_required
def dashboard(request):
    _require_dashboard(request)
    rows = dm.monitoring_dashboard(user=request.user)
    return render(request, "data_management/dashboard.html", {"rows": rows, "chart": progress_chart(rows),
                                                              "alert_days": dm.QUERY_AGE_ALERT_DAYS})


class Echo:
    def write(self, value):
        return value


@login_required
def dashboard_csv(request):
    _require_dashboard(request)
    writer = csv.writer(Echo())
    body = "".join(writer.writerow([dm.csv_safe(v) for v in row]) for row in dm.dashboard_csv_rows(dm.monitoring_dashboard(user=request.user)))
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="monitoring-{timezone.localdate():%Y%m%d}.csv"'
    return response


# --- Audit trail ---------------------------------------------------------------------------


class AuditFilterForm(forms.Form):
    center = forms.ChoiceField(label=gettext_lazy("center"), required=False)
    username = forms.CharField(label=gettext_lazy("user"), required=False, max_length=150)
    form = forms.ChoiceField(label=gettext_lazy("form"), required=False, choices=[("", gettext_lazy("all forms")), *FormKey.choices])
    date_from = forms.DateField(label=gettext_lazy("from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=gettext_lazy("to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["center"].choices = [("", _("all centers"))] + [(c.code, str(c)) for c in center_list_for_user(user=user)]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end is before the start."))
        return data


def _require_audit(request) -> None:
    if not dm.can_export_audit_trail(request.user):
        raise PermissionDenied


@login_required
def audit_trail(request):
    _require_audit(request)
    return render(request, "data_management/audit.html", {"form": AuditFilterForm(user=request.user)})


@login_required
def audit_trail_csv(request):
    _require_audit(request)
    form = AuditFilterForm(request.GET, user=request.user)
    if not form.is_valid():
        return render(request, "data_management/audit.html", {"form": form}, status=400)
    rows = dm.audit_trail_rows(user=request.user, **form.cleaned_data)
    writer = csv.writer(Echo())
    response = StreamingHttpResponse((writer.writerow([dm.csv_safe(v) for v in row]) for row in rows),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{timezone.localdate():%Y%m%d}.csv"'
    return response


# --- Sign-off ----------------------------------------------------------------------------------


class SignForm(forms.Form):
    password = forms.CharField(label=gettext_lazy("Your password"), strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


@login_required
def casebook_sign_view(request, study_id: str):
    patient = patient_get_for_user(user=request.user, study_id=study_id)
    form = SignForm(request.POST or None)
    may_sign = has_role(request.user, Role.INVESTIGATOR)
    if request.method == "POST":
        if not may_sign:
            raise PermissionDenied
        if form.is_valid():
            try:
                dm.casebook_sign(user=request.user, patient=patient, password=form.cleaned_data["password"])
            except ValidationError as error:
                if "password" in getattr(error, "error_dict", {}):
                    form.add_error("password", error.error_dict["password"])
                else:
                    form.add_error(None, error)
            else:
                messages.success(request, _("The casebook is signed."))
                return redirect("data_management:sign", study_id=patient.study_id)
    return render(request, "data_management/sign.html", {
        "patient": patient,
        "form": form,
        "may_sign": may_sign,
        "meaning": dm.SIGNATURE_MEANING,
        "signature": dm.casebook_signature_get(patient=patient),
        "signatures": dm.casebook_signature_list(patient=patient),
        "unsigned_reasons": dm.casebook_unsigned_reasons(patient=patient),
        "casebook_url": casebook_url(patient.study_id),
    })
