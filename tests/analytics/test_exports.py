"""De-identified dataset exports: no identifier or free text ever leaves, in any format or mode;
the statistical files read back typed and labelled; the ODM file follows ODM 1.3.2."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from decimal import Decimal
from xml.etree import ElementTree

import pandas as pd
import pyreadstat
import pytest
from django.db import models

from analytics.exports.dataset import FILE_FORMATS, ExportOptions, date_shift_days
from analytics.exports.dictionary import dictionary_entries
from analytics.exports.services import export_bytes
from analytics.exports.variables import (
    PATIENT_KEY,
    Variable,
    allowlist_check,
    export_tables,
    model_field_at,
)
from analytics.models import ExportLog, ExportStatus
from patients.clinical import is_direct_identifier, is_free_text
from patients.registry import BOOKKEEPING_FIELDS
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

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
MODES = [(dates, values) for dates in ("relative", "shifted") for values in ("codes", "labels")]

# Unique values planted in every identifier field and every free-text field.
PLANTED_DOB = dt.date(1925, 11, 23)
PLANTED_TEXT = {
    "local_hospital_id": "HOSPIDZQX4417",
    "initials": "QZXJ",
    "exclusion_reason": "EXCLREASONZQX",
    "withdrawal_reason": "WDREASONZQX",
    "regimen": "REGIMENZQX-HYPERCVAD",
    "modification_reason": "MODREASONZQX",
    "reason_other": "EOTOTHERZQX",
}
PLANTED_DATE_TEXTS = ["1925-11-23", "23/11/1925", "11/23/1925", "19251123", "23NOV1925", "1925/11/23"]


@pytest.fixture
def planted(center):
    """A full casebook with unique identifiers and free text, aged over 89 at C1D1."""
    patient = PatientFactory(center=center, local_hospital_id=PLANTED_TEXT["local_hospital_id"],
                             initials=PLANTED_TEXT["initials"], date_of_birth=PLANTED_DOB,
                             withdrawal_reason=PLANTED_TEXT["withdrawal_reason"])
    BaselineFactory(patient=patient)
    PriorLineFactory(patient=patient, regimen=PLANTED_TEXT["regimen"])
    IOCycleFactory(patient=patient, modification_reason=PLANTED_TEXT["modification_reason"], delayed=True)
    IOCycleFactory(patient=patient, cycle_number=2, start_date=dt.date(2017, 3, 29))
    EndOfTreatmentFactory(patient=patient, reason="other", reason_other=PLANTED_TEXT["reason_other"])
    HsctFactory(patient=patient)
    ResponseFactory(patient=patient)
    AdverseEventFactory(patient=patient)
    VodFactory(patient=patient)
    FollowUpFactory(patient=patient)
    excluded = PatientFactory(center=center, local_hospital_id="HOSPIDZQX5528", initials="QZXK",
                              date_of_birth=dt.date(1960, 1, 2), c1d1_date=None, received_io=False,
                              enrollment_status="excluded", exclusion_reason=PLANTED_TEXT["exclusion_reason"])
    return patient, excluded


def output_texts(file_format: str, data: bytes) -> list[str]:
    """Every readable text of an export: each zip member decoded (binary members also read
    back with pyreadstat and rendered as text), or the document itself."""
    if file_format in ("json", "odm"):
        return [data.decode("utf-8")]
    texts = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            content = archive.read(name)
            texts.append(content.decode("latin-1"))
            if name.endswith((".dta", ".sav", ".xpt")):
                frame, meta = read_stat(name, content)
                texts.append(frame.to_csv(index=False))
                texts.append(repr(meta.column_names_to_labels) + repr(meta.variable_value_labels))
    return texts


def read_stat(name: str, content: bytes, **kwargs):
    """A Stata, SPSS or SAS file of an export read back with pyreadstat; `name` is its name in
    the zip (`<table>.<format>`). The 8-character names of a SAS file are renamed back to the
    variables' names with the dictionary's name map."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=name[-4:]) as handle:
        handle.write(content)
        handle.flush()
        reader = {".dta": pyreadstat.read_dta, ".sav": pyreadstat.read_sav, ".xpt": pyreadstat.read_xport}[name[-4:]]
        frame, meta = reader(handle.name, **kwargs)
    if name.endswith(".xpt"):
        table = name.rsplit("/", 1)[-1].removesuffix(".xpt")
        names = {entry["sas_name"]: entry["variable"] for entry in dictionary_entries()
                 if entry["form"] == table and entry["exported"]}
        frame = frame.rename(columns=names)
        meta.column_names_to_labels = {names[key]: label for key, label in meta.column_names_to_labels.items()}
    return frame, meta


