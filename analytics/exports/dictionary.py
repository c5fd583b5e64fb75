"""The data dictionary: every exported variable (form, label, type, unit, code list, whether
it takes a missing-data code and the name of its companion column), every casebook field
that is never exported (direct identifiers and free text), marked so; the missing-data codes
with what stands for each in every file format; the CTCAE v5.0 terms.

How a coded answer (the value empty, the reason a code) is written, format by format:

- CSV and JSON: the value empty (null), the code in the companion column ``<name>_missing``
  placed right after the variable (empty when the row has no code).
- Stata .dta: a number (numeric codes, integers, decimals, days from C1D1, dates) is the
  extended missing value ``.u`` (UNK), ``.d`` (ND) or ``.n`` (NA); a string (labels mode) is
  empty, the code being in ``<name>_missing``, which every file also carries.
- SPSS .sav: user-missing values declared on the variable (never system-missing): a number
  is -9999997 (UNK), -9999998 (ND), -9999999 (NA), labelled with the code's label; far from
  any real value, days from C1D1 included; a date (shifted dates) holds the same numbers as
  seconds, before the Gregorian calendar; a string is "UNK", "ND" or "NA".
- SAS .xpt (transport version 5): a number is the special missing value ``.U``, ``.D``,
  ``.N``; a string is blank, the code being in ``<name>_missing``. Names are of 8 characters
  at most: ``sas_name`` of each variable gives its name there.
- Stata, SPSS and SAS hold a code list's variable (codes and yes/no) as a labelled number in
  both value modes: the code's number (``code_list``) with the labels as value labels (SAS:
  ``formats.sas``), so that an empty answer is the tool's missing (never ""). A text variable
  without a code list (the CTCAE term, its class, the specified term, the center code) is a
  string; there an empty value is the tool's missing for strings: "" in Stata and SPSS
  (``missing()`` is true), blank in SAS (``missing()`` is true; pyreadstat and pandas read "").
- Dates are numbers with a date format (Stata %td, SPSS DATE11, SAS DATE9.), also when a
  column is empty throughout. SAS names datasets and variables in 8 characters and labels in
  40: ``sas_dataset``, ``sas_name`` and ``sas_label`` give them; a label that does not fit is
  written short rather than cut.
- pandas (``read_sas``) reads a zero of a SAS transport file as 5.4e-79: it converts IBM
  floats approximately; SAS, R haven and pyreadstat read 0.
- CDISC ODM 1.3.2: the ItemData has ``IsNull="Yes"`` and no Value, and an Annotation whose
  Flag's FlagValue is the code, from the code list ``CL.MISSING_DATA_CODE``.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from analytics.exports.dataset import (
    ExportOptions,
    has_code_list,
    numeric_codes,
    table_columns,
    variable_type,
    variable_unit,
)
from analytics.exports.variables import (
    DATE,
    Variable,
    excluded_fields,
    export_tables,
    sas_dataset_names,
)
from analytics.exports.xport import sas_names
from outcomes.models import CtcaeTerm
from patients.clinical import MissingCode

DICTIONARY_COLUMNS = (
    "variable", "form", "form_label", "label", "type", "unit", "code_list", "is_identifier", "exported", "derived",
    "note", "accepts_code", "missing_code_column", "sas_dataset", "sas_name", "sas_label",
)

# What stands for each missing-data code in the files of Stata, SAS and SPSS (numbers and
# strings), and in which code list of the ODM file.
STATA_MISSING = {"UNK": "u", "ND": "d", "NA": "n"}
SAS_MISSING = {"UNK": "U", "ND": "D", "NA": "N"}
SPSS_MISSING = {"UNK": -9999997, "ND": -9999998, "NA": -9999999}
ODM_MISSING_CODE_LIST = "CL.MISSING_DATA_CODE"
MISSING_CODE_COLUMNS = ("code", "label", "stata", "sas", "spss_numeric", "spss_string", "csv_json", "odm")


def missing_code_entries() -> list[dict]:
    """The missing-data codes and what stands for each in every format."""
    return [{
        "code": code,
        "label": str(label),
        "stata": f".{STATA_MISSING[code]}",
        "sas": f".{SAS_MISSING[code]}",
        "spss_numeric": SPSS_MISSING[code],
        "spss_string": code,
        "csv_json": _("value empty, %(code)s in <variable>_missing") % {"code": code},
        "odm": _('IsNull="Yes", Annotation/Flag/FlagValue %(code)s (code list %(list)s)') % {
            "code": code, "list": ODM_MISSING_CODE_LIST},
    } for code, label in MissingCode.choices]


CTCAE_TERM_COLUMNS = ("meddra_code", "term", "soc", "haematologic", "other_specify", "grades")


def ctcae_term_entries() -> list[dict]:
    """The CTCAE v5.0 terms: MedDRA code, term, system organ class, haematologic, whether it
    is an 'Other, specify' term, and its grades."""
    return [{"meddra_code": term.meddra_code, "term": term.term, "soc": term.soc, "haematologic": term.haematologic,
             "other_specify": term.other_specify, "grades": term.grades}
            for term in CtcaeTerm.objects.order_by("soc", "term")]


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
        columns = table_columns(table)
        sas = sas_names([variable.name for variable in columns])
        sas_dataset = sas_dataset_names()[table.name]
        for number, variable in enumerate(columns):
            accepts_code = table.accepts_code(variable)
            note = str(variable.note) if variable.note else ""
            if variable.kind == DATE and options.dates == "shifted":
                note = " ".join(filter(None, [note, _("Shifted by a per-patient offset that keeps intervals.")]))
            if accepts_code:
                note = " ".join(filter(None, [note, _(
                    "Takes a missing-data code (UNK, ND, NA): then the value is empty and the code is in "
                    "%(column)s; Stata .u/.d/.n, SAS .U/.D/.N, SPSS user-missing values (see missing_codes), "
                    "ODM IsNull with the code flagged.") % {"column": columns[number + 1].name}]))
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
                "accepts_code": accepts_code,
                "missing_code_column": columns[number + 1].name if accepts_code else "",
                "sas_dataset": sas_dataset,
                "sas_name": sas[variable.name],
                "sas_label": variable.sas_label,
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
            "accepts_code": False,
            "missing_code_column": "",
            "sas_dataset": "",
            "sas_name": "",
            "sas_label": "",
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


def table_csv_rows(entries: list[dict], columns: tuple[str, ...]):
    """A header and one row per entry (lists joined with spaces, booleans as 1/0)."""
    yield columns
    for entry in entries:
        yield tuple(" ".join(map(str, value)) if isinstance(value, list)
                    else (int(value) if isinstance(value, bool) else value)
                    for value in (entry[name] for name in columns))
