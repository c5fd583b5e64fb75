"""The REDCap-compatible API driven by REDCap's own clients against a live server on the demo
cohort: the real PyCap 2.7.0, and the exact request sequence of REDCapR's `redcap_read()`."""

import csv
import datetime as dt
import io

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils.formats import date_format
from redcap import Project

from analytics.exports.dataset import date_shift_days
from analytics.models import ExportLog
from outcomes.models import ResponseAssessment
from patients.models import Patient
from sites.models import ApiTokenKind
from sites.services import api_token_create
from treatments.models import IOCycle

pytestmark = pytest.mark.django_db(transaction=True)

IDENTIFIERS_AND_FREE_TEXT = {"local_hospital_id", "initials", "date_of_birth", "exclusion_reason", "withdrawal_reason",
                             "regimen", "modification_reason", "reason_other"}


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo", verbosity=0)


@pytest.fixture
def url(live_server) -> str:
    return f"{live_server.url}/redcap/api/"


def token_of(username: str) -> str:
    user = get_user_model().objects.get(username=username)
    return api_token_create(user=user, kind=ApiTokenKind.REDCAP)[1]


def test_pycap_reads_the_demo_as_a_redcap_project(demo, url):
    project = Project(url, token_of("monitor"))
    assert str(project.export_version()) == "14.0.0"
    info = project.export_project_info()
    assert (info["is_longitudinal"], info["has_repeating_instruments_or_events"],
            info["record_autonumbering_enabled"]) == (0, 1, 0)
    assert info["missing_data_codes"] == "UNK, Unknown (not in the source) | ND, Not done | NA, Not applicable"
    assert project.is_longitudinal is False  # formEventMapping answered with REDCap's error

    metadata = project.export_metadata()
    names = [row["field_name"] for row in metadata]
    assert names[0] == project.def_field == "study_id" and len(names) == len(set(names))
    assert {"baseline_diagnosis_date", "vod_sos_diagnosis_date", "baseline_marrow_blasts_pct",
            "responses_marrow_blasts_pct", "prior_lines_start_date", "io_cycles_start_date"} <= set(names)
    by_name = {row["field_name"]: row for row in metadata}
    assert by_name["delayed"]["field_type"] == "yesno"
    assert by_name["delayed"]["select_choices_or_calculations"] == "1, Yes | 0, No"
    assert by_name["io_cycles_start_date"]["text_validation_type_or_show_slider_number"] == "date_ymd"
    assert by_name["ecog"]["text_validation_type_or_show_slider_number"] == "integer"
    assert (by_name["ecog"]["text_validation_min"], by_name["ecog"]["text_validation_max"]) == ("0", "4")
    assert by_name["dose_day8"]["text_validation_type_or_show_slider_number"] == "number"
    assert by_name["response"]["select_choices_or_calculations"].startswith("cr, Complete remission (CR) | cri, ")
    assert by_name["date_of_birth"]["identifier"] == "y"
    assert by_name["dose_day8"]["field_annotation"] == "" and by_name["dose_day1"]["field_annotation"] == "@NOMISSING"
    assert (by_name["age_at_c1d1"]["form_name"], by_name["age_at_c1d1"]["field_type"]) == ("enrollment", "calc")
    assert (by_name["term"]["field_type"], by_name["term"]["field_annotation"]) == ("text", "@CALCTEXT @READONLY")

    repeating = project.export_repeating_instruments_events()
    assert [row["form_name"] for row in repeating] == ["prior_lines", "io_cycles", "responses", "adverse_events",
                                                       "vod_sos"]
    calculated = {row["field_name"] for row in metadata if row["field_type"] == "calc"}
    assert {row["original_field_name"] for row in project.export_field_names()} == set(names) - calculated

    records = project.export_records(format_type="df")
    assert records.index.name == "study_id"
    assert records.index.nunique() == Patient.objects.count() == 73
    cycles = records[records["redcap_repeat_instrument"] == "io_cycles"]
    assert len(cycles) == IOCycle.objects.count()
    # the demo enters cycles in order: each cycle's instance number is its cycle number
    assert (cycles["redcap_repeat_instance"].astype(int) == cycles["cycle_number"].astype(int)).all()
    first = Patient.objects.order_by("study_id").first()
    base = records.loc[[first.study_id]]
    base = base[base["redcap_repeat_instrument"].isna()].iloc[0]
    assert base["c1d1_date"] == first.c1d1_date.isoformat()
    assert base["local_hospital_id"] == first.local_hospital_id  # a monitor sees identifiers
    assert set(records["enrollment_complete"].dropna().astype(int)) == {1}  # complete = Unverified


