"""What a de-identified dataset may contain: an explicit ALLOWLIST of variables per table.

Nothing is exported because it exists: a variable is exported only when the form's
registration (``Part.export`` in the casebook registry) lists it, by name: a model field,
or one of the derived variables defined here. A model field that is a direct identifier
(``patients.clinical.is_direct_identifier``) or free text (a text field without a code
list: regimens, reasons, "other" texts) must never be listed; ``allowlist_check``
enforces it when the tables are built and the tests enforce it again against every model
of the casebook.

A question that takes a missing-data code (``Part.codable``) is exported with a companion
variable ``<name>_missing`` holding the code (UNK, ND, NA) when the row has one: the code is
read from the row's ``missing_codes``, which is neither an identifier nor free text (a code
list of three codes).

The date of birth is read only to derive the age at C1D1 (whole years, top-coded at 90)
and never leaves the server.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models
from django.db.models import BooleanField, Case, DecimalField, ExpressionWrapper, IntegerField, Value, When
from django.db.models.expressions import Expression
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThan, LessThan
from django.utils.translation import gettext_lazy as _

from analytics.exports.sql import WholeYearsBetween
from analytics.exports.xport import LABEL_LENGTH, NAME_LENGTH
from patients.clinical import MissingCode, is_direct_identifier, is_free_text
from patients.models import Patient
from patients.registry import casebook
from treatments.models import DOSE_UNIT, AlloHsct, IOCycle

# Variable kinds. "date" becomes days from C1D1 or a shifted date, by the user's choice.
KEY, CODE, BOOLEAN, INTEGER, DECIMAL, DATE = "key", "code", "boolean", "integer", "decimal", "date"
# The companion of a codable variable: the row's missing-data code for it.
MISSING = "missing_code"
MISSING_SUFFIX = "_missing"

AGE_TOP_CODE = 90  # ages over 89 are exported as 90, flagged "90+"
YES_NO = (("1", _("Yes")), ("0", _("No")))


@dataclass(frozen=True)
class Variable:
    """One exported column. ``inputs`` are the ORM paths it is computed from; a plain field
    has itself as its only input. ``derive`` builds the value's SQL expression from the
    inputs' expressions, so that the database computes it (on PostgreSQL and SQLite alike)."""

    name: str
    kind: str
    label: object  # str or lazy str
    inputs: tuple[str, ...]
    unit: str = ""
    choices: tuple[tuple[str, object], ...] = ()
    derive: Callable[..., Expression] | None = None
    note: object = ""
    # The label where a format keeps at most 40 characters (SAS): the label itself when it
    # fits, else one written to fit (``SHORT_LABELS``), never the label cut.
    short_label: object = ""

    @property
    def is_derived(self) -> bool:
        return self.derive is not None

    @property
    def sas_label(self) -> str:
        return str(self.short_label or self.label)


@dataclass(frozen=True)
class Table:
    """One exported table: a casebook form (or the part of one) with its allowlisted variables."""

    name: str
    model: type[models.Model]
    form: str  # the key of the casebook form
    label: object
    repeating: bool
    order_by: tuple[str, ...]
    variables: tuple[Variable, ...] = field(default=())
    codable: tuple[str, ...] = ()  # the variables that take a missing-data code

    @property
    def is_patient_table(self) -> bool:
        return self.model is Patient

    def accepts_code(self, variable: Variable) -> bool:
        return variable.kind != MISSING and variable.name in self.codable


def _field(model: type[models.Model], name: str, *, unit: str = "", note: object = "") -> Variable:
    """A variable copied from a model field, with the field's question as its label."""
    model_field = model._meta.get_field(name)
    if isinstance(model_field, models.BooleanField):
        kind = BOOLEAN
    elif model_field.choices:
        kind = CODE
    elif isinstance(model_field, models.DateField):
        kind = DATE
    elif isinstance(model_field, models.DecimalField):
        kind = DECIMAL
    elif isinstance(model_field, models.IntegerField):
        kind = INTEGER
    else:
        raise TypeError(f"{model.__name__}.{name}: free text or unsupported field type, never exported")
    choices = YES_NO if kind == BOOLEAN else tuple((str(code), label) for code, label in model_field.choices or ())
    return Variable(name=name, kind=kind, label=model_field.verbose_name, inputs=(name,), unit=unit, choices=choices,
                    note=note, short_label=SHORT_LABELS.get((model, name), ""))


