"""The data dictionary: every exported variable (form, label, type, unit, code list), and
every casebook field that is never exported (direct identifiers and free text), marked so."""

from __future__ import annotations

from django.utils.translation import gettext as _

from analytics.exports.dataset import ExportOptions, table_columns, variable_type, variable_unit
from analytics.exports.variables import BOOLEAN, CODE, DATE, Variable, excluded_fields, export_tables

DICTIONARY_COLUMNS = (
    "variable", "form", "form_label", "label", "type", "unit", "code_list", "is_identifier", "exported", "derived",
    "note",
)


def numeric_codes(variable: Variable) -> dict[str, int]:
    """The numbers that stand for a code list's codes in Stata, SPSS and SAS files (1, 2, ... in the
    code list's order; yes/no stays 1/0)."""
    if variable.kind == BOOLEAN:
        return {"1": 1, "0": 0}
    return {code: number for number, (code, _label) in enumerate(variable.choices, start=1)}


def has_code_list(variable: Variable) -> bool:
    return variable.kind in (CODE, BOOLEAN) and bool(variable.choices)


def code_list(variable: Variable) -> list[dict]:
    if not has_code_list(variable):
        return []
    numbers = numeric_codes(variable)
    return [{"code": code, "label": str(label), "numeric_code": numbers[code]} for code, label in variable.choices]


def dictionary_entries(options: ExportOptions | None = None) -> list[dict]:
    """The dictionary of an export with these options (types and units of dates depend on them)."""
    options = options or ExportOptions()
    entries = []
    for table in export_tables():
        for variable in table_columns(table):
            note = str(variable.note) if variable.note else ""
            if variable.kind == DATE and options.dates == "shifted":
                note = " ".join(filter(None, [note, _("Shifted by a per-patient offset that keeps intervals.")]))
            entries.append({
                "variable": variable.name,
                "form": table.name,
                "form_label": str(table.label),
                "label": str(variable.label),
                "type": variable_type(variable, options),
                "unit": str(variable_unit(variable, options)),
                "code_list": code_list(variable),
                "is_identifier": False,
                "exported": True,
                "derived": variable.is_derived,
                "note": note,
            })
    for table, model_field, why in excluded_fields():
        entries.append({
            "variable": model_field.name,
            "form": table.name,
            "form_label": str(table.label),
            "label": str(model_field.verbose_name),
            "type": "date" if model_field.get_internal_type() == "DateField" else "string",
            "unit": "",
            "code_list": [],
            "is_identifier": why == "identifier",
            "exported": False,
            "derived": False,
            "note": _("Direct identifier: never exported.") if why == "identifier" else _("Free text: never exported."),
        })
    return entries


def code_list_text(entries: list[dict]) -> str:
    return "; ".join(f"{item['code']}={item['label']}" for item in entries)


def dictionary_csv_rows(entries: list[dict]):
    yield DICTIONARY_COLUMNS
    for entry in entries:
        yield tuple(
            code_list_text(entry[name]) if name == "code_list"
            else (int(entry[name]) if isinstance(entry[name], bool) else entry[name])
            for name in DICTIONARY_COLUMNS
        )
