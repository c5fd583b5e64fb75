"""The registry seen as a REDCap project: instruments, fields and their names, the data
dictionary, derived from the casebook registry (`patients.registry.casebook`).

The project is classic (no events) with repeating instruments:

- **Record ID** = the study ID (`study_id`), the first field of the first instrument.
- **Instruments** = the parts of the casebook's forms, in casebook order, named by their slug
  with `-` as `_` (`enrollment`, `baseline`, `prior_lines`, `io_cycles`, `end_of_treatment`,
  ...). A repeating part (prior lines, IO cycles, responses, adverse events, VOD/SOS) is a
  repeating instrument; a single part is a plain instrument.
- **Data access group** = the patient's center (`redcap_data_access_group`, the center code in
  lower case, e.g. `rm01`), which is why the enrollment's `center` question is not a field.
- **Fields** = the questions of each part (`Part.question_fields()`), then the derived
  variables its export allowlist names (`Part.export`: age at C1D1, total dose, the CTCAE
  term's name and class...), computed by the exports' own SQL (`analytics.exports`) and shown
  as REDCap calculated fields (`calc`, or `text` with `@CALCTEXT` for a text value): read-only,
  ignored on import.
- **Missing data codes** = `patients.clinical.MissingCode` (the project's
  `missing_data_codes`): a question answered with a code holds the code itself as its value,
  as in REDCap; a question that takes no code carries REDCap's `@NOMISSING` action tag.

The naming rule (REDCap field names are unique across a project; the models' are unique
only within their model):
    a field's REDCap name is its model field's (or derived variable's) name; a name that is
    a field of more than one instrument (`diagnosis_date`, `marrow_blasts_pct`, `start_date`)
    is, in each of them, `<instrument>_<name>` (`baseline_diagnosis_date`,
    `vod_sos_diagnosis_date`).
`redcap_field_names()` applies it, and refuses (at start-up: `RedcapConfig.ready`) a project
where the rule would still give two fields one name. A form added with a question name that
an existing instrument already uses renames that existing field too: the data dictionary
(`content=metadata`) is what scripts read, not a copy of these names.

Form status (`<instrument>_complete`) comes from the state of the casebook form the
instrument belongs to (`FORM_STATUS_CODES`): in progress (or never started) = 0 Incomplete;
complete (the site says the data is entered) = 1 Unverified; verified or locked by a monitor
= 2 Complete. The two instruments of the IO cycles form (cycles, end of treatment) share its
state.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.forms import RadioSelect
from django.utils.text import capfirst

from analytics.exports.variables import CODE, Table, Variable, export_tables
from patients.clinical import MissingCode, is_direct_identifier
from patients.models import FormStatus
from patients.registry import Part, casebook
from sites.models import Center

# The REDCap version whose API this endpoint follows (what `content=version` answers).
REDCAP_VERSION = "14.0.0"
PROJECT_ID = 1
PROJECT_TITLE = "INO-CD22 registry"

RECORD_ID_FIELD = "study_id"
REPEAT_INSTRUMENT = "redcap_repeat_instrument"
REPEAT_INSTANCE = "redcap_repeat_instance"
DATA_ACCESS_GROUP = "redcap_data_access_group"
PSEUDO_FIELDS = (REPEAT_INSTRUMENT, REPEAT_INSTANCE, DATA_ACCESS_GROUP, "redcap_event_name",
                 "redcap_survey_identifier")
COMPLETE_SUFFIX = "_complete"

FORM_STATUS_CODES = {
    FormStatus.IN_PROGRESS: "0",
    FormStatus.COMPLETE: "1",
    FormStatus.VERIFIED: "2",
    FormStatus.LOCKED: "2",
}
NO_FORM_STATUS = "0"  # a form never started is Incomplete, as in REDCap
FORM_STATUS_LABELS = {"0": "Incomplete", "1": "Unverified", "2": "Complete"}
YES_NO_CHOICES = (("1", "Yes"), ("0", "No"))

FIELD_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

# The columns of a REDCap data dictionary, in REDCap's order.
METADATA_COLUMNS = (
    "field_name", "form_name", "section_header", "field_type", "field_label", "select_choices_or_calculations",
    "field_note", "text_validation_type_or_show_slider_number", "text_validation_min", "text_validation_max",
    "identifier", "branching_logic", "required_field", "custom_alignment", "question_number", "matrix_group_name",
    "matrix_ranking", "field_annotation",
)


def missing_data_codes() -> str:
    """The project's missing data codes as REDCap writes them: "UNK, Unknown | ND, ..."."""
    return " | ".join(f"{code}, {label}" for code, label in MissingCode.choices)


def instrument_name(part: Part) -> str:
    return part.slug.replace("-", "_")


