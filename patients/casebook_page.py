"""The casebook page: the forms of one patient's casebook in the registry's order, each with
its state and its parts (rows of repeating parts as tables, answers of single parts)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from patients.clinical import mask_for, missing_code
from patients.display import show_answer
from patients.models import FormState, FormStatus, Patient
from patients.registry import CasebookForm, Part, casebook
from sites.roles import can_see_identifiers

COMPLETE_STATES = (FormStatus.COMPLETE, FormStatus.VERIFIED, FormStatus.LOCKED)


def live_rows(patient: Patient, part: Part) -> list:
    """The rows of a repeating part (prefetched by `casebook_get_for_user`)."""
    return list(getattr(patient, part.related_name).all())


def single_row(patient: Patient, part: Part):
    """The live row of a single part (joined by `casebook_get_for_user`), or None."""
    if part.is_patient:
        return patient
    try:
        row = getattr(patient, part.related_name)
    except part.model.DoesNotExist:
        return None
    return None if row.is_deleted else row


def single_row_fresh(patient: Patient, part: Part):
    """The saved row of a single part, read now (not from a cache), or a new one."""
    if part.is_patient:
        return patient
    row = part.model.objects.filter(patient=patient, is_deleted=False).first()
    return row or part.model(patient=patient)


@dataclass
class Section:
    """One form of the casebook page: its state and its parts (IO cycles have two)."""

    form: CasebookForm
    state: FormState | None
    parts: list[dict] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.form.key

    @property
    def status(self) -> str:
        return self.state.status if self.state else "empty"

    @property
    def status_label(self) -> str:
        return str(self.state.get_status_display()) if self.state else _("Empty")

    @property
    def is_complete(self) -> bool:
        return self.status in COMPLETE_STATES

    @property
    def is_locked(self) -> bool:
        return self.status == FormStatus.LOCKED


def casebook_sections(patient: Patient, *, user, queried_fields: frozenset | set = frozenset()) -> list[Section]:
    """The casebook's forms with their rows. `queried_fields`, (form, field name) pairs of
    open queries, keeps those questions of a single form on the page even when empty."""
    states = {state.form: state for state in patient.form_states.all()}
    shown = can_see_identifiers(user)
    sections = []
    for form in casebook.forms():
        section = Section(form=form, state=states.get(form.key))
        for part in form.parts:
            if part.repeating:
                classes = [
                    " ".join(name for name, on in (("num", column.numeric), ("nowrap", column.nowrap)) if on)
                    for column in part.columns
                ]
                masks = [
                    column.field_name and mask_for(part.model._meta.get_field(column.field_name), identifiers_shown=shown)
                    for column in part.columns
                ]
                rows = [
                    (row, [(mask or column.value(row, patient), css_class, column.field_name)
                           for column, css_class, mask in zip(part.columns, classes, masks, strict=True)])
                    for row in live_rows(patient, part)
                ]
                section.parts.append({"spec": part, "rows": rows})
            else:
                row = single_row(patient, part)
                keep = frozenset(name for key, name in queried_fields if key == form.key)
                section.parts.append({"spec": part, "row": row, "fields": single_fields(part, row, user=user, keep=keep)})
        sections.append(section)
    return sections


def single_fields(part: Part, row, *, user, keep: frozenset[str] = frozenset()) -> list[tuple[str, str, str]]:
    """(field name, question, answer) of a single part's row, identifiers hidden from who may
    not see them. An empty answer is left out (the question did not apply) unless in `keep`."""
    if row is None:
        return []
    shown = can_see_identifiers(user)
    answers = []
    for name in part.form_class._meta.fields:
        model_field = part.model._meta.get_field(name)
        value = getattr(row, name)
        if value in (None, "") and (model_field.null or model_field.blank) and name not in keep \
                and not missing_code(row, name):
            continue  # a question that did not apply
        mask = mask_for(model_field, identifiers_shown=shown)
        answers.append((name, model_field.verbose_name, mask or show_answer(model_field, row, name)))
    return answers


def casebook_facts(patient: Patient) -> list[tuple[str, str]]:
    """The values the forms register as derived facts of the casebook (best response, ...)."""
    return [(str(label), function(patient)) for label, function in casebook.facts()]
