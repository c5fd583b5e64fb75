"""Records of the REDCap-compatible API, read through the user's selectors.

A record is a casebook. Its rows come as REDCap exports a classic project with repeating
instruments ("flat"): one row of the record's single instruments (repeat instrument and
instance blank), then one row per instance of each repeating instrument, holding that
instrument's fields only.

Instance numbers are stable: a row's instance is its rank by creation among every row of
its part for the patient, deleted rows included, so a deletion leaves a gap (as in REDCap)
rather than renumbering the rows after it.

What a user sees is what the rest of the registry shows them: the patients of
`patients.selectors` (a coordinator, their centers'); a user who may not see identifiers
(`sites.roles.can_see_identifiers`) gets no direct identifier and no free text
(`patients.clinical.mask_for`: the field is left out of the export, as REDCap leaves out the
fields a de-identified export right excludes), and the dates of the de-identified exports
shifted per patient (`analytics.exports.dataset.date_shift_days`): REDCap dates must stay
dates, so the exports' other mode, days from C1D1, does not apply here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from analytics.exports.dataset import ExportOptions, date_shift_days, date_shifted, variable_expression
from analytics.exports.variables import BOOLEAN
from patients.clinical import MissingCode, is_empty, mask_for, missing_code
from patients.models import FormState
from patients.selectors import form_rows_for_user, patient_list_for_user
from redcap_api.project import (
    DATA_ACCESS_GROUP,
    FORM_STATUS_LABELS,
    RECORD_ID_FIELD,
    REPEAT_INSTANCE,
    REPEAT_INSTRUMENT,
    Field,
    Instrument,
    data_access_group_name,
    form_status_code,
    instruments,
)
from sites.roles import can_see_identifiers


def field_visible_to(field: Field, *, user) -> bool:
    """Whether the field's values go to this user (the record ID always does: it is pseudonymous)."""
    if field.model_field is None:
        return True
    return mask_for(field.model_field, identifiers_shown=can_see_identifiers(user)) is None


def dates_shifted_for(user) -> bool:
    """Dates are shifted for the users who get de-identified data."""
    return not can_see_identifiers(user)


def instance_numbers(instrument: Instrument, patient_ids) -> dict[int, int]:
    """{row pk: instance number} of the instrument's rows of these patients (see module docstring)."""
    numbers: dict[int, int] = {}
    counts: dict[int, int] = defaultdict(int)
    rows = instrument.part.model.objects.filter(patient_id__in=patient_ids).order_by("patient_id", "pk")
    for patient_id, pk in rows.values_list("patient_id", "pk"):
        counts[patient_id] += 1
        numbers[pk] = counts[patient_id]
    return numbers


DERIVED_PREFIX = "redcap_derived_"


def with_derived_values(queryset, instrument: Instrument, fields: list[Field]):
    """The rows with the derived fields asked for, computed by the exports' SQL."""
    derived = {f"{DERIVED_PREFIX}{field.name}": variable_expression(instrument.export_table, field.variable,
                                                                     ExportOptions())
               for field in fields if field.is_derived and field.instrument.name == instrument.name}
    return queryset.annotate(**derived) if derived else queryset


def _derived_value(field: Field, row, *, labels: bool) -> str:
    value = getattr(row, f"{DERIVED_PREFIX}{field.name}")
    if is_empty(value):
        return ""
    if field.variable.kind == BOOLEAN:
        value = "1" if value else "0"
        return {"1": "Yes", "0": "No"}[value] if labels else value
    return str(value)


def field_value(field: Field, row, *, labels: bool, shift: dt.timedelta | None) -> str:
    """The field's value in an export: raw (codes, 1/0, YYYY-MM-DD) or labels; a coded
    missing value is its missing data code (or the code's label)."""
    if field.is_derived:
        return _derived_value(field, row, labels=labels)
    if field.model_field is None:
        return row.study_id
    model_field = field.model_field
    code = missing_code(row, model_field.name)
    if code is not None:
        return str(MissingCode(code).label) if labels else code
    value = getattr(row, model_field.attname)
    if is_empty(value):
        return ""
    if field.field_type == "yesno":
        value = "1" if value else "0"
        return dict(field.choices())[value] if labels else value
    if isinstance(value, dt.date):
        if shift is not None:
            value = date_shifted(value, shift)
        return "" if value is None else value.isoformat()
    if labels and field.field_type in ("radio", "dropdown"):
        if model_field.is_relation:
            return str(getattr(row, model_field.name))
        return str(dict(model_field.flatchoices).get(value, value))
    return str(value)


