"""The casebook registry: the forms a patient's casebook is made of, declared once.

Each clinical app declares its own forms in its `casebook.py` module, beside its models,
the way an app declares its admin in `admin.py`: `casebook.register(CasebookForm(...))`.
The modules are imported when the apps are ready (`PatientsConfig.ready`). Everything
that lists forms derives from here: the casebook page and its navigation, the form pages,
the API routes and viewsets, data management (verification, locking, sign-off), the
automatic checks, the audit trail, the exports and their data dictionary, the demo.

A *form* is what a coordinator fills and marks complete (IO cycles); a *part* is one
model of it (the cycles, repeating, and the end of treatment, single). Most forms have
one part.

This module sits at the bottom of the clinical apps and imports none of them: the forms
come to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import models
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.text import capfirst

from patients.clinical import RepeatingRecord

# Bookkeeping columns of every clinical row: not questions of a form.
BOOKKEEPING_FIELDS = frozenset({"id", "version", "is_deleted", "created_at", "updated_at", "patient",
                                "repeat_instance"})


@dataclass(frozen=True)
class Column:
    """One column of a repeating part's table on the casebook page. `value(row, patient)`
    gives the cell's text; `field_name` names the question, where queries on it are flagged."""

    label: str | Promise
    value: Callable[[models.Model, models.Model], str]
    numeric: bool = False
    derived: bool = False
    nowrap: bool = False  # dates and numbers stay on one line
    field_name: str = ""


@dataclass(frozen=True)
class Part:
    """One model of a form, with everything decided once about it.

    - `slug`: its URL slug on the casebook pages and its route under /api/.
    - `repeating`: many rows per patient (IO cycles), or one (baseline).
    - `form_class`: the browser form (a `patients.forms.CRFForm`).
    - `check`: the edit check, `check(row, casebook_dates)`, run by every write path.
    - `columns`: the table of a repeating part on the casebook page.
    - `row_label_field`: the question that tells one row from the others ("IO cycle 2").
    - `export_table` and `export`: the de-identified export's table name and its allowlist
      of variables, in order (model fields, or derived variables the exports define).
    - `codable`: the questions a source record can lack, answered with a missing-data code
      (`patients.clinical.MissingCode`: unknown, not done, not applicable) instead of a value.
      Every other question takes no code: a value is the only answer (C1D1, dates that
      order the casebook, eligibility).
    - `dates(rows)`: what the part's live rows of one patient (model instances, read from
      the database or about to be written) add to the `CasebookDates` that edit checks
      compare against (a dict of its fields).
    """

    model: type[models.Model]
    slug: str
    repeating: bool
    form_class: type
    check: Callable
    export_table: str
    export: tuple[str, ...]
    title: str | Promise = ""
    columns: tuple[Column, ...] = ()
    add_label: str | Promise = ""
    row_label_field: str = ""
    export_order_by: tuple[str, ...] = ("patient_id",)
    dates: Callable | None = None
    codable: tuple[str, ...] = ()
    form: CasebookForm | None = field(default=None, compare=False, repr=False)

    def __hash__(self) -> int:
        # A part is told by its model; hashing every field (lazy texts, columns) makes a part
        # a slow dictionary key.
        return hash(self.model)

    @property
    def key(self) -> str:
        """The key of the form this part belongs to."""
        return self.form.key

    @property
    def is_patient(self) -> bool:
        """The enrollment form's part is the patient itself, the root of the casebook: the one
        model with no `patient` field."""
        return not any(f.name == "patient" for f in self.model._meta.fields)

    @property
    def related_name(self) -> str:
        """The name of the patient's relation to this part's rows."""
        return self.model._meta.get_field("patient").remote_field.related_name

    @property
    def patient_field(self) -> str:
        """The column of this part's history rows that holds the patient's id."""
        return "id" if self.is_patient else "patient_id"

    def question_fields(self) -> list[models.Field]:
        """The questions of this part (what a query can be about, what the audit trail shows)."""
        return [
            f for f in self.model._meta.concrete_fields
            if f.name not in BOOKKEEPING_FIELDS and f.editable
        ]

    @property
    def reference_fields(self) -> list[str]:
        """The part's links to reference data (a CTCAE term): fetched with its rows."""
        return [f.name for f in self.model._meta.concrete_fields if f.is_relation and f.name != "patient"
                and f.name != "center"]

    def accepts_code(self, field_name: str) -> bool:
        return field_name in self.codable

    def codable_fields(self) -> list[models.Field]:
        return [self.model._meta.get_field(name) for name in self.codable]

    def row_label(self, row) -> str:
        """A row as a person names it: "IO cycle 2", "response assessment 2017-04-20", or the
        model's name. `row` may also be a historical record of the model."""
        name = str(self.model._meta.verbose_name)
        if not self.row_label_field:
            return name
        model_field = self.model._meta.get_field(self.row_label_field)
        value = getattr(row, self.row_label_field)
        if value is None or value == "":
            return name
        if model_field.flatchoices:
            value = dict(model_field.flatchoices).get(value, value)
        elif isinstance(value, dt.date):
            value = date_format(value, "SHORT_DATE_FORMAT")
        return f"{name} {value}"

    def place(self, row=None) -> str:
        """Where in the casebook a row is: "Follow-up & outcome", "IO cycles · IO cycle 2",
        "IO cycles · End of IO treatment"."""
        if row is None or not (self.repeating or len(self.form.parts) > 1):
            return str(self.form.label)
        return f"{self.form.label} · {capfirst(self.row_label(row))}"


