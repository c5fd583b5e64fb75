"""SPSS system files written chunk by chunk (memory holds one chunk) are the files written
whole, and pyreadstat and pandas read back their values, labels, formats, measures,
user-missing values and value labels: text of every width (UTF-8, empty, wider than 8 bytes,
very long strings in segments), system-missing numbers, dates, long names. What SPSS cannot
hold is refused, never cut. An export's SPSS files written in frames of two rows are the
files written whole."""

from __future__ import annotations

import datetime as dt
import io
import math
import struct
import zipfile

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from analytics.exports import formats
from analytics.exports.dataset import ExportOptions, table_columns
from analytics.exports.dictionary import SPSS_MISSING
from analytics.exports.services import export_bytes
from analytics.exports.spss import SpssColumn, write_sav, write_sav_chunks
from analytics.exports.variables import CODE, export_tables, model_field_at
from tests.analytics.test_export_chunks import registry  # noqa: F401 (a fixture)
from tests.analytics.test_export_missing_codes import CODED, coded, first_row  # noqa: F401 (a fixture)

CREATED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
EPOCH = dt.date(1582, 10, 14)
MISSING_NUMBERS = tuple(float(number) for number in SPSS_MISSING.values())
CODE_LABELS = {-9999997.0: "Unknown (UNK)", -9999998.0: "Not done (ND)", -9999999.0: "Not applicable (NA)"}
GRADES = {1.0: "One", 2.0: "Two", 3.0: "Three"}
LONG_TEXT = "ü" * 200 + "end"  # 403 bytes: two segments, a 2-byte letter across their boundary
# The header's creation date and time (9 + 8 bytes after the first 92), the only bytes that may differ.
CREATED_AT = slice(92, 109)


def _study_id(row: int) -> str:
    return f"P{'x' * (row % 11)}{row}"


def _term(row: int) -> str:
    return "é" * (row % 5)  # "" every fifth row


def _note(row: int) -> str:
    return LONG_TEXT if row == 7 else f"note {row}"


def _code(row: int) -> str:
    return ("UNK", "ab", "ND", "")[row % 4]


def _answer(row: int) -> str:
    return "NA" if row % 3 == 0 else "a longer answer"


def _dose(row: int) -> float:
    if row % 6 == 1:
        return SPSS_MISSING["UNK"]
    if row % 6 == 2:
        return SPSS_MISSING["ND"]
    return math.nan if row % 6 == 3 else row / 4


def _onset(row: int) -> dt.date | None:
    return None if row == 4 else dt.date(2020, 1, 1) + dt.timedelta(days=row)


def _columns(start: int, stop: int) -> list[SpssColumn]:
    """Rows start..stop of a small dataset: text whose widest value grows from chunk to chunk
    (non-ASCII, empty, one very long), strings and numbers with user-missing codes,
    system-missing numbers, a labelled code list, a date."""
    rows = range(start, stop)

    def text(value_of) -> np.ndarray:
        return np.array([value_of(row) for row in rows], dtype=object)

    onsets = [_onset(row) for row in rows]
    return [
        SpssColumn("study_id", "Study ID", text(_study_id), False),
        SpssColumn("term", "Term (CTCAE v5.0)", text(_term), False),
        SpssColumn("note_of_the_investigator", "A note", text(_note), False),
        SpssColumn("code", "A coded string", text(_code), False, missing_values=("UNK", "ND", "NA")),
        SpssColumn("answer", "A coded string wider than 8 bytes", text(_answer), False,
                   missing_values=("UNK", "ND", "NA")),
        SpssColumn("dose", "Dose (mg/m²)", np.array([_dose(row) for row in rows], dtype="float64"), True,
                   decimals=2, missing_values=MISSING_NUMBERS, value_labels=CODE_LABELS),
        SpssColumn("grade", "Grade", np.array([row % 3 + 1 for row in rows], dtype="float64"), True, nominal=True,
                   value_labels=GRADES),
        SpssColumn("onset", "Onset date", np.array([(onset - EPOCH).days * 86400.0 if onset else math.nan
                                                    for onset in onsets]), True, display_format="DATE11"),
    ]


