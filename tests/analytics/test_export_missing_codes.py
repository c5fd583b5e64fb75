"""Exports keep the reason of a missing answer: a coded question (UNK, ND, NA) is an empty
value with its code in `<name>_missing` (CSV, JSON), Stata extended missing, SPSS
user-missing values, SAS special missing and an ODM flag the ODM 1.3.2 schema accepts; the
data dictionary says so; the CTCAE v5.0 variables of adverse events work in every format."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import struct
import tempfile
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pytest
from lxml import etree

from analytics.exports.dataset import DATE_MODES, FILE_FORMATS, VALUE_MODES, ExportOptions, date_shift_days
from analytics.exports.dictionary import SPSS_MISSING, dictionary_entries
from analytics.exports.services import export_bytes
from analytics.exports.variables import export_tables
from analytics.exports.xport import ibm_float, sas_names
from outcomes.models import CtcaeTerm
from tests.analytics.test_exports import read_stat
from tests.factories import (
    AdverseEventFactory,
    BaselineFactory,
    FollowUpFactory,
    IOCycleFactory,
    PatientFactory,
)

SCHEMA = Path(__file__).resolve().parent.parent / "data" / "odm-1.3.2" / "ODM1-3-2.xsd"
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
MODES = [(dates, values) for dates in DATE_MODES for values in VALUE_MODES]
BLOOD_OTHER = "10005329"  # Blood and lymphatic system disorders - Other, specify
SPECIFIED = "Pancytopenia of marrow failure"

# (table, variable) → the code of the coded patient's row (first row of the table).
CODED = {
    ("baseline", "cd22_expression_pct"): "UNK",  # decimal
    ("baseline", "ecog"): "ND",  # integer
    ("baseline", "ph_status"): "NA",  # code list
    ("baseline", "extramedullary_disease"): "UNK",  # yes/no
    ("io_cycles", "dose_day8"): "ND",
    ("io_cycles", "delayed"): "UNK",
    ("adverse_events", "resolution_date"): "UNK",  # date
    ("adverse_events", "serious"): "NA",
    ("adverse_events", "relation"): "ND",
    ("follow_up", "relapsed"): "UNK",
}
STATA = {"UNK": "u", "ND": "d", "NA": "n"}
SAS = {"UNK": "U", "ND": "D", "NA": "N"}


@pytest.fixture
def coded(center):
    """A casebook whose source lacks some answers, coded; a second patient's answered in full."""
    patient = PatientFactory(center=center)
    BaselineFactory(patient=patient, cd22_expression_pct=None, ecog=None, ph_status="", extramedullary_disease=None,
                    missing_codes={"cd22_expression_pct": "UNK", "ecog": "ND", "ph_status": "NA",
                                   "extramedullary_disease": "UNK"})
    IOCycleFactory(patient=patient, dose_day8=None, delayed=None, missing_codes={"dose_day8": "ND", "delayed": "UNK"})
    AdverseEventFactory(patient=patient, resolution_date=None, serious=None, relation="",
                        missing_codes={"resolution_date": "UNK", "serious": "NA", "relation": "ND"})
    AdverseEventFactory(patient=patient, ctcae_term_id=BLOOD_OTHER, other_specify=SPECIFIED, grade=4,
                        onset_date=dt.date(2017, 3, 12))
    FollowUpFactory(patient=patient, relapsed=None, missing_codes={"relapsed": "UNK"})
    other = PatientFactory(center=center)
    BaselineFactory(patient=other)
    IOCycleFactory(patient=other)
    FollowUpFactory(patient=other)
    return patient, other


def export_zip(user, file_format, dates="relative", values="codes") -> zipfile.ZipFile:
    _log, data = export_bytes(user=user, options=ExportOptions(file_format, dates, values))
    return zipfile.ZipFile(io.BytesIO(data))


def first_row(frame: pd.DataFrame, study_id: str) -> pd.Series:
    return frame[frame["study_id"] == study_id].iloc[0]