@dataclass(frozen=True)
class CasebookForm:
    """One form of the casebook: its key, its label, its place in the casebook, its parts,
    and whether an enrolled patient's casebook must hold data in it (`requires_data`),
    with the reason (`why`), for sign-off and the automatic checks alike.

    Every form must be marked complete for the casebook to be complete: a repeating form
    with no row is complete when the site says so ("no adverse event").

    `facts` are values derived from the form and shown at the head of the casebook page:
    (label, function of the patient, its form rows prefetched, giving the text)."""

    key: str
    label: str | Promise
    order: int
    parts: tuple[Part, ...]
    requires_data: bool
    why: str | Promise
    facts: tuple[tuple[str | Promise, Callable], ...] = ()

    def __post_init__(self):
        for part in self.parts:
            object.__setattr__(part, "form", self)
            if not part.title:
                object.__setattr__(part, "title", self.label)

    def __str__(self) -> str:
        return str(self.label)


def _check_codable(part: Part) -> None:
    """A coded question stores no value: its column must hold an empty one."""
    questions = {f.name: f for f in part.question_fields()}
    for name in part.codable:
        model_field = questions.get(name)
        if model_field is None:
            raise ValueError(f"{part.model.__name__}.{name} is not a question: it cannot take a missing-data code.")
        if not model_field.null and not model_field.empty_strings_allowed:
            raise ValueError(f"{part.model.__name__}.{name} takes a missing-data code: its column must be nullable.")


class CasebookRegistry:
    """The forms of the casebook, in casebook order, and lookups by key, slug and model."""

    def __init__(self):
        self._forms: dict[str, CasebookForm] = {}
        self._consistency_checks: list[Callable] = []

    def register(self, form: CasebookForm) -> CasebookForm:
        if form.key in self._forms:
            raise ValueError(f"The casebook form {form.key!r} is registered twice.")
        slugs = {part.slug for part in self.parts()}
        for part in form.parts:
            if part.slug in slugs or part.model in {p.model for p in self.parts()}:
                raise ValueError(f"{part.model.__name__} ({part.slug}) is registered twice.")
        for part in form.parts:
            _check_codable(part)
            if part.repeating != issubclass(part.model, RepeatingRecord):
                raise ValueError(f"{part.model.__name__}: the model of a repeating part is a RepeatingRecord "
                                 "(its rows are numbered), and only that of a repeating part.")
        self._forms[form.key] = form
        return form

    def forms(self) -> list[CasebookForm]:
        return sorted(self._forms.values(), key=lambda form: form.order)

    def parts(self) -> Iterator[Part]:
        for form in self.forms():
            yield from form.parts

    def form_keys(self) -> list[str]:
        return [form.key for form in self.forms()]

    def choices(self) -> list[tuple[str, str | Promise]]:
        return [(form.key, form.label) for form in self.forms()]

    def form(self, key: str) -> CasebookForm:
        """The form of `key`; KeyError for an unknown key."""
        return self._forms[key]

    def has_form(self, key) -> bool:
        return isinstance(key, str) and key in self._forms

    def part_by_slug(self, slug: str) -> Part:
        """The part of `slug`; KeyError for an unknown slug."""
        for part in self.parts():
            if part.slug == slug:
                return part
        raise KeyError(slug)

    def part_for(self, model_or_row) -> Part:
        """The part of a model (or of a row, or a historical record of one)."""
        model = model_or_row if isinstance(model_or_row, type) else type(model_or_row)
        model = getattr(model, "instance_type", model)  # a historical model names its model
        for part in self.parts():
            if part.model is model:
                return part
        raise KeyError(model)

    def patient_part(self) -> Part:
        return next(part for part in self.parts() if part.is_patient)

    def label(self, key: str) -> str:
        """The form's label; an unknown key is shown as it is."""
        return str(self._forms[key].label) if key in self._forms else key

    def keys_requiring_data(self) -> list[str]:
        return [form.key for form in self.forms() if form.requires_data]

    def facts(self) -> list[tuple[str | Promise, Callable]]:
        return [fact for form in self.forms() for fact in form.facts]

    def register_consistency_check(self, check: Callable) -> Callable:
        """A check across the forms of one casebook, run by the automatic checks:
        `check(patient, cutoff=..., follow_up_months=...)` returns a list of problems."""
        self._consistency_checks.append(check)
        return check

    def consistency_checks(self) -> list[Callable]:
        return list(self._consistency_checks)

    def __len__(self) -> int:
        return len(self._forms)


casebook = CasebookRegistry()


def form_choices() -> list[tuple[str, str | Promise]]:
    """The choices of a model field that names a casebook form (a callable: the registry
    is filled when the apps are ready, after the models are defined)."""
    return casebook.choices()