@dataclass(frozen=True)
class Field:
    """One REDCap field: a question of a part (`model_field`), a derived variable of its export
    (`variable`), or the record ID (neither)."""

    name: str
    instrument: Instrument
    model_field: models.Field | None
    field_type: str
    label: str
    validation: str = ""
    variable: Variable | None = None

    def __hash__(self) -> int:
        # A field is told by its name; hashing every field (its instrument, its part) makes a
        # field a slow dictionary key.
        return hash(self.name)

    @property
    def is_derived(self) -> bool:
        return self.variable is not None

    @property
    def is_record_id(self) -> bool:
        return self.model_field is None and self.variable is None

    @property
    def accepts_code(self) -> bool:
        return self.model_field is not None and self.instrument.part.accepts_code(self.model_field.name)

    def choices(self) -> list[tuple[str, str]]:
        """(raw value, label) of a yes/no or multiple-choice field; [] for the others."""
        if self.field_type == "yesno":
            return list(YES_NO_CHOICES)
        if self.is_derived or self.field_type not in ("radio", "dropdown"):
            return []
        if self.model_field.is_relation:
            return [(str(row.pk), str(row)) for row in self.model_field.related_model.objects.order_by("pk")]
        return [(str(code), str(label)) for code, label in self.model_field.choices]

    def metadata_row(self) -> dict[str, str]:
        model_field = self.model_field
        minimum = maximum = ""
        note = ""
        if model_field is not None:
            for validator in model_field.validators:
                if isinstance(validator, MinValueValidator):
                    minimum = str(validator.limit_value)
                elif isinstance(validator, MaxValueValidator):
                    maximum = str(validator.limit_value)
            note = " ".join(str(text) for text in (getattr(model_field, "unit", ""), model_field.help_text) if text)
        elif self.is_derived:
            note = " ".join(str(text) for text in (self.variable.unit, self.variable.note) if text)
        required = self.is_record_id or (model_field is not None and not model_field.blank)
        row = dict.fromkeys(METADATA_COLUMNS, "")
        row.update({
            "field_name": self.name,
            "form_name": self.instrument.name,
            "field_type": self.field_type,
            "field_label": self.label,
            "select_choices_or_calculations": " | ".join(f"{code}, {label}" for code, label in self.choices()),
            "field_note": note,
            "text_validation_type_or_show_slider_number": self.validation,
            "text_validation_min": minimum,
            "text_validation_max": maximum,
            "identifier": "y" if model_field is not None and is_direct_identifier(model_field) else "",
            "required_field": "y" if required else "",
            # REDCap's action tags: a field that takes no missing data code; a derived value.
            "field_annotation": self._annotation(),
        })
        return row

    def _annotation(self) -> str:
        if self.is_derived:
            return "@READONLY" if self.field_type == "calc" else "@CALCTEXT @READONLY"
        return "" if self.accepts_code else "@NOMISSING"


@dataclass(frozen=True)
class Instrument:
    name: str
    label: str
    part: Part

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def repeating(self) -> bool:
        return self.part.repeating

    @property
    def complete_field(self) -> str:
        return f"{self.name}{COMPLETE_SUFFIX}"

    @property
    def fields(self) -> tuple[Field, ...]:
        return _fields_by_instrument()[self.name]

    @property
    def export_table(self) -> Table:
        """The instrument's table of the de-identified exports (whose SQL computes derived values)."""
        return next(table for table in export_tables() if table.model is self.part.model)


@functools.cache
def instruments() -> tuple[Instrument, ...]:
    return tuple(Instrument(instrument_name(part), str(part.title), part) for part in casebook.parts())


def instrument_by_name(name: str) -> Instrument | None:
    return next((instrument for instrument in instruments() if instrument.name == name), None)


def _is_data_access_group(model_field: models.Field) -> bool:
    return model_field.is_relation and model_field.related_model is Center


def _questions(part: Part) -> list[models.Field]:
    return [f for f in part.question_fields() if not _is_data_access_group(f)]


def _derived(part: Part) -> list[Variable]:
    """The derived variables of the part's export allowlist (those that are not model fields)."""
    model_fields = {f.name for f in part.model._meta.get_fields()}
    table = next(table for table in export_tables() if table.model is part.model)
    return [variable for variable in table.variables if variable.name not in model_fields]


def _own_names(part: Part) -> list[str]:
    return [f.name for f in _questions(part)] + [variable.name for variable in _derived(part)]