# --- CSV and JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(("dates", "values"), MODES)  # relative: PostgreSQL's COPY writes the rows
def test_csv_has_the_code_in_a_companion_column_after_the_variable(coded, statistician, dates, values):
    patient, other = coded
    with export_zip(statistician, "csv", dates, values) as archive:
        tables = {table.name: list(csv.DictReader(io.StringIO(archive.read(f"{table.name}.csv").decode())))
                  for table in export_tables()}
        headers = {table.name: next(csv.reader(io.StringIO(archive.read(f"{table.name}.csv").decode())))
                   for table in export_tables()}
    for table in export_tables():
        header = headers[table.name]
        for name in table.codable:
            assert header[header.index(name) + 1] == f"{name}_missing"
        assert not any(column.endswith("_missing") and column.removesuffix("_missing") not in table.codable
                       for column in header)
    for (table, name), code in CODED.items():
        row = next(row for row in tables[table] if row["study_id"] == patient.study_id)
        assert (row[name], row[f"{name}_missing"]) == ("", code)
    for table, name in CODED:
        for row in tables[table]:
            if row["study_id"] == other.study_id:
                assert row[f"{name}_missing"] == "" and row[name] != ""


def test_json_has_null_and_the_code(coded, statistician):
    patient, other = coded
    _log, data = export_bytes(user=statistician, options=ExportOptions("json"))
    document = json.loads(data)
    for (table, name), code in CODED.items():
        rows = document["tables"][table]
        row = next(row for row in rows if row["study_id"] == patient.study_id)
        assert row[name] is None and row[f"{name}_missing"] == code
        for row in rows:
            if row["study_id"] == other.study_id:
                assert row[name] is not None and row[f"{name}_missing"] is None
    assert {entry["code"] for entry in document["missing_codes"]} == {"UNK", "ND", "NA"}
    assert len(document["ctcae_terms"]) == CtcaeTerm.objects.count() == 837


# --- Stata, SPSS, SAS ----------------------------------------------------------------------------


def numeric_coded(values: str):
    """The coded variables that are numbers in the files of a value mode: all of them, code
    lists being labelled numbers in both modes."""
    return dict(CODED)


@pytest.mark.parametrize(("dates", "values"), MODES)
def test_stata_coded_numbers_are_extended_missing(coded, statistician, dates, values):
    patient, other = coded
    with export_zip(statistician, "dta", dates, values) as archive:
        files = {table: archive.read(f"{table}.dta") for table, _name in CODED}
    numbers = numeric_coded(values)
    for (table, name), code in CODED.items():
        frame, meta = read_stat(f"{table}.dta", files[table], user_missing=True)
        row = first_row(frame, patient.study_id)
        assert row[f"{name}_missing"] == code
        if (table, name) in numbers:
            assert row[name] == STATA[code], (table, name)
            assert set(meta.missing_user_values[name]) <= set(STATA.values())
        else:
            assert row[name] == ""
        with tempfile.NamedTemporaryFile(suffix=".dta") as handle:
            handle.write(files[table])
            handle.flush()
            plain = pd.read_stata(handle.name, convert_categoricals=False)
        value = first_row(plain, patient.study_id)[name]
        assert pd.isna(value) or value == "", (table, name)
        if other.study_id in set(plain["study_id"]):
            assert pd.notna(first_row(plain, other.study_id)[name])