def _written(chunks, **kwargs) -> bytes:
    handle = io.BytesIO()
    write_sav_chunks(handle, chunks=chunks, file_label="INO-CD22 test", created=CREATED, **kwargs)
    return handle.getvalue()


def _read(content: bytes, tmp_path, **kwargs):
    path = tmp_path / "file.sav"
    path.write_bytes(content)
    return pyreadstat.read_sav(str(path), **kwargs)


def _pandas(content: bytes, tmp_path, **kwargs) -> pd.DataFrame:
    path = tmp_path / "pandas.sav"
    path.write_bytes(content)
    return pd.read_spss(path, **kwargs)


CHUNKS = [(0, 5), (5, 6), (6, 6), (6, 23)]


def test_a_file_written_in_chunks_is_the_file_written_whole():
    whole = io.BytesIO()
    write_sav(whole, columns=_columns(0, 23), rows=23, file_label="INO-CD22 test", created=CREATED)
    assert _written([_columns(start, stop) for start, stop in CHUNKS]) == whole.getvalue()


def test_values_read_back_with_their_user_missing_codes(tmp_path):
    content = _written([_columns(start, stop) for start, stop in CHUNKS])
    frame, meta = _read(content, tmp_path, user_missing=True, disable_datetime_conversion=True)
    rows = range(23)
    assert meta.number_rows == 23 and meta.file_label == "INO-CD22 test" and meta.file_encoding == "UTF-8"
    assert frame["study_id"].tolist() == [_study_id(row) for row in rows]
    assert frame["term"].tolist() == [_term(row) for row in rows]
    assert frame["note_of_the_investigator"].tolist() == [_note(row) for row in rows]
    assert frame["code"].tolist() == [_code(row) for row in rows]
    assert frame["answer"].tolist() == [_answer(row) for row in rows]
    np.testing.assert_array_equal(frame["dose"], [_dose(row) for row in rows])
    assert frame["grade"].tolist() == [row % 3 + 1 for row in rows]
    onsets = frame["onset"].tolist()
    assert math.isnan(onsets[4]) and onsets[5] == (dt.date(2020, 1, 6) - EPOCH).days * 86400


def test_user_missing_values_are_missing_to_pyreadstat_and_pandas(tmp_path):
    content = _written([_columns(start, stop) for start, stop in CHUNKS])
    plain, _meta = _read(content, tmp_path)
    by_pandas = _pandas(content, tmp_path, convert_categoricals=False)
    for frame in (plain, by_pandas):
        for row in range(23):
            assert pd.isna(frame["dose"][row]) == (row % 6 in (1, 2, 3)), row
            assert pd.isna(frame["code"][row]) == (_code(row) in SPSS_MISSING), row
            assert pd.isna(frame["answer"][row]) == (_answer(row) in SPSS_MISSING), row
        assert frame["dose"][4] == 1.0 and frame["code"][1] == "ab" and frame["answer"][1] == "a longer answer"
        assert frame["term"].tolist()[:5] == ["", "é", "éé", "ééé", "éééé"]
        assert frame["note_of_the_investigator"][7] == LONG_TEXT
        assert pd.isna(frame["onset"][4]) and frame["onset"][0] == dt.date(2020, 1, 1)
    assert _pandas(content, tmp_path)["grade"].tolist()[:3] == ["One", "Two", "Three"]  # labels applied