# --- The allowlist -------------------------------------------------------------------


def all_casebook_models():
    return {table.model for table in export_tables()}


def test_no_identifier_or_free_text_field_is_ever_an_exported_variable():
    """Walks every field of every casebook model: identifiers and free text are never exported
    (the date of birth only feeds the derived age). Fails as soon as one is allowlisted."""
    forbidden = {
        (model, field.name)
        for model in all_casebook_models()
        for field in model._meta.concrete_fields
        if is_direct_identifier(field) or is_free_text(field)
    }
    assert {"local_hospital_id", "initials", "date_of_birth", "regimen", "modification_reason", "reason_other",
            "exclusion_reason", "withdrawal_reason"} <= {name for _model, name in forbidden}
    exported_names = set()
    for table in export_tables():
        for variable in table.variables:
            exported_names.add(variable.name)
            for path in variable.inputs:
                model, field = model_field_at(table.model, path)
                if (model, field.name) in forbidden:
                    assert variable.is_derived and field.name == "date_of_birth", (table.name, variable.name)
    assert not exported_names & {name for _model, name in forbidden}
    assert PATIENT_KEY.name == "study_id"


@pytest.mark.parametrize("path", ["local_hospital_id", "initials", "date_of_birth", "exclusion_reason"])
def test_allowlist_check_refuses_identifiers_and_free_text(path):
    from analytics.exports.variables import export_table

    patients = export_table("patients")
    bad = Variable(path, "code", path, (path,))
    with pytest.raises(ValueError, match=path):
        allowlist_check([type(patients)(**{**patients.__dict__, "variables": (*patients.variables, bad)})])


def test_every_model_field_is_either_exported_internal_or_excluded_with_a_reason():
    """A new field on a form must be decided on: allowlisted, or listed as never exported."""
    entries = dictionary_entries()
    known = {(entry["form"], entry["variable"]) for entry in entries}
    internal = BOOKKEEPING_FIELDS | {"center", "study_id", "sequence"}
    renamed = {("patients", "c1d1_date")}
    for table in export_tables():
        for field in table.model._meta.concrete_fields:
            if field.name in internal or (table.name, field.name) in renamed:
                continue
            if field.name == "missing_codes":  # exported as the companions of the codable variables
                assert {(table.name, f"{name}_missing") for name in table.codable} <= known
                continue
            assert (table.name, field.name) in known, f"{table.name}.{field.name} is neither exported nor excluded"
    identifiers = [entry for entry in entries if entry["is_identifier"]]
    assert {entry["variable"] for entry in identifiers} == {"local_hospital_id", "initials", "date_of_birth"}
    assert all(not entry["exported"] for entry in identifiers)


# --- Planted identifiers: every format, both date modes, both value modes -----------------


@pytest.mark.parametrize("file_format", FILE_FORMATS)
@pytest.mark.parametrize(("dates", "values"), MODES)
def test_planted_identifiers_never_leave(planted, statistician, file_format, dates, values):
    log, data = export_bytes(user=statistician, options=ExportOptions(file_format, dates, values))
    texts = output_texts(file_format, data)
    joined = "\n".join(texts)
    assert "RM01-" in joined  # the study ID (patient key) is there...
    for value in [*PLANTED_TEXT.values(), "HOSPIDZQX5528", "QZXK", *PLANTED_DATE_TEXTS]:
        assert value not in joined, f"{value!r} leaked into {file_format}/{dates}/{values}"  # ...identifiers are not
    assert "1960-01-02" not in joined
    assert log.status == ExportStatus.COMPLETED
    import hashlib

    assert log.sha256 == hashlib.sha256(data).hexdigest()
    assert log.size_bytes == len(data)
    assert log.rows["patients"] == 2 and log.rows["io_cycles"] == 2 and log.rows["prior_lines"] == 1