@pytest.mark.parametrize(("dates", "values"), MODES)
def test_spss_coded_answers_are_user_missing_values(coded, statistician, dates, values):
    patient, _other = coded
    with export_zip(statistician, "sav", dates, values) as archive:
        files = {table: archive.read(f"{table}.sav") for table, _name in CODED}
    numbers = numeric_coded(values)
    for (table, name), code in CODED.items():
        frame, meta = read_stat(f"{table}.sav", files[table], user_missing=True, disable_datetime_conversion=True)
        row = first_row(frame, patient.study_id)
        assert row[f"{name}_missing"] == code
        if (table, name) in numbers:
            assert row[name] == SPSS_MISSING[code], (table, name)
            assert {item["lo"] for item in meta.missing_ranges[name]} == set(map(float, SPSS_MISSING.values()))
            assert meta.variable_value_labels[name][float(SPSS_MISSING[code])].endswith(f"({code})")
        else:
            assert row[name] == code
            assert {item["lo"] for item in meta.missing_ranges[name]} == {"UNK", "ND", "NA"}
        plain, _meta = read_stat(f"{table}.sav", files[table])
        assert pd.isna(first_row(plain, patient.study_id)[name]), (table, name)
        with tempfile.NamedTemporaryFile(suffix=".sav") as handle:
            handle.write(files[table])
            handle.flush()
            spss = pd.read_spss(handle.name, convert_categoricals=False)
        assert pd.isna(first_row(spss, patient.study_id)[name]), (table, name)


def read_xport_cells(content: bytes) -> tuple[list[str], list[list[bytes]]]:
    """The variables' names and the raw 8-byte (or text) cells of a transport v5 file."""
    start = content.index(b"NAMESTR HEADER RECORD") - 20
    count = int(content[start + 54:start + 58])
    names, lengths = [], []
    for number in range(count):
        namestr = content[start + 80 + 140 * number:start + 80 + 140 * (number + 1)]
        lengths.append(struct.unpack(">h", namestr[4:6])[0])
        names.append(namestr[8:16].decode().strip())
    observations = content.index(b"OBS     HEADER RECORD") - 20 + 80
    width, rows = sum(lengths), []
    while observations + width <= len(content) and content[observations:observations + width].strip(b" "):
        record, cells, position = content[observations:observations + width], [], 0
        for length in lengths:
            cells.append(record[position:position + length])
            position += length
        rows.append(cells)
        observations += width
    return names, rows


@pytest.mark.parametrize(("dates", "values"), MODES)
def test_sas_coded_numbers_are_special_missing_values(coded, statistician, dates, values):
    patient, other = coded
    with export_zip(statistician, "xpt", dates, values) as archive:
        files = {table: archive.read(f"{table}.xpt") for table, _name in CODED}
    numbers = numeric_coded(values)
    names = {(entry["form"], entry["variable"]): entry["sas_name"] for entry in dictionary_entries()}
    for (table, name), code in CODED.items():
        header, rows = read_xport_cells(files[table])
        cells = {column: cell for column, cell in zip(header, rows[0], strict=True)}
        assert cells[names[table, "study_id"]].strip().decode() == patient.study_id
        assert cells[names[table, f"{name}_missing"]].strip().decode() == code
        if (table, name) in numbers:
            assert cells[names[table, name]] == SAS[code].encode() + bytes(7), (table, name)
        else:
            assert cells[names[table, name]].strip() == b""
        frame, _meta = read_stat(f"{table}.xpt", files[table])
        assert list(frame.columns) == [entry["variable"] for entry in dictionary_entries()
                                       if entry["form"] == table and entry["exported"]]
        assert pd.isna(first_row(frame, patient.study_id)[name]) or first_row(frame, patient.study_id)[name] == ""
        with tempfile.NamedTemporaryFile(suffix=".xpt") as handle:
            handle.write(files[table])
            handle.flush()
            plain = pd.read_sas(handle.name, format="xport", encoding="utf-8")
        assert pd.isna(plain[names[table, name]].iloc[0]) or plain[names[table, name]].iloc[0] == ""
        if other.study_id in set(plain[names[table, "study_id"]]) and (table, name) in numbers:
            assert pd.notna(plain[plain[names[table, "study_id"]] == other.study_id][names[table, name]].iloc[0])