@dataclass(frozen=True)
class RecordExport:
    """The export's columns and rows (dicts of strings, the instance an int or ""), and how
    many rows each instrument gave."""

    columns: list[str]
    rows: list[dict]
    counts: dict[str, int]


def record_export_for_user(*, user, records: list[str] | None, fields: list[Field], complete: list[Instrument],
                           labels: bool = False, data_access_groups: bool = False,
                           blank_for_gray: bool = False) -> RecordExport:
    """The records the user may see (all, or those named), with the fields asked for (those the
    user may see) and the `<instrument>_complete` fields asked for."""
    fields = [field for field in fields if field_visible_to(field, user=user)]
    wanted = {field.name for field in fields}
    complete_names = {instrument.name for instrument in complete}
    columns = [RECORD_ID_FIELD, REPEAT_INSTRUMENT, REPEAT_INSTANCE] + ([DATA_ACCESS_GROUP] if data_access_groups else [])
    for instrument in instruments():
        columns += [field.name for field in instrument.fields if field.name in wanted and not field.is_record_id]
        if instrument.name in complete_names:
            columns.append(instrument.complete_field)

    patients = patient_list_for_user(user=user).order_by("study_id")
    patients = with_derived_values(patients, next(i for i in instruments() if i.part.is_patient), fields)
    if records is not None:
        patients = patients.filter(study_id__in=records)
    patients = list(patients)
    patient_ids = [patient.pk for patient in patients]
    statuses = {(patient_id, form): status for patient_id, form, status in
                FormState.objects.filter(patient_id__in=patient_ids).values_list("patient_id", "form", "status")}
    shifts = {patient.pk: dt.timedelta(days=date_shift_days(patient.study_id)) for patient in patients} \
        if dates_shifted_for(user) else {}

    used = [instrument for instrument in instruments()
            if instrument.name in complete_names or any(field.instrument.name == instrument.name for field in fields)]
    single: dict[str, dict[int, object]] = {}
    repeating: dict[str, dict[int, list]] = {}
    numbers: dict[str, dict[int, int]] = {}
    for instrument in used:
        if instrument.part.is_patient:
            single[instrument.name] = {patient.pk: patient for patient in patients}
            continue
        rows = with_derived_values(form_rows_for_user(user=user, model=instrument.part.model), instrument, fields)
        rows = rows.filter(patient_id__in=patient_ids)
        if instrument.repeating:
            grouped: dict[int, list] = defaultdict(list)
            for row in rows.order_by("pk"):
                grouped[row.patient_id].append(row)
            repeating[instrument.name] = grouped
            numbers[instrument.name] = instance_numbers(instrument, patient_ids)
        else:
            single[instrument.name] = {row.patient_id: row for row in rows}

    def status(patient, instrument: Instrument) -> str:
        code = form_status_code(statuses.get((patient.pk, instrument.part.key)), blank_for_gray=blank_for_gray)
        return FORM_STATUS_LABELS.get(code, code) if labels else code

    def fill(out: dict, instrument: Instrument, row, patient) -> None:
        for field in instrument.fields:
            if field.name in wanted and not field.is_record_id:
                out[field.name] = "" if row is None else field_value(field, row, labels=labels,
                                                                      shift=shifts.get(patient.pk))
        if instrument.name in complete_names:
            out[instrument.complete_field] = status(patient, instrument)

    out_rows = []
    counts: dict[str, int] = defaultdict(int)
    for patient in patients:
        base = dict.fromkeys(columns, "")
        base[RECORD_ID_FIELD] = patient.study_id
        if data_access_groups:
            base[DATA_ACCESS_GROUP] = data_access_group_name(patient.center)
        for instrument in used:
            if not instrument.repeating:
                fill(base, instrument, single[instrument.name].get(patient.pk), patient)
                counts[instrument.name] += patient.pk in single[instrument.name]
        out_rows.append(base)
        for instrument in used:
            if not instrument.repeating:
                continue
            for row in repeating[instrument.name].get(patient.pk, []):
                line = dict.fromkeys(columns, "")
                line.update({RECORD_ID_FIELD: patient.study_id,
                             REPEAT_INSTRUMENT: instrument.label if labels else instrument.name,
                             REPEAT_INSTANCE: numbers[instrument.name][row.pk]})
                if data_access_groups:
                    line[DATA_ACCESS_GROUP] = base[DATA_ACCESS_GROUP]
                fill(line, instrument, row, patient)
                out_rows.append(line)
                counts[instrument.name] += 1
    return RecordExport(columns=columns, rows=out_rows, counts=dict(counts))
