"""The annotated case report form: the blank CRF with, beside each question, the variable
that holds its answer (its name, type, code list and the missing-data codes it takes) and
where the de-identified export puts it.

Every annotation is derived: the questions from the casebook registry and each part's
browser form (`patients.printing`), the names, types and code lists from the model fields,
the export names from the export allowlist (`analytics.exports.variables`). Nothing is
written by hand, so the annotated CRF cannot drift from the forms or the exports.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext as _

from analytics.exports.variables import MISSING_SUFFIX, Table, Variable, export_tables
from patients.clinical import MissingCode, is_direct_identifier, is_free_text
from patients.printing import PrintedForm, PrintedQuestion, date_hint, printed_forms, render_pdf


@dataclass(frozen=True)
class Annotation:
    """What the annotated CRF prints beside one question."""

    question: PrintedQuestion
    variable: str
    type: str
    code_list: tuple[tuple[str, str], ...]
    missing_codes: tuple[str, ...]
    export: str  # "table.variable", or why the question is never exported


def variable_type(model_field: models.Field) -> str:
    """The variable's type as a data dictionary states it."""
    if model_field.is_relation:
        target = model_field.target_field
        if not target.max_length:
            return _("code (%(model)s)") % {"model": model_field.related_model._meta.verbose_name}
        return _("code (%(model)s, %(length)s characters)") % {
            "model": model_field.related_model._meta.verbose_name, "length": target.max_length}
    if isinstance(model_field, models.BooleanField):
        return _("yes/no")
    if isinstance(model_field, models.DateField):
        return _("date")
    if isinstance(model_field, models.DecimalField):
        return _("decimal (%(digits)s digits, %(places)s after the point)") % {
            "digits": model_field.max_digits, "places": model_field.decimal_places}
    if isinstance(model_field, models.IntegerField):
        return _("integer")
    if model_field.choices:
        return _("code")
    if isinstance(model_field, models.CharField):
        return _("text (at most %(length)s characters)") % {"length": model_field.max_length}
    return _("text")


def code_list(question: PrintedQuestion) -> tuple[tuple[str, str], ...]:
    """The stored values of a question with a code list, with their meanings: the model's
    choices, or the few values its form offers (the AE grades)."""
    model_field = question.model_field
    if isinstance(model_field, models.BooleanField):
        return (("true", str(_("Yes"))), ("false", str(_("No"))))
    if model_field.flatchoices:
        return tuple((str(value), str(label)) for value, label in model_field.flatchoices if value not in ("", None))
    return question.options


def _export_place(table: Table | None, name: str, model_field: models.Field) -> str:
    variables = {variable.name for variable in table.variables} if table else set()
    if name in variables:
        exported = f"{table.name}.{name}"
        if name in table.codable:
            exported += f" + {table.name}.{name}{MISSING_SUFFIX}"
        return exported
    if is_direct_identifier(model_field):
        return _("never exported: direct identifier")
    if is_free_text(model_field):
        return _("never exported: free text")
    return _("not exported")


def annotated_forms() -> list[tuple[PrintedForm, list[tuple[object, list[Annotation], list[Variable]]]]]:
    """Every form with, per part, the annotation of each question and the export's derived
    variables of that part (computed from the answers, never asked)."""
    tables = {table.model: table for table in export_tables()}
    annotated = []
    for form in printed_forms():
        parts = []
        for part in form.parts:
            table = tables.get(part.part.model)
            annotations = [
                Annotation(
                    question=question, variable=question.name, type=variable_type(question.model_field),
                    code_list=code_list(question),
                    missing_codes=tuple(MissingCode.values) if part.part.accepts_code(question.name) else (),
                    export=_export_place(table, question.name, question.model_field),
                )
                for question in (*part.questions, *part.recorded)
            ]
            asked = {annotation.variable for annotation in annotations}
            derived = [variable for variable in (table.variables if table else ()) if variable.name not in asked]
            parts.append((part, annotations, derived))
        annotated.append((form, parts))
    return annotated


def annotated_crf_pdf() -> bytes:
    """The annotated CRF in the active language."""
    return render_pdf("print/annotated_crf.html", {
        "forms": annotated_forms(), "date_hint": date_hint(), "missing_codes": MissingCode.choices,
    })