@pytest.mark.parametrize(("dates", "values"), MODES)
def test_csv_zip_holds_one_file_per_form_and_the_dictionary(planted, statistician, dates, values):
    patient, _excluded = planted
    _log, data = export_bytes(user=statistician, options=ExportOptions("csv", dates, values))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        assert {f"{table.name}.csv" for table in export_tables()} | {"data_dictionary.csv"} <= names
        patients = pd.read_csv(archive.open("patients.csv"), dtype=str, keep_default_na=False)
        cycles = pd.read_csv(archive.open("io_cycles.csv"), dtype=str, keep_default_na=False)
        dictionary = pd.read_csv(archive.open("data_dictionary.csv"), dtype=str, keep_default_na=False)
    row = patients.set_index("study_id").loc[patient.study_id]
    assert row["age_at_c1d1"] == "90" and row["age_90_or_over"] == ("1" if values == "codes" else "Yes")
    assert row["sex"] == ("F" if values == "codes" else "Female")
    assert next(iter(patients.columns)) == "study_id"
    assert not {"local_hospital_id", "initials", "date_of_birth"} & set(patients.columns)
    if dates == "relative":
        assert row["c1d1_date"] == "0"
        assert list(cycles["start_date"]) == ["0", "28"]
    else:
        shift = dt.timedelta(days=date_shift_days(patient.study_id))
        assert row["c1d1_date"] == (patient.c1d1_date + shift).isoformat() != patient.c1d1_date.isoformat()
        assert list(cycles["start_date"]) == [(patient.c1d1_date + shift).isoformat(),
                                              (dt.date(2017, 3, 29) + shift).isoformat()]
    sex = dictionary[(dictionary.form == "patients") & (dictionary.variable == "sex")].iloc[0]
    assert sex["code_list"] == "M=Male; F=Female"
    dob = dictionary[dictionary.variable == "date_of_birth"].iloc[0]
    assert dob["is_identifier"] == "1" and dob["exported"] == "0"
    age = dictionary[dictionary.variable == "age_at_c1d1"].iloc[0]
    assert "90" in age["label"] and "top-coded" in age["note"]


def test_shift_is_deterministic_per_patient_secret_keyed_and_keeps_intervals(settings):
    first = date_shift_days("RM01-001")
    assert first == date_shift_days("RM01-001") and first != 0 and -365 <= first <= 365
    assert len({date_shift_days(f"RM01-{n:03d}") for n in range(1, 40)}) > 20
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    assert [date_shift_days(f"RM01-{n:03d}") for n in range(1, 10)] != [first] + [None] * 8


def test_json_export(planted, statistician):
    patient, excluded = planted
    _log, data = export_bytes(user=statistician, options=ExportOptions("json", "relative", "labels"))
    document = json.loads(data)
    assert set(document["tables"]) == {table.name for table in export_tables()}
    by_id = {row["study_id"]: row for row in document["tables"]["patients"]}
    assert by_id[patient.study_id]["age_at_c1d1"] == 90
    assert by_id[excluded.study_id]["enrollment_status"] == "Excluded"
    assert by_id[excluded.study_id]["c1d1_date"] is None
    assert document["tables"]["io_cycles"][0]["total_dose"] == pytest.approx(1.8)
    assert {entry["variable"] for entry in document["dictionary"]} >= {"study_id", "term", "local_hospital_id"}


