"""The XLSX import template, generated from the forms: one sheet per instrument (the record ID,
the data access group, the instance for a repeating instrument, the instrument's fields by
their REDCap names, its `<instrument>_complete`), drop-down lists on the coded fields (the
choices, 1/0 for yes/no, and the missing data codes where the field takes one, from a
`lists` sheet), and the data dictionary as a sheet. `redcap_api.site_import` reads it back."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from patients.clinical import MissingCode
from redcap_api.project import (
    DATA_ACCESS_GROUP,
    FORM_STATUS_LABELS,
    METADATA_COLUMNS,
    RECORD_ID_FIELD,
    REPEAT_INSTANCE,
    REPEAT_INSTRUMENT,
    Field,
    Instrument,
    instruments,
    project_fields,
)
from redcap_api.site_import import DICTIONARY_SHEET, LISTS_SHEET

# rows a drop-down list covers (Excel applies a validation to a range, not to a whole column)
VALIDATED_ROWS = 20000


def sheet_columns(instrument: Instrument) -> list[str]:
    """The columns of an instrument's sheet: the fields an import writes (not the derived ones)."""
    columns = [RECORD_ID_FIELD, DATA_ACCESS_GROUP] + ([REPEAT_INSTANCE] if instrument.repeating else [])
    columns += [field.name for field in instrument.fields if not field.is_record_id and not field.is_derived]
    return [*columns, instrument.complete_field]


def field_list(field: Field) -> list[str]:
    """The values a coded field takes in the file: its codes, then the missing data codes it accepts."""
    return [code for code, _label in field.choices()] + (list(MissingCode.values) if field.accepts_code else [])


def import_template_xlsx(rows: list[dict] | None = None) -> bytes:
    """The template as XLSX bytes; with `rows` (REDCap flat rows), filled with them."""
    book = Workbook()
    book.remove(book.active)
    lists = book.create_sheet(LISTS_SHEET)
    list_ranges: dict[str, str] = {}
    list_column = 0
    for field in project_fields():
        values = field_list(field) if not field.is_derived else []
        if not values:
            continue
        list_column += 1
        letter = get_column_letter(list_column)
        lists.cell(row=1, column=list_column, value=field.name)
        for number, value in enumerate(values, start=2):
            lists.cell(row=number, column=list_column, value=value)
        list_ranges[field.name] = f"{quote_sheetname(LISTS_SHEET)}!${letter}$2:${letter}${len(values) + 1}"
    list_column += 1
    lists.cell(row=1, column=list_column, value="form_status")
    for number, code in enumerate(FORM_STATUS_LABELS, start=2):
        lists.cell(row=number, column=list_column, value=code)
    letter = get_column_letter(list_column)
    status_range = f"{quote_sheetname(LISTS_SHEET)}!${letter}$2:${letter}${len(FORM_STATUS_LABELS) + 1}"

    for instrument in instruments():
        sheet = book.create_sheet(instrument.name, index=len(book.worksheets) - 1)
        columns = sheet_columns(instrument)
        sheet.append(columns)
        sheet.freeze_panes = "B2"
        for index, name in enumerate(columns, start=1):
            source = status_range if name == instrument.complete_field else list_ranges.get(name)
            if source is None:
                continue
            letter = get_column_letter(index)
            validation = DataValidation(type="list", formula1=source, allow_blank=True, showErrorMessage=True,
                                        errorTitle=name, error="Choose a value of the list.")
            validation.add(f"{letter}2:{letter}{VALIDATED_ROWS}")
            sheet.add_data_validation(validation)
        for row in rows or []:
            repeat = row.get(REPEAT_INSTRUMENT) or ""
            if (repeat != instrument.name) if instrument.repeating else repeat:
                continue
            values = [row.get(name, "") for name in columns]
            if not any(values[3 if instrument.repeating else 2:]):
                continue
            sheet.append([str(value) for value in values])
    dictionary = book.create_sheet(DICTIONARY_SHEET)
    dictionary.append(list(METADATA_COLUMNS))
    for field in project_fields():
        metadata = field.metadata_row()
        dictionary.append([metadata[column] for column in METADATA_COLUMNS])
    lists.sheet_state = "hidden"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