def test_sas_transport_file_reads_back_values_labels_and_dates(coded, statistician):
    patient, _other = coded
    with export_zip(statistician, "xpt", "shifted", "codes") as archive:
        frame, meta = read_stat("io_cycles.xpt", archive.read("io_cycles.xpt"))
        with tempfile.NamedTemporaryFile(suffix=".xpt") as handle:
            handle.write(archive.read("patients.xpt"))
            handle.flush()
            patients = pd.read_sas(handle.name, format="xport", encoding="utf-8")
    row = first_row(frame, patient.study_id)
    assert row["dose_day1"] == pytest.approx(0.8) and row["dose_day15"] == pytest.approx(0.5)
    shifted = patient.c1d1_date + dt.timedelta(days=date_shift_days(patient.study_id))
    assert pd.Timestamp(row["start_date"]).date() == shifted
    assert meta.column_names_to_labels["dose_day1"] == "Dose on day 1 (mg/m²)"
    assert meta.table_name == "IOCYCLES"  # sas_dataset in the dictionary
    assert set(patients["study_id"]) == {patient.study_id, _other.study_id}
    assert "received" in patients.columns  # received_io: 8 characters, see the dictionary


def test_ibm_floats_read_back_through_pandas(tmp_path):
    from analytics.exports.xport import XportColumn, write_xport

    values = [1.8, -12345.678, 0.5, 90.0, 1e-5, 123456789.0, -0.25]
    path = tmp_path / "x.xpt"
    with path.open("wb") as handle:
        write_xport(handle, columns=[XportColumn("x", "x", True)], rows=[[value] for value in values],
                    dataset_name="x")
    assert pd.read_sas(path, format="xport")["x"].tolist() == pytest.approx(values, rel=1e-12)
    assert ibm_float(1.0) == bytes.fromhex("4110000000000000")
    assert math.isnan(pd.read_sas(path, format="xport")["x"].sum()) is False


def test_sas_names_are_short_unique_and_stable():
    names = sas_names(["study_id", "cd22_expression_pct", "cd22_expression_pct_missing", "cd22_expression_other",
                       "marrow_blasts_pct", "marrow_blasts_pct_missing"])
    assert names == {"study_id": "study_id", "cd22_expression_pct": "cd22_exp", "cd22_expression_pct_missing": "cd22_e_m",
                     "cd22_expression_other": "cd22_e01", "marrow_blasts_pct": "marrow_b",
                     "marrow_blasts_pct_missing": "marrow_m"}
    for table in export_tables():
        found = [entry["sas_name"] for entry in dictionary_entries() if entry["form"] == table.name and entry["exported"]]
        assert all(len(name) <= 8 for name in found) and len({name.lower() for name in found}) == len(found)


# --- CDISC ODM 1.3.2 ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def odm_schema():
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def test_every_odm_variant_the_export_offers_validates_against_the_schema(coded, statistician, odm_schema):
    """Every combination of options that gives an ODM file, on a casebook with coded answers."""
    variants = [ExportOptions("odm", dates, values) for dates in DATE_MODES for values in VALUE_MODES]
    assert "odm" in FILE_FORMATS and len(variants) == 4
    for options in variants:
        _log, data = export_bytes(user=statistician, options=options)
        document = etree.fromstring(data)
        assert odm_schema.validate(document), (options, odm_schema.error_log.last_error)


def test_odm_says_a_coded_answer_is_null_and_flags_its_code(coded, statistician):
    patient, _other = coded
    _log, data = export_bytes(user=statistician, options=ExportOptions("odm"))
    root = ElementTree.fromstring(data)  # noqa: S314 (our own export)
    code_list = root.find(f".//{ODM}CodeList[@OID='CL.MISSING_DATA_CODE']")
    assert [item.get("CodedValue") for item in code_list] == ["UNK", "ND", "NA"]
    subject = root.find(f".//{ODM}SubjectData[@SubjectKey='{patient.study_id}']")
    for (table, name), code in CODED.items():
        oid = f"IT.{table.upper()}.{name.upper()}"
        items = subject.findall(f".//{ODM}ItemData[@ItemOID='{oid}']")
        assert items[0].get("IsNull") == "Yes" and items[0].get("Value") is None
        flag = items[0].find(f"{ODM}Annotation/{ODM}Flag/{ODM}FlagValue")
        assert flag.text == code and flag.get("CodeListOID") == "CL.MISSING_DATA_CODE"
    # No item of a companion column: the code is said by the flag.
    assert not root.findall(f".//{ODM}ItemDef[@Name='cd22_expression_pct_missing']")