def test_the_dictionary_reads_back(tmp_path):
    content = _written([_columns(start, stop) for start, stop in CHUNKS])
    _frame, meta = _read(content, tmp_path, user_missing=True)
    names = ["study_id", "term", "note_of_the_investigator", "code", "answer", "dose", "grade", "onset"]
    assert meta.column_names == names
    assert meta.column_labels == [column.label for column in _columns(0, 0)]
    # A string is as wide as its longest value in bytes (the widest chunk's); a number's F
    # format is wide enough for its user-missing numbers and a sign.
    assert meta.original_variable_types == {
        "study_id": "A13", "term": "A8", "note_of_the_investigator": "A403", "code": "A3", "answer": "A15",
        "dose": "F11.2", "grade": "F8.0", "onset": "DATE11"}
    assert meta.variable_storage_width["note_of_the_investigator"] == 403
    assert meta.readstat_variable_types == {**dict.fromkeys(names[:5], "string"), **dict.fromkeys(names[5:], "double")}
    assert meta.variable_measure == {**dict.fromkeys(names[:5], "nominal"), "dose": "scale", "grade": "nominal",
                                     "onset": "scale"}
    assert meta.variable_alignment == {**dict.fromkeys(names[:5], "left"), **dict.fromkeys(names[5:], "right")}
    assert meta.variable_display_width == {"study_id": 13, "term": 8, "note_of_the_investigator": 40, "code": 8,
                                           "answer": 15, "dose": 11, "grade": 8, "onset": 11}
    assert meta.missing_ranges == {
        "code": [{"lo": code, "hi": code} for code in SPSS_MISSING],
        "answer": [{"lo": code, "hi": code} for code in SPSS_MISSING],
        "dose": [{"lo": number, "hi": number} for number in MISSING_NUMBERS],
    }
    assert meta.variable_value_labels == {"dose": CODE_LABELS, "grade": GRADES}


def test_an_empty_table_is_one_empty_chunk(tmp_path):
    whole = io.BytesIO()
    write_sav(whole, columns=_columns(0, 0), rows=0, file_label="INO-CD22 test", created=CREATED)
    content = _written([_columns(0, 0)])
    assert content == whole.getvalue()
    frame, meta = _read(content, tmp_path, user_missing=True)
    assert len(frame) == 0 and meta.column_names == [column.name for column in _columns(0, 0)]
    assert meta.original_variable_types["onset"] == "DATE11"
    assert meta.original_variable_types["study_id"] == "A1"  # no value: one byte
    assert meta.original_variable_types["code"] == "A3"  # as wide as its user-missing codes
    assert meta.variable_value_labels["grade"] == GRADES
    assert len(_pandas(content, tmp_path)) == 0
    with pytest.raises(ValueError, match="no chunk"):
        write_sav_chunks(io.BytesIO(), chunks=[])


def test_system_missing_is_the_lowest_double():
    columns = [SpssColumn("dose", "Dose", np.array([math.nan, 1.5]), True)]
    assert _written([columns]).endswith(struct.pack("<2d", -np.finfo("float64").max, 1.5))


def test_the_longest_text_of_the_export_is_written_whole(tmp_path):
    """The widest text an export column can hold (its model field's length, each character
    four bytes of UTF-8) is a very long string, read back byte for byte."""
    lengths = []
    for table in export_tables():
        for variable in table_columns(table):
            if variable.kind == CODE and not variable.choices:
                field = model_field_at(table.model, variable.inputs[-1])[1]
                lengths.append(getattr(field, "target_field", field).max_length)
    longest = "𐐀" * max(lengths)  # a letter of four bytes
    assert len(longest.encode()) > 255
    columns = [SpssColumn("term", "Term", np.array([longest, "", "Fatigue"], dtype=object), False)]
    frame, meta = _read(_written([columns]), tmp_path)
    assert frame["term"].tolist() == [longest, "", "Fatigue"]
    assert meta.variable_storage_width["term"] == len(longest.encode())


