"""The REDCap record export streamed from SQL: what it sends is the casebooks read one row at
a time, on the demo cohort; a coordinator's export holds their centers' records only; a
deleted row leaves a gap in the instance numbers; the export is logged with the hash of the
bytes sent; the writers of databases that do not write the text themselves give the same bytes."""

import csv
import datetime as dt
import faulthandler
import hashlib
import io
import json
import re
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from analytics.models import ExportLog, ExportStatus
from outcomes.models import AdverseEvent, FollowUp
from patients.models import FormState, Patient
from redcap_api import records, selectors
from redcap_api.project import FORM_STATUS_CODES, NO_FORM_STATUS, RECORD_ID_FIELD, instruments, project_fields
from redcap_api.records import csv_header, record_csv_rows, record_export_stream, record_json_rows
from redcap_api.selectors import record_query_for_user
from sites.models import ApiTokenKind
from sites.services import api_token_create
from tests.factories import IOCycleFactory
from treatments.models import AlloHsct, IOCycle

URL = "/redcap/api/"


@pytest.fixture
def demo(db):
    call_command("seed_demo", verbosity=0)


def export(user, **body) -> bytes:
    secret = api_token_create(user=user, kind=ApiTokenKind.REDCAP)[1]
    response = Client().post(URL, {"token": secret, "content": "record", **body})
    assert response.status_code == 200 and response.streaming
    return b"".join(response.streaming_content)


def _raw(field, row) -> str:
    """A question's raw value as REDCap exports it, read from the model instance."""
    code = (row.missing_codes or {}).get(field.model_field.name)
    if code is not None:
        return code
    value = getattr(row, field.model_field.attname)
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _fill(line: dict, instrument, row, states: dict) -> None:
    for field in instrument.fields:
        if row is not None and field.name in line and field.model_field is not None:
            line[field.name] = _raw(field, row)
    if instrument.complete_field in line:
        status = states.get(instrument.part.key)
        line[instrument.complete_field] = FORM_STATUS_CODES[status] if status else NO_FORM_STATUS


def casebook_rows(columns: list[str]) -> list[dict]:
    """The export of every live casebook for a user who sees identifiers, read one row at a
    time: the record's row, then each repeating instrument's rows in creation order, numbered
    among all of the patient's rows of that part, deleted ones included."""
    rows = []
    for patient in Patient.objects.filter(is_deleted=False).order_by("study_id"):
        states = {state.form: state.status for state in FormState.objects.filter(patient=patient)}

        base = dict.fromkeys(columns, "") | {RECORD_ID_FIELD: patient.study_id}
        for instrument in instruments():
            if instrument.repeating:
                continue
            row = patient if instrument.part.is_patient else instrument.part.model.objects.filter(
                patient=patient, is_deleted=False).first()
            _fill(base, instrument, row, states)
        rows.append(base)
        for instrument in instruments():
            if not instrument.repeating:
                continue
            for number, row in enumerate(instrument.part.model.objects.filter(patient=patient).order_by("pk"), 1):
                if row.is_deleted:
                    continue
                line = dict.fromkeys(columns, "") | {RECORD_ID_FIELD: patient.study_id,
                                                     "redcap_repeat_instrument": instrument.name,
                                                     "redcap_repeat_instance": number}
                _fill(line, instrument, row, states)
                rows.append(line)
    return rows


def _without_derived(rows: list[dict]) -> list[dict]:
    derived = {field.name for field in project_fields() if field.is_derived}
    return [{key: value for key, value in row.items() if key not in derived} for row in rows]


def test_the_streamed_export_is_the_casebooks_row_for_row(demo):
    monitor = get_user_model().objects.get(username="monitor")
    # deleted rows in the middle of a patient's cycles and a missing data code
    for cycle in IOCycle.objects.filter(cycle_number=2)[:3]:
        IOCycle.objects.filter(pk=cycle.pk).update(is_deleted=True)
    patient = Patient.objects.order_by("study_id").first()
    patient.baseline.missing_codes = {"ecog": "ND"}
    patient.baseline.save(update_fields=["missing_codes"])

    exported = json.loads(export(monitor, format="json"))
    columns = list(exported[0])
    assert _without_derived(exported) == _without_derived(casebook_rows(columns))
    assert exported[0]["ecog"] == "ND"
    log = ExportLog.objects.filter(user=monitor).latest("pk")
    assert log.status == "completed" and log.dates == "actual"
    assert log.rows["io_cycles"] == IOCycle.objects.filter(is_deleted=False).count()
    assert log.rows["enrollment"] == Patient.objects.filter(is_deleted=False).count()

    text = export(monitor, format="csv")
    log = ExportLog.objects.filter(user=monitor).latest("pk")
    assert (log.size_bytes, log.sha256) == (len(text), hashlib.sha256(text).hexdigest())
    lines = text.decode().splitlines()
    assert lines[0].split(",") == columns and len(lines) == len(exported) + 1