# --- Adverse events on CTCAE v5.0 ------------------------------------------------------------------


@pytest.mark.parametrize("file_format", FILE_FORMATS)
def test_adverse_event_variables_in_every_format(coded, statistician, file_format):
    patient, _other = coded
    _log, data = export_bytes(user=statistician, options=ExportOptions(file_format, "relative", "codes"))
    expected = [("10001551", "Alanine aminotransferase increased", "", "Investigations", 0),
                (BLOOD_OTHER, "Blood and lymphatic system disorders - Other, specify", SPECIFIED,
                 "Blood and lymphatic system disorders", 1)]
    names = ["ctcae_term", "term", "other_specify", "organ_class", "haematologic"]
    if file_format == "json":
        rows = [row for row in json.loads(data)["tables"]["adverse_events"] if row["study_id"] == patient.study_id]
        found = [tuple(row[name] for name in names) for row in rows]
        expected = [tuple(value or None if name == "other_specify" else value for name, value in zip(names, row,
                                                                                                     strict=True))
                    for row in expected]
    elif file_format == "odm":
        root = ElementTree.fromstring(data)  # noqa: S314 (our own export)
        groups = root.findall(f".//{ODM}SubjectData[@SubjectKey='{patient.study_id}']//{ODM}ItemGroupData"
                              "[@ItemGroupOID='IG.ADVERSE_EVENTS']")
        found = []
        for group in groups:
            items = {item.get("ItemOID"): item.get("Value") for item in group}
            found.append(tuple(items.get(f"IT.ADVERSE_EVENTS.{name.upper()}", "") for name in names))
        expected = [tuple(str(value) for value in row) for row in expected]
    else:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            content = archive.read(f"adverse_events.{file_format}")
        if file_format == "csv":
            frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
            expected = [tuple(str(value) for value in row) for row in expected]
        else:
            frame, _meta = read_stat(f"adverse_events.{file_format}", content)
        rows = frame[frame["study_id"] == patient.study_id]
        found = [tuple(row[name] for name in names) for _number, row in rows.iterrows()]
    assert found == expected


def test_dictionary_lists_codes_codable_variables_companions_and_terms(coordinator):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(coordinator)
    entries = api.get("/api/dictionary/").json()
    by_key = {(entry["form"], entry["variable"]): entry for entry in entries}
    assert by_key[("baseline", "cd22_expression_pct")]["accepts_code"] is True
    assert by_key[("baseline", "cd22_expression_pct")]["missing_code_column"] == "cd22_expression_pct_missing"
    assert by_key[("baseline", "cd22_expression_pct")]["sas_name"] == "cd22_exp"
    companion = by_key[("baseline", "cd22_expression_pct_missing")]
    assert companion["type"] == "string" and companion["accepts_code"] is False
    assert [item["code"] for item in companion["code_list"]] == ["UNK", "ND", "NA"]
    assert by_key[("baseline", "diagnosis_date")]["accepts_code"] is False
    assert by_key[("patients", "received_io")]["accepts_code"] is False
    codable = {(form, name) for form, name in by_key if by_key[form, name]["accepts_code"]}
    assert codable == {(table.name, name) for table in export_tables() for name in table.codable}
    codes = api.get("/api/dictionary/missing-codes/").json()
    assert codes[0] | {"csv_json": "", "odm": ""} == {
        "code": "UNK", "label": "Unknown (not in the source)", "stata": ".u", "sas": ".U", "spss_numeric": -9999997,
        "spss_string": "UNK", "csv_json": "", "odm": ""}
    assert [code["stata"] for code in codes] == [".u", ".d", ".n"]
    terms = api.get("/api/dictionary/ctcae-terms/").json()
    assert len(terms) == 837
    febrile = next(term for term in terms if term["term"] == "Febrile neutropenia")
    assert febrile | {"definition": ""} == {
        "meddra_code": "10016288", "term": "Febrile neutropenia", "soc": "Blood and lymphatic system disorders",
        "haematologic": True, "other_specify": False, "definition": "",
        "grades": [{"grade": 3, "description": febrile["grades"][0]["description"]},
                   {"grade": 4, "description": "Life-threatening consequences; urgent intervention indicated"},
                   {"grade": 5, "description": "Death"}]}
    assert febrile == api.get("/api/ctcae-terms/10016288/").json()  # one representation of a term