# --- Stata, SPSS, SAS read back ---------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["dta", "sav", "xpt"])
@pytest.mark.parametrize("dates", ["relative", "shifted"])
def test_statistical_files_read_back_with_types_and_labels(planted, statistician, file_format, dates):
    patient, _excluded = planted
    _log, data = export_bytes(user=statistician, options=ExportOptions(file_format, dates, "codes"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        assert {f"{table.name}.{file_format}" for table in export_tables()} <= names
        assert "data_dictionary.csv" in names
        if file_format == "xpt":
            assert "value sexf" not in archive.read("formats.sas").decode()  # names are table-prefixed
            assert 'patients_sexf 1="Male" 2="Female"' in archive.read("formats.sas").decode()
        patients, meta = read_stat(f"patients.{file_format}", archive.read(f"patients.{file_format}"))
        cycles, cycles_meta = read_stat(f"io_cycles.{file_format}", archive.read(f"io_cycles.{file_format}"))
    row = patients.set_index("study_id").loc[patient.study_id]
    assert pd.api.types.is_string_dtype(patients["study_id"])
    assert pd.api.types.is_float_dtype(patients["age_at_c1d1"]) and row["age_at_c1d1"] == 90
    assert row["sex"] == 2  # F is the second code of the list
    labels = meta.column_names_to_labels
    limit = {"dta": 80, "sav": 256, "xpt": 40}[file_format]
    assert labels["sex"] == "sex"
    assert labels["age_at_c1d1"] == ("Age at C1D1 (years; 90 = 90 or over)" if file_format == "xpt"
                                     else "Age at IO cycle 1 day 1 (whole years; 90 means 90 or over)"[:limit])
    assert labels["c1d1_date"] == "Date of IO cycle 1 day 1"
    assert cycles_meta.column_names_to_labels["dose_day1"] == "Dose on day 1 (mg/m²)"
    assert cycles["total_dose"].tolist() == pytest.approx([1.8, 1.8])
    if file_format in ("dta", "sav"):
        assert meta.variable_value_labels["sex"] == {1: "Male", 2: "Female"}
        assert "age_at_c1d1" not in meta.variable_value_labels  # a continuous variable
        assert meta.variable_value_labels["received_io"] == {1: "Yes", 0: "No"}
    if dates == "relative":
        assert row["c1d1_date"] == 0 and pd.api.types.is_float_dtype(patients["c1d1_date"])
        assert cycles["start_date"].tolist() == [0, 28]
    else:
        shifted = patient.c1d1_date + dt.timedelta(days=date_shift_days(patient.study_id))
        assert pd.Timestamp(row["c1d1_date"]).date() == shifted
        assert [pd.Timestamp(value).date() for value in cycles["start_date"]] == [
            shifted, shifted + dt.timedelta(days=28)]


@pytest.mark.parametrize("file_format", ["dta", "sav"])
def test_statistical_files_with_labels_are_labelled_numbers(planted, statistician, file_format):
    """In labels mode too a code list is a labelled number, which the tools show as its label."""
    patient, _excluded = planted
    _log, data = export_bytes(user=statistician, options=ExportOptions(file_format, "relative", "labels"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        patients, _meta = read_stat(f"patients.{file_format}", archive.read(f"patients.{file_format}"),
                                    apply_value_formats=True)
    row = patients.set_index("study_id").loc[patient.study_id]
    assert row["sex"] == "Female" and row["received_io"] == "Yes" and row["enrollment_status"] == "Enrolled"


# --- CDISC ODM 1.3.2 -------------------------------------------------------------------------


@pytest.mark.parametrize(("dates", "values"), MODES)
def test_odm_structure_and_every_oid_defined(planted, statistician, dates, values):
    patient, excluded = planted
    _log, data = export_bytes(user=statistician, options=ExportOptions("odm", dates, values))
    root = ElementTree.fromstring(data)  # noqa: S314 (our own export)
    assert root.tag == f"{ODM}ODM" and root.get("ODMVersion") == "1.3.2" and root.get("FileType") == "Snapshot"
    study = root.find(f"{ODM}Study")
    mdv = study.find(f"{ODM}MetaDataVersion")
    defined = {
        kind: {element.get("OID") for element in mdv.iter(f"{ODM}{kind}")}
        for kind in ("StudyEventDef", "FormDef", "ItemGroupDef", "ItemDef", "CodeList")
    }
    # The metadata's own references are defined.
    assert {ref.get("StudyEventOID") for ref in mdv.iter(f"{ODM}StudyEventRef")} <= defined["StudyEventDef"]
    assert {ref.get("FormOID") for ref in mdv.iter(f"{ODM}FormRef")} <= defined["FormDef"]
    assert {ref.get("ItemGroupOID") for ref in mdv.iter(f"{ODM}ItemGroupRef")} <= defined["ItemGroupDef"]
    assert {ref.get("ItemOID") for ref in mdv.iter(f"{ODM}ItemRef")} <= defined["ItemDef"]
    assert {ref.get("CodeListOID") for ref in mdv.iter(f"{ODM}CodeListRef")} <= defined["CodeList"]
    clinical = root.find(f"{ODM}ClinicalData")
    assert clinical.get("StudyOID") == study.get("OID") and clinical.get("MetaDataVersionOID") == mdv.get("OID")
    subjects = clinical.findall(f"{ODM}SubjectData")
    assert {subject.get("SubjectKey") for subject in subjects} == {patient.study_id, excluded.study_id}
    code_lists = {
        code_list.get("OID"): {item.get("CodedValue") for item in code_list.iter(f"{ODM}CodeListItem")}
        for code_list in mdv.iter(f"{ODM}CodeList")
    }
    item_code_list = {
        item.get("OID"): (ref.get("CodeListOID") if (ref := item.find(f"{ODM}CodeListRef")) is not None else None)
        for item in mdv.iter(f"{ODM}ItemDef")
    }
    item_types = {item.get("OID"): item.get("DataType") for item in mdv.iter(f"{ODM}ItemDef")}
    forms_seen = set()
    for subject in subjects:
        events = subject.findall(f"{ODM}StudyEventData")
        assert len(events) == 1 and events[0].get("StudyEventOID") in defined["StudyEventDef"]
        for form in events[0]:
            assert form.tag == f"{ODM}FormData" and form.get("FormOID") in defined["FormDef"]
            forms_seen.add(form.get("FormOID"))
            for group in form:
                assert group.tag == f"{ODM}ItemGroupData" and group.get("ItemGroupOID") in defined["ItemGroupDef"]
                for item in group:
                    assert item.tag == f"{ODM}ItemData" and item.get("ItemOID") in defined["ItemDef"]
                    code_list_oid = item_code_list[item.get("ItemOID")]
                    if code_list_oid:
                        assert item.get("Value") in code_lists[code_list_oid], item.attrib
                    if item_types[item.get("ItemOID")] == "integer":
                        int(item.get("Value"))
                    if item_types[item.get("ItemOID")] == "date":
                        dt.date.fromisoformat(item.get("Value"))
    assert forms_seen == defined["FormDef"]  # the planted casebook fills every form
    planted_subject = next(s for s in subjects if s.get("SubjectKey") == patient.study_id)
    cycles = planted_subject.findall(f".//{ODM}ItemGroupData[@ItemGroupOID='IG.IO_CYCLES']")
    assert [group.get("ItemGroupRepeatKey") for group in cycles] == ["1", "2"]


def test_odm_merges_many_patients_in_order(center, other_center, statistician):
    patients = [PatientFactory(center=center if n % 2 else other_center) for n in range(7)]
    for number, patient in enumerate(patients):
        for cycle in range(1, number % 3 + 2):
            IOCycleFactory(patient=patient, cycle_number=cycle, start_date=dt.date(2017, 3, 1) + dt.timedelta(28 * (cycle - 1)))
    _log, data = export_bytes(user=statistician, options=ExportOptions("odm", "relative", "codes"))
    root = ElementTree.fromstring(data)  # noqa: S314 (our own export)
    counts = {
        subject.get("SubjectKey"): len(subject.findall(f".//{ODM}ItemGroupData[@ItemGroupOID='IG.IO_CYCLES']"))
        for subject in root.iter(f"{ODM}SubjectData")
    }
    assert counts == {patient.study_id: number % 3 + 1 for number, patient in enumerate(patients)}


# --- Access and log -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["coordinator", "investigator", "monitor"])
def test_only_statisticians_and_administrators_export(role, request, db):
    from django.core.exceptions import PermissionDenied

    user = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        export_bytes(user=user, options=ExportOptions())
    assert not ExportLog.objects.exists()


@pytest.mark.parametrize("file_format", ["json", "csv"])
def test_interrupted_stream_is_logged_as_failed(planted, administrator, monkeypatch, file_format):
    """The client goes away mid-table (on PostgreSQL, a CSV stops in the middle of a COPY):
    the export is logged as failed and the connection serves the next export."""
    from analytics.exports import formats
    from analytics.exports.services import export_log_start, export_stream

    monkeypatch.setattr(formats, "FLUSH_BYTES", 1)  # hand on every block as it arrives
    IOCycleFactory(patient=planted[0], cycle_number=3, start_date=dt.date(2017, 4, 26))
    options = ExportOptions(file_format)
    log = export_log_start(user=administrator, options=options)
    stream = export_stream(log=log, user=administrator, options=options)
    next(stream)
    next(stream)
    stream.close()  # the client went away
    log.refresh_from_db()
    assert log.status == ExportStatus.FAILED and log.finished_at is not None
    again, data = export_bytes(user=administrator, options=options)
    assert again.status == ExportStatus.COMPLETED and again.rows["io_cycles"] == 3 and data


def test_decimal_values_are_exact_in_csv(center, statistician):
    patient = PatientFactory(center=center)
    BaselineFactory(patient=patient, cd22_expression_pct=Decimal("85.5"))
    _log, data = export_bytes(user=statistician, options=ExportOptions("csv"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "85.5" in archive.read("baseline.csv").decode()


@pytest.mark.parametrize(("date_of_birth", "c1d1", "age"), [
    (dt.date(1950, 6, 15), dt.date(2017, 6, 14), 66),  # the day before the birthday
    (dt.date(1950, 6, 15), dt.date(2017, 6, 15), 67),  # the birthday
    (dt.date(1952, 2, 29), dt.date(2017, 2, 28), 64),  # born on 29 February
    (dt.date(1952, 2, 29), dt.date(2017, 3, 1), 65),
    (dt.date(1927, 12, 31), dt.date(2017, 12, 30), 89),
    (dt.date(1927, 12, 31), dt.date(2017, 12, 31), 90),
])
def test_age_at_c1d1_is_in_completed_years(center, statistician, date_of_birth, c1d1, age):
    """The database computes the age (on SQLite and PostgreSQL alike): one less until the birthday."""
    PatientFactory(center=center, date_of_birth=date_of_birth, c1d1_date=c1d1)
    _log, data = export_bytes(user=statistician, options=ExportOptions("json"))
    (row,) = json.loads(data)["tables"]["patients"]
    assert (row["age_at_c1d1"], row["age_90_or_over"], row["c1d1_date"]) == (age, int(age >= 90), 0)


@pytest.mark.parametrize("values", ["codes", "labels"])
def test_csv_written_by_copy_is_the_csv_of_the_rows(planted, center, statistician, values):
    """On PostgreSQL the CSV comes from COPY: byte for byte what Python's csv module writes
    from the rows every other format reads (NULLs, empty codes, decimals, labels, negatives)."""
    import csv

    from django.db import connection, transaction

    from analytics.exports.dataset import csv_copy_available, table_csv_copy, table_rows
    from tests.analytics.test_export_chunks import read_to_the_end

    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's; SQLite exports always go through the rows")
    other = PatientFactory(center=center)
    HsctFactory(patient=other, performed=False, hsct_date=None, donor="", conditioning="", tbi=None,
                status_at_hsct="")
    IOCycleFactory(patient=other, start_date=other.c1d1_date - dt.timedelta(days=3), dose_day1=Decimal("0.8"))
    options = ExportOptions("csv", "relative", values)
    assert csv_copy_available(options) and csv_copy_available(ExportOptions("csv", "shifted", values))
    with transaction.atomic():
        for table in export_tables():
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerows(row for _pk, row in table_rows(
                table, user=statistician, options=options))
            copied, count = read_to_the_end(table_csv_copy(table, user=statistician, options=options))
            assert b"".join(copied).decode() == text.getvalue(), table.name
            assert count == text.getvalue().count("\n") > 0, table.name
            if table.name == "hsct":  # not performed: no date, empty codes, unknown TBI
                assert f"{other.study_id},{'0' if values == 'codes' else 'No'},,,,," in text.getvalue()
            if table.name == "io_cycles":  # a cycle dated before C1D1
                assert f"{other.study_id},1,-3,0.80," in text.getvalue()


def test_dictionary_field_types(settings):
    entries = {(entry["form"], entry["variable"]): entry for entry in dictionary_entries()}
    assert entries[("responses", "assessment_date")]["type"] == "integer"
    assert entries[("responses", "assessment_date")]["unit"] == "days from IO cycle 1 day 1"
    shifted = {(e["form"], e["variable"]): e for e in dictionary_entries(ExportOptions(dates="shifted"))}
    assert shifted[("responses", "assessment_date")]["type"] == "date"
    assert entries[("io_cycles", "dose_day1")]["unit"] == "mg/m²"
    assert isinstance(models.Model, type)


# --- A dropped database connection at each step of an export --------------------------------

# Before the first byte a failure is a 503; after it the status has gone and the body stops.
EXPORT_STEPS = {
    "the snapshot is set up": ("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", 503),
    "the first table is read": ("'{\"study_id\":' || ", 200),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", list(EXPORT_STEPS))
def test_a_connection_dropped_during_an_export_fails_it_and_the_next_request_works(step, planted,
                                                                                   statistician):
    """The export logs itself as failed (never a 500), and the same thread's connection serves
    the next export: none is left marked as inside a transaction."""
    from django.db import DatabaseError
    from rest_framework.test import APIClient

    from tests.analytics.faults import backend_terminated_before, require_postgresql, sessions_idle_in_transaction

    require_postgresql()
    fragment, status = EXPORT_STEPS[step]
    api = APIClient()
    api.force_authenticate(statistician)
    with backend_terminated_before(fragment) as hit:
        response = api.get("/api/exports/dataset/", {"file_format": "json"})
        assert response.status_code == status
        if status == 503:
            assert "database is unavailable" in response.json()["detail"]
        else:
            with pytest.raises(DatabaseError):
                b"".join(response.streaming_content)
            response.close()
    assert hit, f"no statement contained {fragment!r}"
    assert ExportLog.objects.get().status == ExportStatus.FAILED
    again = api.get("/api/exports/dataset/", {"file_format": "json"})
    assert again.status_code == 200
    assert json.loads(b"".join(again.streaming_content))["tables"]["patients"]
    again.close()
    assert ExportLog.objects.filter(status=ExportStatus.COMPLETED).count() == 1
    assert sessions_idle_in_transaction() == 0


@pytest.mark.django_db(transaction=True)
def test_an_export_whose_client_goes_before_the_first_byte_is_logged_as_failed(planted, statistician):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(statistician)
    response = api.get("/api/exports/dataset/", {"file_format": "json"})
    assert response.status_code == 200
    response.close()  # what the server does when the client has gone
    log = ExportLog.objects.get()
    assert log.status == ExportStatus.FAILED and log.finished_at is not None


@pytest.mark.parametrize("file_format", FILE_FORMATS)
def test_shifted_exports_survive_dates_at_the_ends_of_the_calendar(planted, statistician, file_format):
    """Dates stored before the plausibility checks existed: shifted off the calendar, they are
    missing, and the export is whole."""
    from patients.models import Patient

    patient, excluded = planted
    Patient.objects.filter(pk=patient.pk).update(withdrawal_date=dt.date.min)
    Patient.objects.filter(pk=excluded.pk).update(withdrawal_date=dt.date.max)
    log, data = export_bytes(user=statistician, options=ExportOptions(file_format, "shifted", "codes"))
    assert data and ExportLog.objects.get(pk=log.pk).status == ExportStatus.COMPLETED
    if file_format == "json":
        rows = json.loads(data)["tables"]["patients"]
        assert {row["study_id"] for row in rows} == {patient.study_id, excluded.study_id}