@pytest.mark.parametrize("writer", ["database", "python"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_log_counts_each_instrument_s_rows_in_what_was_sent(demo, monkeypatch, fmt, writer):
    """Tallied from the rows as they are read: the records, the records with a row of each
    single instrument (some records have none), the rows of each repeating instrument; for
    some records and a single instrument asked for by its complete field alone as well."""
    if writer == "python":
        monkeypatch.setattr(records, "database_writes_text", lambda: False)
    statistician = get_user_model().objects.get(username="statistician")
    chosen = list(Patient.objects.order_by("study_id").values_list("study_id", flat=True)[10:16])
    for model in (AlloHsct, FollowUp):
        gone = model.objects.filter(patient__study_id__in=chosen[:3]).values_list("pk", flat=True)
        assert gone
        model.objects.filter(pk__in=list(gone)).update(is_deleted=True)

    def expected(study_ids, names) -> dict[str, int]:
        counts = {}
        for instrument in instruments():
            if instrument.name not in names:
                continue
            model = instrument.part.model
            rows = (model.objects.filter(is_deleted=False, study_id__in=study_ids) if model is Patient else
                    model.objects.filter(is_deleted=False, patient__is_deleted=False, patient__study_id__in=study_ids))
            counts[instrument.name] = rows.count()
        return counts

    everyone = list(Patient.objects.filter(is_deleted=False).values_list("study_id", flat=True))
    for body, study_ids in (({}, everyone), ({"records": ",".join(chosen)}, chosen),
                            ({"records": ",".join(chosen), "fields": "hsct_complete,cycle_number"}, chosen)):
        sent = export(statistician, format=fmt, **body)
        log = ExportLog.objects.filter(user=statistician).latest("pk")
        assert log.rows == expected(study_ids, set(log.rows)), body
        if "fields" in body:
            assert set(log.rows) >= {"hsct", "io_cycles"}
            assert log.rows["hsct"] == len(chosen) - 3
        lines = json.loads(sent) if fmt == "json" else sent.decode().splitlines()[1:]
        assert len(lines) == len(study_ids) + sum(
            log.rows.get(instrument.name, 0) for instrument in instruments() if instrument.repeating), body


def test_a_coordinator_s_export_never_holds_another_center_s_record(demo):
    coordinator = get_user_model().objects.get(username="coordinator-rm01")
    others = list(Patient.objects.exclude(center__code="RM01").values_list("study_id", flat=True)[:5])
    for body in ({"format": "json"}, {"format": "json", "records": ",".join(others)},
                 {"format": "json", "rawOrLabel": "label", "exportDataAccessGroups": "true"}):
        exported = json.loads(export(coordinator, **body))
        assert {row["study_id"][:4] for row in exported} <= {"RM01"}
    assert json.loads(export(coordinator, format="json", records=",".join(others))) == []
    csv_text = export(coordinator, format="csv").decode()
    assert all(line.startswith("RM01-") for line in csv_text.splitlines()[1:])
    own = Patient.objects.filter(center__code="RM01", is_deleted=False).count()
    assert ExportLog.objects.filter(user=coordinator).latest("pk").rows["enrollment"] == own


def test_a_deleted_row_leaves_a_gap_in_the_instance_numbers(coordinator, patient):
    IOCycleFactory(patient=patient)
    second = IOCycleFactory(patient=patient, cycle_number=2, start_date=patient.c1d1_date + dt.timedelta(days=28))
    IOCycleFactory(patient=patient, cycle_number=3, start_date=patient.c1d1_date + dt.timedelta(days=56))
    IOCycle.objects.filter(pk=second.pk).update(is_deleted=True)
    exported = json.loads(export(coordinator, format="json", forms="io_cycles"))
    assert [(row["redcap_repeat_instance"], row["cycle_number"]) for row in exported[1:]] == [(1, "1"), (3, "3")]


def written(query) -> tuple[bytes, bytes]:
    """The export's CSV (with its header) and JSON."""
    return (csv_header(query.columns) + b"".join(record_csv_rows(query, tally=Counter())),
            b"".join(record_json_rows(query, tally=Counter())))


@pytest.mark.parametrize("labels", [False, True])
@pytest.mark.parametrize(("records_per_row", "client_piece"), [
    (selectors.RECORDS_PER_COPY_ROW, selectors.JSON_CLIENT_PIECE), (1, 0), (2, 0), (5, 10**6)])
def test_the_writers_of_other_databases_give_the_same_bytes(demo, monkeypatch, labels, records_per_row, client_piece):
    """On SQLite the csv and json modules write the rows the database wrote on PostgreSQL,
    whatever the records in a COPY row, and whichever of the JSON objects' pieces between two
    values the client writes (0: all of them; a million bytes: none)."""
    monkeypatch.setattr(selectors, "RECORDS_PER_COPY_ROW", records_per_row)
    monkeypatch.setattr(selectors, "JSON_CLIENT_PIECE", client_piece)
    user = get_user_model().objects.get(username="statistician")
    query = record_query_for_user(user=user, records=None, fields=list(project_fields()),
                                  complete=list(instruments()), labels=labels, data_access_groups=True)
    by_database = written(query)
    monkeypatch.setattr(records, "database_writes_text", lambda: False)
    by_python = written(query)
    assert by_python == by_database
    assert json.loads(by_python[1])[0][RECORD_ID_FIELD]


@pytest.mark.parametrize("labels", [False, True])
def test_text_with_commas_quotes_line_breaks_and_backslashes_is_written_alike_by_every_writer(demo, monkeypatch,
                                                                                              labels):
    """Free text (seen by a user who may see it) holds what CSV quotes and what COPY's text
    format escapes: the database's CSV and JSON are the csv and json modules' bytes, and read
    back to the text stored."""
    text = 'Rash, "diffuse"\nback\\slash\ttab\r\nend'
    event = AdverseEvent.objects.filter(is_deleted=False).order_by("pk").first()
    AdverseEvent.objects.filter(pk=event.pk).update(other_specify=text)
    user = get_user_model().objects.get(username="monitor")
    query = record_query_for_user(user=user, records=[event.patient.study_id], fields=list(project_fields()),
                                  complete=list(instruments()), labels=labels)
    by_database = written(query)
    monkeypatch.setattr(records, "database_writes_text", lambda: False)
    by_python = written(query)
    assert by_python == by_database
    read_csv = list(csv.DictReader(io.StringIO(by_database[0].decode(), newline="")))
    assert text in [row["other_specify"] for row in read_csv]
    assert text in [row["other_specify"] for row in json.loads(by_database[1])]


@pytest.mark.parametrize("many_rows", [False, True])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_client_gone_mid_export_leaves_a_failed_log_and_a_working_connection(demo, monkeypatch, fmt, many_rows):
    """The stream closed after its first block (a client gone): the COPY read ahead by a thread
    is cancelled, the export is logged as failed with what was sent, and the connection serves
    the next export; `many_rows`: with the COPY still being read, many more of its rows to
    come than are read ahead (a COPY row per record)."""
    if many_rows:
        monkeypatch.setattr(selectors, "RECORDS_PER_COPY_ROW", 1)
    user = get_user_model().objects.get(username="statistician")
    stream = record_export_stream(user=user, fmt=fmt, log_parameters={}, deidentified=True, labels=False,
                                  records=None, fields=list(project_fields()), complete=list(instruments()))
    first = next(stream)
    faulthandler.dump_traceback_later(120, exit=True)  # stuck, the process ends: a hang blocks in C
    try:
        stream.close()
    finally:
        faulthandler.cancel_dump_traceback_later()
    monkeypatch.undo()
    log = ExportLog.objects.filter(user=user).latest("pk")
    assert (log.status, log.size_bytes) == (ExportStatus.FAILED, len(first))
    assert len(json.loads(export(user, format="json"))) > Patient.objects.count()  # served again, whole


def test_an_error_while_making_the_json_objects_fails_the_export_and_stops_the_copy(demo, database_copy, monkeypatch):
    """The thread making the objects fails at its second block: the COPY's reading thread
    stops too (left reading, it would hold the connection, and the export's rollback would
    wait for it forever), the error reaches the caller, the export is logged as failed, and
    the connection serves the next export."""
    # A COPY row per record: many more rows than are read ahead.
    monkeypatch.setattr(selectors, "RECORDS_PER_COPY_ROW", 1)
    made = []
    tallied = records._tallied

    def failing(tokens: bytes, tally: Counter) -> list[str]:
        made.append(tokens)
        if len(made) == 2:
            raise ValueError("planted")
        return tallied(tokens, tally)

    monkeypatch.setattr(records, "_tallied", failing)
    user = get_user_model().objects.get(username="statistician")
    stream = record_export_stream(user=user, fmt="json", log_parameters={}, deidentified=True, labels=False,
                                  records=None, fields=list(project_fields()), complete=list(instruments()))
    # Stuck, the process ends with every thread's stack (a hang blocks in C: no exception
    # would reach this thread).
    faulthandler.dump_traceback_later(120, exit=True)
    try:
        with pytest.raises(ValueError, match="planted"):
            b"".join(stream)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert ExportLog.objects.filter(user=user).latest("pk").status == ExportStatus.FAILED
    monkeypatch.undo()
    assert len(json.loads(export(user, format="json"))) > Patient.objects.count()



def test_the_record_ranks_and_date_offsets_are_sent_once_whatever_reads_them(demo, database_copy):
    """The ranks and the date offsets, an array of a number per patient each, are parameters of
    the statement once, in its WITH clause, however many of its expressions (each branch's
    sort keys, each shifted date) read them."""
    user = get_user_model().objects.get(username="statistician")
    query = record_query_for_user(user=user, records=None, fields=list(project_fields()),
                                  complete=list(instruments()), labels=True)
    arrays = [param for param in query.params if isinstance(param, str) and re.fullmatch(r"\{[-0-9,]+\}", param)]
    assert len(arrays) == 2
    assert query.json_sql.count("FROM patient_numbers") > 10
    assert len(json.loads(export(user, format="json"))) > Patient.objects.count()