def redcap_field_names() -> dict[tuple[str, str], str]:
    """{(instrument, model field or derived variable name): REDCap field name}, by the naming
    rule (module docstring)."""
    uses: dict[str, int] = {}
    for part in casebook.parts():
        for own in _own_names(part):
            uses[own] = uses.get(own, 0) + 1
    names = {}
    for part in casebook.parts():
        for own in _own_names(part):
            names[(instrument_name(part), own)] = own if uses[own] == 1 else f"{instrument_name(part)}_{own}"
    taken = [RECORD_ID_FIELD, *names.values(), *(instrument.complete_field for instrument in instruments())]
    clashes = {name for name in taken if taken.count(name) > 1}
    if clashes:
        raise ValueError(f"The REDCap naming rule gives several fields the name(s) {sorted(clashes)}.")
    invalid = [name for name in taken if not FIELD_NAME_PATTERN.match(name)]
    if invalid:
        raise ValueError(f"Not REDCap field names: {invalid}.")
    return names


def _field_type(part: Part, model_field: models.Field) -> tuple[str, str]:
    """(REDCap field type, text validation) of a question."""
    if isinstance(model_field, models.BooleanField):
        return "yesno", ""
    if model_field.choices or model_field.is_relation:
        form_field = getattr(part.form_class, "base_fields", {}).get(model_field.name)
        return ("radio" if form_field is not None and isinstance(form_field.widget, RadioSelect) else "dropdown"), ""
    if isinstance(model_field, models.DateField):
        return "text", "date_ymd"
    if isinstance(model_field, models.DecimalField | models.FloatField):
        return "text", "number"
    if isinstance(model_field, models.IntegerField):
        return "text", "integer"
    if isinstance(model_field, models.TextField):
        return "notes", ""
    return "text", ""


@functools.cache
def project_fields() -> tuple[Field, ...]:
    """Every field of the project in data dictionary order: the record ID, then each
    instrument's questions in model order."""
    names = redcap_field_names()
    fields = []
    for instrument in instruments():
        if instrument.part.is_patient:
            fields.append(Field(RECORD_ID_FIELD, instrument, None, "text", "Study ID"))
        for model_field in _questions(instrument.part):
            field_type, validation = _field_type(instrument.part, model_field)
            fields.append(Field(names[(instrument.name, model_field.name)], instrument, model_field, field_type,
                                capfirst(str(model_field.verbose_name)), validation))
        for variable in _derived(instrument.part):
            fields.append(Field(names[(instrument.name, variable.name)], instrument, None,
                                "text" if variable.kind == CODE else "calc", capfirst(str(variable.label)),
                                variable=variable))
    return tuple(fields)


@functools.cache
def _fields_by_instrument() -> dict[str, tuple[Field, ...]]:
    return {instrument.name: tuple(field for field in project_fields() if field.instrument.name == instrument.name)
            for instrument in instruments()}


@functools.cache
def _fields_by_name() -> dict[str, Field]:
    return {field.name: field for field in project_fields()}


def field_by_name(name: str) -> Field | None:
    return _fields_by_name().get(name)


def complete_fields() -> dict[str, Instrument]:
    """{`<instrument>_complete`: instrument}."""
    return {instrument.complete_field: instrument for instrument in instruments()}


def export_field_names(field: Field) -> list[dict[str, str]]:
    """The rows of `content=exportFieldNames` for a field: one (no checkbox field here), none
    for a calculated field (REDCap lists only the fields an import can write)."""
    if field.field_type == "calc":
        return []
    return [{"original_field_name": field.name, "choice_value": "", "export_field_name": field.name}]


def repeating_instruments() -> list[Instrument]:
    return [instrument for instrument in instruments() if instrument.repeating]


def form_status_code(status: str | None, *, blank_for_gray: bool = False) -> str:
    if status is None:
        return "" if blank_for_gray else NO_FORM_STATUS
    return FORM_STATUS_CODES[status]


def project_info() -> dict:
    """`content=project`: what REDCap clients read of a project before its data."""
    return {
        "project_id": PROJECT_ID,
        "project_title": PROJECT_TITLE,
        "creation_time": "",
        "production_time": "",
        "in_production": 1,
        "project_language": "English",
        "purpose": 2,
        "purpose_other": "",
        "project_notes": "",
        "custom_record_label": "",
        "secondary_unique_field": "",
        "is_longitudinal": 0,
        "has_repeating_instruments_or_events": 1,
        "surveys_enabled": 0,
        "scheduling_enabled": 0,
        "record_autonumbering_enabled": 0,
        "randomization_enabled": 0,
        "ddp_enabled": 0,
        "project_irb_number": "",
        "project_grant_number": "",
        "project_pi_firstname": "",
        "project_pi_lastname": "",
        "display_today_now_button": 1,
        "missing_data_codes": missing_data_codes(),
        "external_modules": "",
        "bypass_branching_erase_field_prompt": 0,
    }


def data_access_group_name(center: Center) -> str:
    """A center's unique group name: its code in lower case."""
    return center.code.lower()