def missing_code_variable(variable: Variable) -> Variable:
    """The companion of a codable variable: the row's code for it (UNK, ND, NA), empty when
    the row has a value or nothing."""
    return Variable(f"{variable.name}{MISSING_SUFFIX}", MISSING, _("Missing-data code of %(name)s") % {
        "name": variable.name}, (f"missing_codes__{variable.name}",), choices=tuple(MissingCode.choices),
        note=_("Why %(name)s has no value: UNK unknown (not in the source), ND not done, NA not applicable. "
               "Empty when it has a value, or when nothing was recorded.") % {"name": variable.name},
        short_label=_("Missing code of %(name)s") % {"name": variable.name})


def age_top_coded(date_of_birth: Expression, c1d1: Expression) -> Expression:
    age = WholeYearsBetween(date_of_birth, c1d1)
    return Case(When(GreaterThan(age, AGE_TOP_CODE - 1), then=Value(AGE_TOP_CODE)), default=age,
                output_field=IntegerField())


def age_over_89(date_of_birth: Expression, c1d1: Expression) -> Expression:
    age = WholeYearsBetween(date_of_birth, c1d1)
    return Case(When(GreaterThan(age, AGE_TOP_CODE - 1), then=Value(True)),
                When(LessThan(age, AGE_TOP_CODE), then=Value(False)), default=None, output_field=BooleanField())


def total_dose(day1: Expression, day8: Expression, day15: Expression) -> Expression:
    dose = IOCycle._meta.get_field("dose_day1")
    # Cast to the doses' own scale: one number format for the column, whatever the database.
    return Cast(ExpressionWrapper(day1 + day8 + day15, output_field=DecimalField()),
                DecimalField(max_digits=dose.max_digits + 1, decimal_places=dose.decimal_places))


# Variables computed from the form's fields, named in the registry's export lists.
DERIVED_VARIABLES = {
    "center": Variable("center", CODE, _("center code"), ("center__code",)),
    "age_at_c1d1": Variable(
        "age_at_c1d1", INTEGER, _("Age at IO cycle 1 day 1 (whole years; 90 means 90 or over)"),
        ("date_of_birth", "c1d1_date"), unit="years", derive=age_top_coded,
        note=_("Derived from the date of birth, which is never exported. Ages over 89 are top-coded to 90 "
               "and flagged in age_90_or_over (a plain number, without a value label: it is continuous)."),
        short_label=_("Age at C1D1 (years; 90 = 90 or over)")),
    "age_90_or_over": Variable("age_90_or_over", BOOLEAN, _("Age at IO cycle 1 day 1 is 90 or over?"),
                               ("date_of_birth", "c1d1_date"), choices=YES_NO, derive=age_over_89),
    "total_dose": Variable("total_dose", DECIMAL, _("Total dose of the cycle (mg/m²)"),
                           ("dose_day1", "dose_day8", "dose_day15"), unit=DOSE_UNIT, derive=total_dose,
                           note=_("Derived: day 1 + day 8 + day 15.")),
    "ctcae_term": Variable("ctcae_term", CODE, _("MedDRA code of the CTCAE v5.0 term"), ("ctcae_term",),
                           note=_("The term's 8-digit MedDRA code, as printed in CTCAE v5.0.")),
    "term": Variable("term", CODE, _("CTCAE v5.0 term"), ("ctcae_term__term",), derive=lambda term: term,
                     note=_("From the MedDRA code.")),
    "other_specify": Variable("other_specify", CODE, _("Specified term of an 'Other, specify' event"),
                              ("other_specify",), short_label=_("Specified term (Other, specify)"),
                              note=_("A term of a few words (letters only, no digits), not a narrative: the name of "
                                     "an event CTCAE v5.0 has no term for. Empty for every other term.")),
    "organ_class": Variable("organ_class", CODE, _("CTCAE system organ class"), ("ctcae_term__soc",),
                            derive=lambda soc: soc, note=_("The term's MedDRA system organ class.")),
    "haematologic": Variable("haematologic", BOOLEAN, _("Haematologic adverse event?"), ("ctcae_term__haematologic",),
                             choices=YES_NO, derive=lambda haematologic: haematologic,
                             note=_("Derived from the term's class: blood and lymphatic system disorders, and "
                                    "blood-count investigations.")),
}
# Labels written to fit 40 characters (SAS transport), for the fields whose question is longer.
SHORT_LABELS = {
    (Patient, "received_io"): _("Any dose of inotuzumab ozogamicin given?"),
    (AlloHsct, "performed"): _("Allogeneic HSCT after IO?"),
}
# What the data dictionary says of a plain field beyond its question.
FIELD_NOTES = {"c1d1_date": _("The index date: day 0 when dates are days from C1D1.")}