def test_names_sharing_their_first_8_characters_keep_their_own_values(tmp_path):
    """Short names are unique: a clash, and each further segment of a very long string, end in
    a number, and never take another variable's name."""
    names = ["marrow_blasts_pct", "marrow_blasts_pct_missing", "term", "term1", "term2", "Tërm3"]
    values = [name + ("x" * 300 if name == "term" else "") for name in names]
    columns = [SpssColumn(name, name, np.array([value], dtype=object), False)
               for name, value in zip(names, values, strict=True)]
    frame, meta = _read(_written([columns]), tmp_path)
    assert meta.column_names == names
    assert [frame[name][0] for name in names] == values


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "1dose"}, "not an SPSS variable name"),
    ({"name": "with"}, "not an SPSS variable name"),
    ({"name": "dose rate"}, "not an SPSS variable name"),
    ({"name": "d" * 65}, "not an SPSS variable name"),
    ({"name": "GRADE"}, "two variables of that name"),
    ({"label": "é" * 128}, "label over 255 bytes"),
    ({"missing_values": (1.0, 2.0, 3.0, 4.0)}, "more than three"),
    ({"missing_values": ("UNK",)}, "a number's user-missing values are numbers"),
    ({"numeric": False, "values": np.array(["a"], dtype=object), "missing_values": ("TOO LONG!",)},
     "strings of at most 8 bytes"),
    ({"numeric": False, "values": np.array(["a"], dtype=object), "value_labels": {1.0: "One"}},
     "value labels are written for numbers only"),
    ({"value_labels": {1.0: "x" * 121}}, "value label over 120 bytes"),
])
def test_what_spss_cannot_hold_is_refused(change, message):
    columns = [SpssColumn("grade", "Grade", np.array([1.0]), True, value_labels={1.0: "One"}),
               SpssColumn("dose", "Dose", np.array([1.0]), True)]
    columns[1] = SpssColumn(**{**columns[1].__dict__, **change})
    with pytest.raises(ValueError, match=message):
        _written([columns])


def test_a_file_label_over_64_bytes_is_refused():
    with pytest.raises(ValueError, match="file label"):
        write_sav(io.BytesIO(), columns=[], rows=0, file_label="x" * 65)


# --- The export -----------------------------------------------------------------------------


def _sav_files(user, options) -> dict[str, bytes]:
    _log, data = export_bytes(user=user, options=options)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name.endswith(".sav")}


@pytest.mark.parametrize(("dates", "values"), [("relative", "codes"), ("shifted", "labels")])
def test_an_export_written_in_frames_of_two_rows_is_the_export_written_whole(registry, statistician, monkeypatch,  # noqa: F811
                                                                             tmp_path, dates, values):
    options = ExportOptions("sav", dates, values)
    whole = _sav_files(statistician, options)
    monkeypatch.setattr(formats, "STAT_CHUNK_ROWS", 2)
    chunked = _sav_files(statistician, options)
    assert whole.keys() == chunked.keys() == {f"{table.name}.sav" for table in export_tables()}
    for name, content in whole.items():
        stamp = bytearray(content)
        stamp[CREATED_AT] = chunked[name][CREATED_AT]
        assert chunked[name] == bytes(stamp), name
    patient, _other = registry
    for (table, name), code in CODED.items():
        frame, meta = _read(chunked[f"{table}.sav"], tmp_path, user_missing=True, disable_datetime_conversion=True)
        row = first_row(frame, patient.study_id)
        assert (row[name], row[f"{name}_missing"]) == (SPSS_MISSING[code], code), (table, name)
        assert [item["lo"] for item in meta.missing_ranges[name]] == list(MISSING_NUMBERS)
        assert pd.isna(first_row(_pandas(chunked[f"{table}.sav"], tmp_path, convert_categoricals=False),
                                 patient.study_id)[name]), (table, name)
    cycles, meta = _read(chunked["io_cycles.sav"], tmp_path)
    assert len(cycles) > 2
    assert meta.original_variable_types["dose_day1"] == "F8.2"  # the model field's decimal places
    assert meta.variable_measure["delayed"] == "nominal" and meta.variable_measure["dose_day1"] == "scale"
