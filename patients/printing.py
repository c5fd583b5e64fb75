"""Printed forms: the blank case report form a site fills on paper, and a patient's filled
casebook for the site file, both as PDF (WeasyPrint).

Nothing here lists a form or a question by hand. The forms come from the casebook registry
in its order; the questions of each part, their order, groups, answer options, the
missing-data codes they take and when they apply come from the part's browser form (the
one the pages show), so the paper and the screen ask the same questions.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.formats import date_format, get_format
from django.utils.translation import gettext as _

from patients.clinical import FREE_TEXT_MASK, MissingCode, mask_for, missing_code
from patients.display import show_value
from patients.forms import CODE_SUFFIX, CRFForm, date_format_hint
from patients.models import FormState, Patient
from patients.queries import field_label, unresolved_query_list
from patients.registry import CasebookForm, Part, casebook
from patients.signatures import casebook_signature_list
from sites.roles import can_see_identifiers, can_see_queries

# Question kinds, as the paper form draws them.
CHOICE, YES_NO, DATE, NUMBER, TEXT, REFERENCE = "choice", "yes_no", "date", "number", "text", "reference"
# Empty rows a repeating part's table offers on paper.
BLANK_ROWS = 6
# A whole-number question with at most this many values more than its least is printed as boxes.
SMALL_RANGE = 6


@dataclass(frozen=True)
class PrintedQuestion:
    """One question as paper asks it: its answer options (value, label), the missing-data
    codes it takes instead of a value, and when it applies."""

    name: str
    label: str
    kind: str
    model_field: models.Field
    options: tuple[tuple[str, str], ...] = ()
    codes: tuple[tuple[str, str], ...] = ()
    required: bool = False
    help_text: str = ""
    condition: str = ""
    unit: str = ""
    reference: str = ""  # what a reference question names: "CTCAE v5 term (MedDRA code)"


@dataclass(frozen=True)
class PrintedPart:
    """A part's questions as its form asks them, in groups; `recorded`: the part's other
    questions, recorded without being asked on the form (the center, set at enrollment)."""

    part: Part
    title: str
    groups: tuple[tuple[str, tuple[PrintedQuestion, ...]], ...]
    recorded: tuple[PrintedQuestion, ...] = ()

    @property
    def repeating(self) -> bool:
        return self.part.repeating

    @property
    def questions(self) -> list[PrintedQuestion]:
        return [question for _legend, group in self.groups for question in group]


@dataclass(frozen=True)
class PrintedForm:
    form: CasebookForm
    parts: tuple[PrintedPart, ...]

    @property
    def key(self) -> str:
        return self.form.key

    @property
    def label(self) -> str:
        return str(self.form.label)


def _kind(model_field: models.Field) -> str:
    if model_field.is_relation:
        return REFERENCE
    if isinstance(model_field, models.BooleanField):
        return YES_NO
    if model_field.choices:
        return CHOICE
    if isinstance(model_field, models.DateField):
        return DATE
    if isinstance(model_field, models.IntegerField | models.DecimalField | models.FloatField):
        return NUMBER
    return TEXT


def _condition(form: CRFForm, name: str) -> str:
    """When a question applies, as a person reads it: "only when Vital status is Dead"."""
    conditions = form.conditional.get(name)
    if not conditions:
        return ""
    said = []
    for other, values in conditions:
        other_field = form.fields.get(other)
        choices = {str(value).lower(): str(label) for value, label in getattr(other_field, "choices", ()) or ()}
        shown = ", ".join(choices.get(value, value) for value in values)
        said.append(_("%(question)s is %(answer)s") % {"question": str(other_field.label) if other_field else other,
                                                      "answer": shown})
    return _("Only when %(conditions)s.") % {"conditions": _(" or ").join(said)}


def _value_range(model_field: models.Field) -> tuple[int, int] | None:
    """The least and greatest value of a whole-number question whose validators bound it
    to a short range (ECOG 0-4), or None."""
    if not isinstance(model_field, models.IntegerField):
        return None
    limits = {type(v): v.limit_value for v in model_field.validators
              if isinstance(v, MinValueValidator | MaxValueValidator) and isinstance(v.limit_value, int)}
    low, high = limits.get(MinValueValidator), limits.get(MaxValueValidator)
    if low is None or high is None or not 0 <= high - low <= SMALL_RANGE:
        return None
    return low, high


def _question(part: Part, form: CRFForm, name: str) -> PrintedQuestion:
    model_field = part.model._meta.get_field(name)
    form_field = form.fields[name] if name in form.fields else model_field.formfield()
    kind = _kind(model_field)
    options: tuple = ()
    reference = ""
    if kind in (CHOICE, YES_NO):
        options = tuple((str(value), str(label)) for value, label in form_field.choices
                        if value not in ("", None) and value not in MissingCode.values)
    elif kind == NUMBER and getattr(form_field.widget, "choices", None):
        # a number the form offers as a few choices (the AE grade)
        kind = CHOICE
        options = tuple((str(value), str(label)) for value, label in form_field.widget.choices)
    elif kind == NUMBER and _value_range(model_field):
        # a whole number in a short range (ECOG 0-4) is ticked, not written
        low, high = _value_range(model_field)
        kind = CHOICE
        options = tuple((str(n), str(n)) for n in range(low, high + 1))
    elif kind == REFERENCE:
        reference = f"{model_field.related_model._meta.verbose_name} ({model_field.target_field.verbose_name})"
    codes = ()
    if part.accepts_code(name):
        # A yes/no question offers Unknown among its answers; any other one the three codes.
        accepted = [MissingCode.UNKNOWN] if kind == YES_NO else list(MissingCode)
        codes = tuple((code.value, str(code.label)) for code in accepted)
    return PrintedQuestion(
        name=name, label=str(form_field.label or model_field.verbose_name), kind=kind, model_field=model_field,
        options=options, codes=codes, required=name in form.required_questions, help_text=str(form_field.help_text or ""),
        condition=_condition(form, name), unit=getattr(model_field, "unit", ""), reference=reference,
    )


def printed_part(part: Part) -> PrintedPart:
    """The questions of one part, grouped and ordered as its browser form asks them."""
    form = part.form_class(instance=part.model())
    groups = []
    for legend, fields in form.grouped_fields():
        questions = tuple(_question(part, form, bound.name) for bound, _show, _code in fields
                          if bound.name in form._meta.fields and not bound.name.endswith(CODE_SUFFIX))
        if questions:
            groups.append((str(legend), questions))
    asked = set(form._meta.fields)
    recorded = tuple(_question(part, form, f.name) for f in part.question_fields() if f.name not in asked)
    return PrintedPart(part=part, title=str(part.title), groups=tuple(groups), recorded=recorded)


def printed_forms() -> list[PrintedForm]:
    """Every form of the casebook, in registry order, with its questions."""
    return [PrintedForm(form=form, parts=tuple(printed_part(part) for part in form.parts)) for form in casebook.forms()]


def date_hint() -> str:
    """How a date is written on paper in the active language: dd/mm/yyyy."""
    return date_format_hint(get_format("DATE_INPUT_FORMATS")[0])


def render_pdf(template: str, context: dict) -> bytes:
    """A printed form's template as PDF. Fonts are the system's (DejaVu), nothing is fetched."""
    from weasyprint import HTML  # heavy, and only needed here

    return HTML(string=render_to_string(template, context)).write_pdf()


def blank_crf_pdf() -> bytes:
    """The blank CRF in the active language: every form and question with its answer options,
    boxes and lines to write in; repeating parts as tables with empty rows."""
    return render_pdf("print/crf.html", {"forms": printed_forms(), "date_hint": date_hint(),
                                         "blank_rows": range(BLANK_ROWS), "missing_codes": MissingCode.choices})


# -- the filled casebook -------------------------------------------------------------------


def printed_answer(question: PrintedQuestion, row, *, identifiers_shown: bool) -> str:
    """A question's answer on paper: the value, the missing-data code with its meaning, or a
    mask where the reader may not see the value."""
    value = getattr(row, question.name, None)
    code = missing_code(row, question.name)
    if (value is None or value == "") and not code:
        return "—"  # nothing to hide
    mask = mask_for(question.model_field, identifiers_shown=identifiers_shown)
    if mask:
        return mask
    if code and (value is None or value == ""):
        meaning = MissingCode(code).label if code in MissingCode.values else ""
        return f"{code} ({meaning})" if meaning else code
    if question.kind == REFERENCE:
        if value is None:
            return "—"
        # the reference's name and its key: "Febrile neutropenia (10016288)"
        return str(value) if str(value) == str(value.pk) else f"{value} ({value.pk})"
    return show_value(question.model_field, value)


@dataclass
class FilledPart:
    printed: PrintedPart
    rows: list[tuple[str, list[tuple[PrintedQuestion, str]]]]  # (row label, [(question, answer)])


def _live_rows(patient: Patient, part: Part) -> list:
    if part.is_patient:
        return [patient]
    if part.repeating:
        return list(getattr(patient, part.related_name).all())
    try:
        row = getattr(patient, part.related_name)
    except part.model.DoesNotExist:
        return []
    return [] if row.is_deleted else [row]


def person(user) -> str:
    """A user as the site file names them: full name and user name."""
    if user is None:
        return "—"
    full = user.get_full_name()
    return f"{full} ({user.get_username()})" if full else user.get_username()


def _state_history(patient: Patient, *, reasons_shown: bool) -> dict[str, list[dict]]:
    """Each form's state changes, oldest first: who marked, verified, locked or reopened it,
    when, and why (a typed reason is free text: masked as on the audit trail)."""
    history: dict[str, list[dict]] = {}
    records = (FormState.history.filter(patient_id=patient.pk).select_related("history_user")
               .order_by("history_date", "history_id"))
    for record in records:
        reason = record.history_change_reason or ""
        history.setdefault(record.form, []).append({
            "status": record.get_status_display(), "who": person(record.history_user),
            "when": date_format(timezone.localtime(record.history_date), "SHORT_DATETIME_FORMAT"),
            "reason": reason if reasons_shown or not reason else FREE_TEXT_MASK,
        })
    return history


def filled_casebook_context(patient: Patient, *, user) -> dict:
    """Everything the filled casebook prints: every form in registry order with its status and
    state history, every row with every question and its answer, the signatures and the open
    queries the user may see. `patient` comes from `casebook_get_for_user`."""
    shown = can_see_identifiers(user)
    states = {state.form: state for state in patient.form_states.all()}
    history = _state_history(patient, reasons_shown=shown)
    queries = unresolved_query_list(user=user, patient=patient)
    forms = []
    for printed in printed_forms():
        parts = []
        for printed_part_ in printed.parts:
            rows = [
                (printed_part_.part.row_label(row) if printed_part_.repeating else "",
                 [(question, printed_answer(question, row, identifiers_shown=shown)) for question in printed_part_.questions])
                for row in _live_rows(patient, printed_part_.part)
            ]
            parts.append(FilledPart(printed=printed_part_, rows=rows))
        forms.append({
            "printed": printed, "state": states.get(printed.key), "history": history.get(printed.key, []),
            "parts": parts,
            "queries": [(query, field_label(query.form, query.field_name) if query.field_name else "")
                        for query in queries if query.form == printed.key],
        })
    return {
        "patient": patient, "forms": forms, "signatures": list(casebook_signature_list(patient=patient)),
        "identifiers_shown": shown, "queries_shown": can_see_queries(user), "printed_by": user,
    }


def filled_casebook_pdf(patient: Patient, *, user, printed_at) -> bytes:
    context = filled_casebook_context(patient, user=user)
    context["printed_at"] = date_format(printed_at, "SHORT_DATETIME_FORMAT")
    return render_pdf("print/casebook.html", context)