def _variable(model: type[models.Model], name: str) -> Variable:
    if name in DERIVED_VARIABLES:
        return DERIVED_VARIABLES[name]
    model_field = model._meta.get_field(name)
    return _field(model, name, unit=getattr(model_field, "unit", ""), note=FIELD_NOTES.get(name, ""))


@functools.cache
def export_tables() -> tuple[Table, ...]:
    """One table per part of every casebook form, in casebook order, with the variables its
    registration allows (checked: no identifier, no free text)."""
    tables = tuple(
        Table(part.export_table, part.model, part.key, part.title, part.repeating, part.export_order_by,
              tuple(_variable(part.model, name) for name in part.export),
              tuple(name for name in part.export if part.accepts_code(name)))
        for part in casebook.parts()
    )
    allowlist_check(tables)
    sas_label_check(tables)
    return tables


# SAS transport names a dataset in 8 characters: the table's name when it fits, else that
# name without underscores when it fits, else its first 8 characters, or the abbreviation
# declared here where those would read badly. The dictionary lists each (``sas_dataset``).
SAS_DATASET_ABBREVIATIONS = {"adverse_events": "ae", "end_of_treatment": "eot", "prior_lines": "priorlns"}


@functools.cache
def sas_dataset_names() -> dict[str, str]:
    """Table name → its SAS dataset name (at most 8 characters, unique, lower case)."""
    names = {}
    for table in export_tables():
        joined = table.name.replace("_", "")
        if len(table.name) <= NAME_LENGTH:
            names[table.name] = table.name
        elif len(joined) <= NAME_LENGTH:
            names[table.name] = joined
        elif table.name in SAS_DATASET_ABBREVIATIONS:
            names[table.name] = SAS_DATASET_ABBREVIATIONS[table.name]
        else:
            names[table.name] = joined[:NAME_LENGTH]
    if len(set(names.values())) != len(names) or max(map(len, names.values())) > NAME_LENGTH:
        raise ValueError(f"SAS dataset names must be unique and of 8 characters at most: {names}")
    return names


def sas_label_check(tables) -> None:
    """Refuse a variable whose label does not fit SAS's 40 characters and has no short label."""
    for table in tables:
        for variable in table.variables:
            for column in (variable, missing_code_variable(variable)) if variable.name in table.codable else (variable,):
                if len(column.sas_label) > LABEL_LENGTH:
                    raise ValueError(f"{table.name}.{column.name}: label over {LABEL_LENGTH} characters; "
                                     "declare a short label (SHORT_LABELS)")


def export_table(name: str) -> Table:
    """The export table of `name`; KeyError for an unknown name."""
    return {table.name: table for table in export_tables()}[name]


# The patient key of every table: the pseudonymous study ID.
PATIENT_KEY = Variable("study_id", KEY, _("study ID (pseudonymous patient key)"), ("study_id",))

# Fields read only to derive an exported value, never exported themselves.
DERIVATION_ONLY_INPUTS = frozenset({(Patient, "date_of_birth")})


def model_field_at(model: type[models.Model], path: str) -> tuple[type[models.Model], models.Field]:
    """The model and field an ORM path like ``center__code`` ends on."""
    *relations, last = path.split("__")
    for name in relations:
        model = model._meta.get_field(name).related_model
    return model, model._meta.get_field(last)


# Short codes kept although their field has no choices: the center's code (e.g. RM01).
# and the CTCAE reference data (terms and classes: a terminology, never typed by a user).
CODE_PATHS = frozenset({"center__code", "ctcae_term__term", "ctcae_term__soc"})


def allowlist_check(tables) -> None:
    """Refuse (at import) an allowlist that would export an identifier or free text."""
    for table in tables:
        for variable in table.variables:
            if variable.name in table.codable and variable.is_derived:
                raise ValueError(f"{table.name}.{variable.name}: a derived variable takes no missing-data code")
            for path in variable.inputs:
                model, model_field = model_field_at(table.model, path)
                if is_direct_identifier(model_field) and not (
                    variable.is_derived and (model, model_field.name) in DERIVATION_ONLY_INPUTS
                ):
                    raise ValueError(f"{table.name}.{variable.name}: {path} is a direct identifier")
                if is_free_text(model_field) and path not in CODE_PATHS:
                    raise ValueError(f"{table.name}.{variable.name}: {path} is free text")


def excluded_fields() -> list[tuple[Table, models.Field, str]]:
    """The casebook fields that are never exported, and why: identifiers and free text."""
    found = []
    for table in export_tables():
        for model_field in table.model._meta.concrete_fields:
            if is_direct_identifier(model_field):
                found.append((table, model_field, "identifier"))
            elif is_free_text(model_field) and model_field.name != "study_id":
                found.append((table, model_field, "free text"))
    return found

