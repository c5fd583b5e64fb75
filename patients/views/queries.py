"""Pages of data queries: the list, a query's thread (answer, close, re-open), raising one."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from patients.display import show_answer
from patients.models import Patient, QueryMessageKind, QueryState
from patients.queries import (
    field_label,
    person_name,
    query_age_days,
    query_answer,
    query_close,
    query_get_for_user,
    query_list_for_user,
    query_raise,
    query_raiser,
    query_reopen,
    query_row,
    row_place,
)
from patients.registry import casebook, form_choices
from patients.selectors import patient_get_for_user
from patients.views.common import casebook_url, center_choices, error_text, next_or
from sites.roles import can_answer_queries, can_review_forms, can_see_queries

AGE_CHOICES = [("", gettext_lazy("any age")), ("7", gettext_lazy("7 days or more")), ("30", gettext_lazy("30 days or more")),
               ("90", gettext_lazy("90 days or more"))]


class QueryFilterForm(forms.Form):
    center = forms.ChoiceField(label=gettext_lazy("center"), required=False)
    state = forms.ChoiceField(label=gettext_lazy("state"), required=False,
                              choices=[("", gettext_lazy("all unresolved")), ("all", gettext_lazy("all")), *QueryState.choices])
    age = forms.ChoiceField(label=gettext_lazy("age"), required=False, choices=AGE_CHOICES)
    form = forms.ChoiceField(label=gettext_lazy("form"), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["center"].choices = center_choices(user)
        self.fields["form"].choices = [("", _("all forms")), *casebook.choices()]


@login_required
def query_list(request):
    if not can_see_queries(request.user):
        raise Http404
    filters = QueryFilterForm(request.GET or None, user=request.user)
    values = filters.cleaned_data if filters.is_valid() else {}
    state = values.get("state") or ""
    queries = query_list_for_user(
        user=request.user,
        center=values.get("center") or None,
        state="" if state in ("", "all") else state,
        min_age_days=int(values["age"]) if values.get("age") else None,
        form=values.get("form") or "",
    )
    if state == "":
        queries = queries.filter(state__in=[QueryState.OPEN, QueryState.ANSWERED])
    now = timezone.now()
    rows = [(query, query_age_days(query, now=now), field_label(query.form, query.field_name), query_raiser(query))
            for query in queries[:500]]
    return render(request, "data_management/query_list.html", {
        "filters": filters, "rows": rows, "total": queries.count(), "is_monitor": can_review_forms(request.user),
    })


# The entries of a thread, as nouns: "Answer" alone is also the button's verb.
THREAD_KIND_LABELS = {
    QueryMessageKind.QUESTION: pgettext_lazy("query thread entry", "Question"),
    QueryMessageKind.ANSWER: pgettext_lazy("query thread entry", "Answer"),
    QueryMessageKind.CLOSE: pgettext_lazy("query thread entry", "Closed"),
    QueryMessageKind.REOPEN: pgettext_lazy("query thread entry", "Re-opened"),
}


def _thread(query) -> list[tuple]:
    """(entry label, author, message) of each entry; the question of an automatic check is
    the checks', not the monitor's who ran them."""
    entries = []
    for message in query.messages.select_related("author"):
        automatic = query.check_key and message.kind == QueryMessageKind.QUESTION
        entries.append((THREAD_KIND_LABELS.get(message.kind, message.get_kind_display()),
                        _("Automatic checks") if automatic else person_name(message.author), message))
    return entries


class QueryActionForm(forms.Form):
    text = forms.CharField(label=gettext_lazy("message"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


@login_required
def query_detail(request, pk: int):
    query = query_get_for_user(user=request.user, pk=pk)
    form = QueryActionForm(request.POST or None)
    if request.method == "POST":
        action = request.POST.get("action", "")
        services = {"answer": query_answer, "close": query_close, "reopen": query_reopen}
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
            form.add_error(None, error_text(error))
        else:
            messages.success(request, {
                "answer": _("Your answer is sent."), "close": _("The query is closed."), "reopen": _("The query is re-opened."),
            }[action])
            return redirect("data_management:query-detail", pk=query.pk)
    row = query_row(query)
    current_value = None
    if row is not None and query.field_name:
        current_value = show_answer(type(row)._meta.get_field(query.field_name), row, query.field_name)
    user = request.user
    return render(request, "data_management/query_detail.html", {
        "query": query,
        "thread": _thread(query),
        "raised_by": query_raiser(query),
        "run_by": person_name(query.raised_by) if query.check_key else "",
        "field_label": field_label(query.form, query.field_name, type(row) if row is not None else None),
        "row": row,
        "row_place": row_place(query.form, row),
        "current_value": current_value,
        "age_days": query_age_days(query),
        "form": form,
        "casebook_url": casebook_url(query.patient.study_id, query.form),
        "can_answer": query.state != QueryState.CLOSED and can_answer_queries(user),
        "can_close": query.state != QueryState.CLOSED and can_review_forms(user),
        "can_reopen": query.state == QueryState.CLOSED and can_review_forms(user),
    })


class QueryRaiseForm(forms.Form):
    """A query on the chosen form: its rows, and its questions with the whole question and
    the value now (of the chosen row, or of the form's single row). The lists follow the
    chosen form (the page asks for them again when it changes: data_management/query_raise.html)."""

    form = forms.ChoiceField(label=gettext_lazy("form"), choices=form_choices)
    row = forms.ChoiceField(label=gettext_lazy("row"), required=False)
    field_name = forms.ChoiceField(label=gettext_lazy("question of the form"), required=False)
    question = forms.CharField(label=gettext_lazy("your question"), widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, patient: Patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.rows = {}
        source = self.data if self.is_bound else self.initial
        chosen = source.get("form") if casebook.has_form(source.get("form")) else casebook.form_keys()[0]
        parts = casebook.form(chosen).parts
        row_choices = [("", _("the whole form"))]
        for part in parts:
            content_type = ContentType.objects.get_for_model(part.model)
            rows = [patient] if part.is_patient else part.model.objects.filter(patient=patient, is_deleted=False)
            for row in rows:
                key = f"{content_type.pk}-{row.pk}"
                self.rows[key] = row
                row_choices.append((key, row_place(part.key, row)))
        chosen_row = self.rows.get(source.get("row") or "")
        field_choices = [("", _("no particular question"))]
        seen = set()
        for part in parts:
            # The value shown: of the chosen row, or of the part's only row.
            shown = chosen_row if chosen_row is not None and casebook.part_for(chosen_row) is part else None
            if shown is None and not part.repeating:
                shown = next((row for row in self.rows.values() if casebook.part_for(row) is part), None)
            for model_field in part.question_fields():
                if model_field.name in seen:
                    continue
                seen.add(model_field.name)
                label = capfirst(model_field.verbose_name)
                if len(parts) > 1:
                    label = f"{capfirst(part.title)} · {label}"
                if shown is not None:
                    value = strip_tags(show_answer(model_field, shown, model_field.name))
                    label = _("%(question)s (now: %(value)s)") % {"question": label, "value": value}
                field_choices.append((model_field.name, label))
        self.fields["row"].choices = row_choices
        self.fields["field_name"].choices = field_choices


@login_required
def query_raise_view(request, study_id: str):
    # The casebook first: one the user may not see is 404 before any role check says more.
    patient = patient_get_for_user(user=request.user, study_id=study_id)
    if not can_review_forms(request.user):
        raise PermissionDenied
    initial = {key: request.GET.get(key, "") for key in ("form", "row", "field_name", "question")}
    form = QueryRaiseForm(request.POST or None, initial=initial, patient=patient)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            query, _created = query_raise(
                user=request.user, patient=patient, form=data["form"], question=data["question"],
                row=form.rows.get(data["row"]), field_name=data["field_name"],
            )
        except ValidationError as error:
            errors = error.error_dict if hasattr(error, "error_dict") else {None: error.error_list}
            for name, field_errors in errors.items():
                form.add_error(name if name in form.fields else None, field_errors)
        else:
            messages.success(request, _("Query %(pk)s raised.") % {"pk": query.pk})
            return redirect(next_or(request, casebook_url(patient.study_id, query.form)))
    return render(request, "data_management/query_raise.html", {"patient": patient, "form": form,
                                                                 "next": request.GET.get("next", "")})