def test_pycap_import_of_a_response_assessment_goes_through_the_casebook(demo, url, client):
    project = Project(url, token_of("coordinator-rm01"))
    patient = Patient.objects.filter(center__code="RM01", follow_up__last_contact_date__isnull=False).first()
    day = patient.c1d1_date + dt.timedelta(days=10)
    before = ResponseAssessment.objects.filter(patient=patient).count()
    answer = project.import_records([{
        "study_id": patient.study_id, "redcap_repeat_instrument": "responses", "redcap_repeat_instance": "new",
        "assessment_date": day.isoformat(), "responses_marrow_blasts_pct": "UNK", "response": "ne",
        "mrd_status": "not_done",
    }])
    assert answer == {"count": 1}
    row = ResponseAssessment.objects.get(patient=patient, assessment_date=day)
    assert row.marrow_blasts_pct is None and row.missing_codes == {"marrow_blasts_pct": "UNK"}
    history = row.history.get()
    assert history.history_change_reason == "REDCap API import"
    assert history.history_user.username == "coordinator-rm01"
    client.force_login(get_user_model().objects.get(username="coordinator-rm01"))
    page = client.get(f"/patients/{patient.study_id}/").content.decode()
    assert date_format(day, "SHORT_DATE_FORMAT") in page and ResponseAssessment.objects.filter(patient=patient).count() == before + 1
    audit = client.get(f"/patients/{patient.study_id}/audit/")
    assert "REDCap API import" in audit.content.decode()
    # the new row comes back as the next instance, with its missing data code
    again = project.export_records(records=[patient.study_id], forms=["responses"])
    new = [line for line in again if line["redcap_repeat_instrument"] == "responses"][-1]
    assert new["redcap_repeat_instance"] == before + 1 and new["responses_marrow_blasts_pct"] == "UNK"


def test_a_rejected_import_saves_nothing_and_says_why(demo, url):
    project = Project(url, token_of("coordinator-rm01"))
    patient = Patient.objects.filter(center__code="RM01").first()
    count = ResponseAssessment.objects.count()
    with pytest.raises(requests.RequestException) as error:
        project.import_records([
            {"study_id": patient.study_id, "redcap_repeat_instrument": "responses", "redcap_repeat_instance": "new",
             "assessment_date": (patient.c1d1_date + dt.timedelta(days=5)).isoformat(),
             "responses_marrow_blasts_pct": "40", "response": "cr"},
            {"study_id": "MI01-001", "ecog": "1"},
        ])
    message = str(error.value)
    assert "responses_marrow_blasts_pct" in message and "below 5%" in message
    assert "MI01-001" in message  # another center's record is not the coordinator's to write
    assert ResponseAssessment.objects.count() == count


