"""Every table of every export opens in the tools statisticians use, typed as they expect:
pandas (read_sas, read_stata, read_spss) and pyreadstat read each Stata, SPSS and SAS file
of each dates × values mode; dates are dates even when every value is empty; a coded
variable's empty value is missing, never ""; the age is a plain number with a mean; SAS
names, dataset names and labels fit SAS transport v5 (labels written short, not cut);
a decimal column has one number format in CSV and JSON."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import tempfile
import zipfile
from decimal import Decimal

import pandas as pd
import pyreadstat
import pytest

from analytics.exports.dataset import (
    DATE_MODES,
    VALUE_MODES,
    ExportOptions,
    table_columns,
    table_csv_copy,
    table_rows,
)
from analytics.exports.dictionary import dictionary_entries
from analytics.exports.formats import table_frame, table_frame_from_csv
from analytics.exports.services import export_bytes
from analytics.exports.stata import missing_double
from analytics.exports.variables import BOOLEAN, CODE, DATE, export_tables, sas_dataset_names
from analytics.exports.xport import LABEL_LENGTH, NAME_LENGTH, ibm_float, ibm_floats
from tests.factories import (
    AdverseEventFactory,
    BaselineFactory,
    EndOfTreatmentFactory,
    FollowUpFactory,
    HsctFactory,
    IOCycleFactory,
    PatientFactory,
    PriorLineFactory,
    ResponseFactory,
    VodFactory,
)

MODES = [(dates, values) for dates in DATE_MODES for values in VALUE_MODES]
PANDAS_READERS = {
    "dta": lambda path: pd.read_stata(path),
    "sav": lambda path: pd.read_spss(path),
    "xpt": lambda path: pd.read_sas(path, format="xport", encoding="utf-8"),
}
PYREADSTAT_READERS = {"dta": pyreadstat.read_dta, "sav": pyreadstat.read_sav, "xpt": pyreadstat.read_xport}
DATE_FORMATS = {"dta": "%td", "sav": "DATE11", "xpt": "DATE9"}


@pytest.fixture
def cohort(center):
    """Two full casebooks, aged 91 and 60 at C1D1, never withdrawn (an all-empty date column),
    with cycles whose total doses differ in their decimals (1.8 and 1.5), and empty codes."""
    old = PatientFactory(center=center, date_of_birth=dt.date(1925, 11, 23))
    young = PatientFactory(center=center, date_of_birth=dt.date(1957, 1, 2))
    HsctFactory(patient=old)
    for patient in (old, young):
        BaselineFactory(patient=patient)
        PriorLineFactory(patient=patient)
        EndOfTreatmentFactory(patient=patient)
        ResponseFactory(patient=patient)
        AdverseEventFactory(patient=patient)
        VodFactory(patient=patient)
        FollowUpFactory(patient=patient)
    IOCycleFactory(patient=old)
    IOCycleFactory(patient=young, dose_day1=Decimal("0.5"), dose_day8=Decimal("0.5"), dose_day15=Decimal("0.5"))
    HsctFactory(patient=young, performed=False, hsct_date=None, donor="", conditioning="", tbi=None, status_at_hsct="")
    return old, young


def _files(data: bytes, extension: str) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name.removesuffix(f".{extension}"): archive.read(name) for name in archive.namelist()
                if name.endswith(f".{extension}")}


def _read(file_format: str, content: bytes):
    with tempfile.NamedTemporaryFile(suffix=f".{file_format}") as handle:
        handle.write(content)
        handle.flush()
        by_pandas = PANDAS_READERS[file_format](handle.name)
        by_pyreadstat, meta = PYREADSTAT_READERS[file_format](handle.name)
    return by_pandas, by_pyreadstat, meta


@pytest.mark.parametrize(("dates", "values"), MODES)
@pytest.mark.parametrize("file_format", ["dta", "sav", "xpt"])
def test_every_table_opens_in_pandas_and_pyreadstat_typed(cohort, statistician, file_format, dates, values):
    options = ExportOptions(file_format, dates, values)
    _log, data = export_bytes(user=statistician, options=options)
    files = _files(data, file_format)
    dataset_names = sas_dataset_names()
    assert set(files) == {table.name for table in export_tables()}
    for table in export_tables():
        by_pandas, by_pyreadstat, meta = _read(file_format, files[table.name])
        columns = table_columns(table)
        assert len(by_pandas) == len(by_pyreadstat) > 0, table.name
        names = meta.column_names
        if file_format == "xpt":
            assert meta.table_name.lower() == dataset_names[table.name]
            assert all(len(name) <= NAME_LENGTH for name in names)
            assert len({name.lower() for name in names}) == len(names)
            for variable, name in zip(columns, names, strict=True):
                label = meta.column_names_to_labels[name]
                assert label == variable.sas_label and len(label) <= LABEL_LENGTH, (table.name, variable.name)
                # A label that does not fit is written short, never cut mid-word.
                assert label == str(variable.label) or not str(variable.label).startswith(label)
        frame = by_pyreadstat.set_axis([variable.name for variable in columns], axis=1)
        pandas_frame = by_pandas.set_axis([variable.name for variable in columns], axis=1)
        for variable, name in zip(columns, names, strict=True):
            where = (table.name, variable.name)
            kind = meta.readstat_variable_types[name]
            if variable.kind == DATE:
                assert kind == "double", where
                if dates == "shifted":
                    assert meta.original_variable_types[name].upper().startswith(DATE_FORMATS[file_format].upper()), where
            if variable.kind == BOOLEAN or (variable.kind == CODE and variable.choices):
                # A code list is a labelled number: an empty answer is the tool's missing.
                assert kind == "double", where
                assert not (frame[variable.name].astype(object) == "").any(), where
                assert not (pandas_frame[variable.name].astype(object) == "").any(), where
        if table.is_patient_table:
            assert "age_at_c1d1" not in meta.variable_value_labels
            for ages in (frame["age_at_c1d1"], pandas_frame["age_at_c1d1"]):
                assert pd.api.types.is_numeric_dtype(ages) and ages.mean() == pytest.approx((90 + 60) / 2)
        if table.name == "io_cycles":
            assert sorted(pandas_frame["total_dose"]) == pytest.approx([1.5, 1.8])


def test_sas_names_and_labels_are_documented_in_the_dictionary(settings):
    entries = [entry for entry in dictionary_entries() if entry["exported"]]
    for table in export_tables():
        mine = [entry for entry in entries if entry["form"] == table.name]
        assert {entry["sas_dataset"] for entry in mine} == {sas_dataset_names()[table.name]}
        assert all(len(entry["sas_label"]) <= LABEL_LENGTH for entry in mine)
    assert len(set(sas_dataset_names().values())) == len(export_tables())
    by_name = {(entry["form"], entry["variable"]): entry for entry in entries}
    assert by_name[("patients", "age_at_c1d1")]["sas_label"] == "Age at C1D1 (years; 90 = 90 or over)"


@pytest.mark.parametrize("dates", DATE_MODES)
def test_a_decimal_column_has_one_number_format_in_csv_and_json(cohort, statistician, dates):
    _log, data = export_bytes(user=statistician, options=ExportOptions("csv", dates, "codes"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("io_cycles.csv").decode())))
    assert sorted(row["total_dose"] for row in rows) == ["1.50", "1.80"]
    assert {row["dose_day1"] for row in rows} == {"0.50", "0.80"}
    _log, data = export_bytes(user=statistician, options=ExportOptions("json", dates, "codes"))
    text = data.decode()
    assert sorted(re.findall(r'"total_dose": ?([0-9.]+)', text)) == ["1.50", "1.80"]
    assert sorted(row["total_dose"] for row in json.loads(text)["tables"]["io_cycles"]) == [1.5, 1.8]


@pytest.mark.parametrize(("dates", "values"), MODES)
@pytest.mark.parametrize("file_format", ["dta", "sav", "xpt"])
def test_the_frame_read_from_the_database_csv_is_the_frame_of_the_rows(cohort, statistician, database_copy, file_format, dates,
                                                                       values):
    """On PostgreSQL the Stata/SPSS/SAS frames come from COPY's CSV, converted column by column:
    the same frame as the rows give, value for value (codes, dates, coded answers)."""
    from django.db import transaction

    from patients.models import Patient

    old, _young = cohort
    # Coded answers of every kind, and an all-empty column.
    Patient.objects.filter(pk=old.pk).update(withdrawal_date=None)
    baseline = old.baseline
    baseline.missing_codes = {"cd22_expression_pct": "UNK", "ph_status": "NA"}
    baseline.cd22_expression_pct, baseline.ph_status = None, ""
    baseline.save()
    options = ExportOptions(file_format, dates, values)
    with transaction.atomic():
        for table in export_tables():
            by_rows = table_frame(table, table_rows(table, user=statistician, options=options), options)
            by_csv = table_frame_from_csv(table, table_csv_copy(table, user=statistician, options=options), options)
            pd.testing.assert_frame_equal(by_csv, by_rows, check_dtype=True, obj=table.name)


def test_column_conversions_agree_with_the_value_ones():
    import numpy as np

    values = [1.8, -12345.678, 0.5, 90.0, 1e-5, 123456789.0, -0.25, 0.0, float("nan"), 3.0]
    letters = {"U": np.array([False] * 9 + [True])}
    expected = [ibm_float(value) for value in values[:8]] + [b"." + bytes(7), b"U" + bytes(7)]
    data = ibm_floats(values, letters).tobytes()
    assert [data[start:start + 8] for start in range(0, len(data), 8)] == expected
    assert np.array([missing_double("u")]).view("<u8")[0] == 0x7FE0000000000000 + (21 << 40)