@pytest.mark.parametrize("file_format", ["csv", "dta"])
def test_bundles_carry_the_codes_and_the_terms(coded, statistician, file_format):
    with export_zip(statistician, file_format) as archive:
        codes = list(csv.DictReader(io.StringIO(archive.read("missing_codes.csv").decode())))
        terms = list(csv.DictReader(io.StringIO(archive.read("ctcae_v5_terms.csv").decode())))
        dictionary = list(csv.DictReader(io.StringIO(archive.read("data_dictionary.csv").decode())))
    assert [(row["code"], row["stata"], row["sas"], row["spss_numeric"]) for row in codes] == [
        ("UNK", ".u", ".U", "-9999997"), ("ND", ".d", ".D", "-9999998"), ("NA", ".n", ".N", "-9999999")]
    assert len(terms) == 837 and {"meddra_code", "term", "soc", "haematologic"} <= set(terms[0])
    row = next(row for row in dictionary if (row["form"], row["variable"]) == ("io_cycles", "delayed"))
    assert (row["accepts_code"], row["missing_code_column"]) == ("1", "delayed_missing")


def test_sas_formats_label_the_special_missing_values(coded, statistician):
    with export_zip(statistician, "xpt") as archive:
        program = archive.read("formats.sas").decode()
    line = next(line for line in program.splitlines() if "/* baseline.cd22_expression_pct:" in line)
    assert '.U="Unknown (not in the source) (UNK)" .D="Not done (ND)" .N="Not applicable (NA)"' in line
    assert line.endswith("cd22_exp */")
    assert 'value patients_sexf 1="Male" 2="Female";' in program  # no code: no special missing value


def test_allowlist_check_still_refuses_free_text_and_coded_derived_variables(monkeypatch):
    from analytics.exports.variables import allowlist_check
    from outcomes.models import AdverseEvent

    adverse_events = next(table for table in export_tables() if table.name == "adverse_events")
    allowlist_check([adverse_events])  # the specified term is a term, not free text
    monkeypatch.setattr(AdverseEvent._meta.get_field("other_specify"), "specified_term", False)
    with pytest.raises(ValueError, match="other_specify is free text"):
        allowlist_check([adverse_events])
    monkeypatch.undo()
    cycles = next(table for table in export_tables() if table.name == "io_cycles")
    with pytest.raises(ValueError, match="derived variable takes no missing-data code"):
        allowlist_check([type(cycles)(**{**cycles.__dict__, "codable": (*cycles.codable, "total_dose")})])


@pytest.mark.parametrize("file_format", ["dta", "sav", "xpt"])
def test_a_date_column_coded_in_every_row_stays_a_date(center, statistician, file_format):
    patient = PatientFactory(center=center)
    AdverseEventFactory(patient=patient, resolution_date=None, missing_codes={"resolution_date": "ND"})
    with export_zip(statistician, file_format, "shifted") as archive:
        content = archive.read(f"adverse_events.{file_format}")
    if file_format == "xpt":
        header, rows = read_xport_cells(content)
        assert rows[0][header.index("resoluti")] == b"D" + bytes(7)
        assert b"DATE    " in content  # the DATE9. format of the column
        return
    kwargs = {"disable_datetime_conversion": True} if file_format == "sav" else {}
    frame, meta = read_stat(f"adverse_events.{file_format}", content, user_missing=True, **kwargs)
    assert frame["resolution_date"].tolist() == (["d"] if file_format == "dta" else [SPSS_MISSING["ND"]])
    assert meta.original_variable_types["resolution_date"] == ("%td" if file_format == "dta" else "DATE11")