def test_a_statistician_gets_de_identified_records_and_the_export_is_logged(demo, url):
    project = Project(url, token_of("statistician"))
    records = project.export_records(format_type="df")
    assert not IDENTIFIERS_AND_FREE_TEXT & set(records.columns)
    assert {"c1d1_date", "sex", "ctcae_term", "other_specify", "age_at_c1d1", "term"} <= set(records.columns)
    patient = Patient.objects.order_by("study_id").first()
    base = records.loc[[patient.study_id]]
    base = base[base["redcap_repeat_instrument"].isna()].iloc[0]
    shifted = patient.c1d1_date + dt.timedelta(days=date_shift_days(patient.study_id))
    assert base["c1d1_date"] == shifted.isoformat() != patient.c1d1_date.isoformat()
    age = patient.c1d1_date.year - patient.date_of_birth.year - (
        (patient.c1d1_date.month, patient.c1d1_date.day) < (patient.date_of_birth.month, patient.date_of_birth.day))
    assert int(base["age_at_c1d1"]) == min(age, 90)  # derived from the date of birth, which is not exported
    log = ExportLog.objects.filter(user__username="statistician").latest("pk")
    assert log.file_format == "redcap" and log.dates == "shifted" and log.status == "completed"
    assert log.rows["enrollment"] == 73 and log.rows["io_cycles"] == IOCycle.objects.count()


def test_a_coordinator_sees_only_their_centers_records(demo, url):
    project = Project(url, token_of("coordinator-rm01"))
    records = project.export_records(export_data_access_groups=True)
    assert records and {line["study_id"][:4] for line in records} == {"RM01"}
    assert {line["redcap_data_access_group"] for line in records} == {"rm01"}
    other = Patient.objects.exclude(center__code="RM01").first().study_id
    assert project.export_records(records=[other]) == []
    assert [group["unique_group_name"] for group in project.export_dags()] == ["rm01"]


def read_csv(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def test_redcapr_redcap_read_request_sequence(demo, url):
    """What REDCapR's redcap_read() posts (metadata first, the record IDs, then batches of
    records as comma-joined strings), each answer read as CSV by readr."""
    token = token_of("monitor")
    post = lambda **body: requests.post(url, data={"token": token, **body}, timeout=60)  # noqa: E731
    variables = read_csv(post(content="exportFieldNames", format="csv"))
    assert set(variables[0]) == {"original_field_name", "choice_value", "export_field_name"}
    record_field = variables[0]["original_field_name"]
    metadata = read_csv(post(content="metadata", format="csv", forms="", fields=""))
    assert {"field_name", "form_name", "field_type", "text_validation_type_or_show_slider_number"} <= set(metadata[0])
    assert metadata[0]["field_name"] == record_field == "study_id"
    instruments = read_csv(post(content="instrument", format="csv"))
    assert set(instruments[0]) == {"instrument_name", "instrument_label"}
    project = read_csv(post(content="project", format="csv"))
    assert (project[0]["record_autonumbering_enabled"], project[0]["is_longitudinal"],
            project[0]["has_repeating_instruments_or_events"]) == ("0", "0", "1")
    assert read_csv(post(content="dag", format="csv"))
    common = {"content": "record", "format": "csv", "type": "flat", "rawOrLabel": "raw", "rawOrLabelHeaders": "raw",
              "exportCheckboxLabel": "false", "exportSurveyFields": "false", "exportDataAccessGroups": "false",
              "filterLogic": "", "dateRangeBegin": "", "dateRangeEnd": "", "exportBlankForGrayFormStatus": "FALSE"}
    ids = read_csv(post(**common, fields=record_field))
    assert next(iter(ids[0])) == record_field
    unique_ids = sorted({line[record_field] for line in ids})
    assert len(unique_ids) == 73
    stacked = []
    for start in range(0, len(unique_ids), 50):  # batch_size = 50
        stacked += read_csv(post(**common, records=",".join(unique_ids[start:start + 50])))
    assert sorted({line[record_field] for line in stacked}) == unique_ids
    assert {"redcap_repeat_instrument", "redcap_repeat_instance", "cycle_number", "io_cycles_complete"} <= set(stacked[0])
    assert sum(line["redcap_repeat_instrument"] == "io_cycles" for line in stacked) == IOCycle.objects.count()
