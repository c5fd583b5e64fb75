"""The analysis dataset: selectors, population, cut-off, missing data, fixed query count."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ValidationError

from analytics.dataset import analysis_dataset_load
from patients.models import Patient
from tests.analytics.cohort import C1D1, casebook, small_cohort
from tests.factories import PatientFactory

CUTOFF = dt.date(2024, 1, 1)


def test_one_row_per_patient_with_event_times_in_days(statistician, center):
    casebook(center, responses=((27, "pr"), (40, "cr")), hsct_day=90, relapse_day=300, death_day=400,
             prior=("induction_chemo", "blinatumomab", "tki"), ph="positive", vods=((110, "after_hsct"),),
             adverse_events=(("alt_increased", 3, 10),))
    dataset = analysis_dataset_load(user=statistician, cutoff=CUTOFF)
    row = dataset.patients.iloc[0].to_dict()
    assert dataset.n_patients == 1
    assert row["c1d1_date"] == C1D1
    assert row["age_years"] == pytest.approx((C1D1 - dt.date(1964, 6, 15)).days / 365.25)
    assert (row["prior_lines"], row["prior_blinatumomab"], row["prior_induction_chemo"]) == (3, True, True)
    assert (row["ph_status"], row["best_response"], row["first_remission_day"]) == ("positive", "cr", 40)
    assert (row["hsct_day"], row["relapse_day"], row["death_day"], row["os_days"], row["os_event"]) == (
        90, 300, 400, 400, 1)
    assert (row["vod_day"], row["vod_setting"]) == (110, "after_hsct")
    assert dataset.adverse_events[["row", "term", "worst_grade"]].values.tolist() == [[1, "10001551", 3]]


def test_no_direct_identifier_in_any_table(statistician, center):
    patient = casebook(center)
    dataset = analysis_dataset_load(user=statistician, cutoff=CUTOFF)
    tables = [dataset.patients, dataset.adverse_events, dataset.vod_events]
    columns = {column for table in tables for column in table.columns}
    assert not columns & {"date_of_birth", "initials", "local_hospital_id"}
    text = "".join(table.to_csv() for table in tables)
    assert patient.local_hospital_id not in text
    assert patient.date_of_birth.isoformat() not in text


def test_data_after_the_cutoff_is_ignored_and_follow_up_censored_at_it(statistician, center):
    casebook(center, responses=((27, "nr"), (60, "cr")), hsct_day=200, relapse_day=300, death_day=500,
             vods=((220, "after_hsct"),), adverse_events=(("alt_increased", 3, 150),))
    cutoff = C1D1 + dt.timedelta(days=100)
    row = analysis_dataset_load(user=statistician, cutoff=cutoff).patients.iloc[0]
    assert row["best_response"] == "cr"
    assert (row["os_days"], row["os_event"]) == (100, 0)  # alive at the cut-off
    assert all(row[column] != row[column] for column in ("hsct_day", "relapse_day", "death_day", "vod_day"))
    assert analysis_dataset_load(user=statistician, cutoff=cutoff).adverse_events.empty
    earlier = analysis_dataset_load(user=statistician, cutoff=C1D1 + dt.timedelta(days=50)).patients.iloc[0]
    assert earlier["best_response"] == "nr"


def test_population_flow_and_missing_data_are_listed_not_dropped(statistician, center):
    casebook(center)
    casebook(center, enrollment_status="excluded", exclusion_reason="Not CD22-positive on review")
    casebook(center, enrollment_status="withdrawn")
    casebook(center, is_cd22_positive=False)
    casebook(center, c1d1=dt.date(2019, 6, 1))  # after the cut-off below
    no_follow_up = casebook(center, follow_up=False)
    no_response = casebook(center, responses=())
    dataset = analysis_dataset_load(user=statistician, cutoff=dt.date(2019, 1, 1))
    assert dataset.flow["screened"] == 7
    assert {entry["reason"]: entry["n"] for entry in dataset.flow["excluded"]} == {
        "excluded at enrollment": 1, "withdrawn": 1, "not eligible": 1, "C1D1 after the data cut-off": 1,
        "missing required data": 1,
    }
    assert dataset.flow["analysed"] == 2 == dataset.n_patients
    listed = {entry["study_id"]: entry for entry in dataset.missing_data}
    assert listed[no_follow_up.study_id]["missing"] == ["follow-up & outcome form"]
    assert listed[no_follow_up.study_id]["action"] == "excluded from the analysis"
    assert listed[no_response.study_id]["action"] == "analysed as a non-responder"
    assert dataset.patients.set_index("study_id").loc[no_response.study_id, "best_response"] == "not assessed"


def test_access_stays_in_the_selectors(coordinator, statistician, center, other_center):
    small_cohort(center, other_center)
    assert analysis_dataset_load(user=statistician, cutoff=CUTOFF).n_patients == 14
    assert analysis_dataset_load(user=statistician, cutoff=CUTOFF, center_codes=["MI02"]).n_patients == 2
    assert analysis_dataset_load(user=coordinator, cutoff=CUTOFF).n_patients == 12
    with pytest.raises(ValidationError) as error:
        analysis_dataset_load(user=coordinator, cutoff=CUTOFF, center_codes=["MI02"])
    assert "MI02" in str(error.value)  # the same answer as for a center that does not exist
    with pytest.raises(ValidationError):
        analysis_dataset_load(user=statistician, cutoff=CUTOFF, center_codes=["ZZ99"])


def test_deleted_rows_are_not_read(statistician, center):
    patient = casebook(center, responses=((27, "cr"),))
    patient.responses.update(is_deleted=True)
    PatientFactory(center=center, is_deleted=True)
    dataset = analysis_dataset_load(user=statistician, cutoff=CUTOFF)
    assert dataset.flow["screened"] == 1
    assert dataset.patients.iloc[0]["best_response"] == "not assessed"


def test_the_number_of_queries_does_not_grow_with_the_patients(statistician, center, django_assert_num_queries):
    casebook(center)
    statistician = type(statistician).objects.get(pk=statistician.pk)
    with django_assert_num_queries(13) as few:  # centers (twice), roles, and the ten statements
        analysis_dataset_load(user=statistician, cutoff=CUTOFF)
    small_cohort(center)
    fresh_user = type(statistician).objects.get(pk=statistician.pk)  # roles are cached per user object
    with django_assert_num_queries(len(few.captured_queries)):
        analysis_dataset_load(user=fresh_user, cutoff=CUTOFF)


def test_same_data_same_hash_and_a_change_changes_it(statistician, center):
    small_cohort(center)
    first = analysis_dataset_load(user=statistician, cutoff=CUTOFF).sha256()
    assert analysis_dataset_load(user=statistician, cutoff=CUTOFF).sha256() == first
    assert analysis_dataset_load(user=statistician, cutoff=dt.date(2018, 1, 1)).sha256() != first
    casebook(center)
    assert analysis_dataset_load(user=statistician, cutoff=CUTOFF).sha256() != first


def test_the_best_response_computed_in_the_database_is_the_casebooks(statistician, center):
    """The dataset's SQL ranks responses as outcomes.selectors.best_response_on_io does:
    the best before the allo-HSCT, none after it."""
    from outcomes.selectors import best_response_on_io

    small_cohort(center)
    casebook(center, responses=((27, "pr"), (60, "cr")), hsct_day=45)  # the CR comes after the HSCT
    casebook(center, responses=((27, "cri"), (40, "nr")), hsct_day=90)
    casebook(center, responses=((27, "ne"),))
    patients = analysis_dataset_load(user=statistician, cutoff=CUTOFF).patients.set_index("study_id")
    expected = {patient.study_id: best_response_on_io(patient) or "not assessed"
                for patient in Patient.objects.filter(study_id__in=patients.index)}
    assert patients["best_response"].to_dict() == expected
    assert {"pr", "cri", "ne"} <= set(expected.values())


def code(model, patient, **codes):
    """Answer questions of a patient's rows with missing-data codes, as the form saves them:
    the value empty (NULL, or '' for a choice), the code beside it."""
    empty = {name: "" if model._meta.get_field(name).empty_strings_allowed and not model._meta.get_field(name).null
             else None for name in codes}
    model.objects.filter(patient=patient).update(**empty, missing_codes=codes)


def test_a_coded_answer_is_missing_data_never_a_value(statistician, center):
    from outcomes.models import FollowUp
    from patients.models import BaselineDisease
    from treatments.models import AlloHsct

    coded = casebook(center, hsct_day=90, relapse_day=None)
    other = casebook(center, responses=((27, "nr"),))
    code(BaselineDisease, coded, extramedullary_disease="UNK", ecog="ND", ph_status="UNK")
    AlloHsct.objects.filter(patient=coded).update(performed=None, hsct_date=None, missing_codes={"performed": "UNK"})
    code(FollowUp, coded, relapsed="UNK")
    dataset = analysis_dataset_load(user=statistician, cutoff=CUTOFF)
    rows = dataset.patients.set_index("study_id")
    assert rows.loc[coded.study_id, "extramedullary_disease"] is pd.NA  # not False
    answered = rows.loc[other.study_id, "extramedullary_disease"]
    assert pd.notna(answered) and not answered  # the factory's "no"
    assert pd.isna(rows.loc[coded.study_id, "ecog"]) and pd.isna(rows.loc[coded.study_id, "ph_status"])
    assert np.isnan(rows.loc[coded.study_id, "hsct_day"])  # only 'performed = yes' is an HSCT
    assert np.isnan(rows.loc[coded.study_id, "relapse_day"])
    row = int(rows.loc[coded.study_id, "row"])
    assert sorted(dataset.missing_codes[["row", "variable", "code"]].itertuples(index=False, name=None)) == [
        (row, "ecog", "ND"), (row, "extramedullary_disease", "UNK"), (row, "performed", "UNK"),
        (row, "ph_status", "UNK"), (row, "relapsed", "UNK")]

    from analytics.report import report_results_compute, report_tables

    results = report_results_compute(dataset)[0]
    baseline = results["baseline"]
    assert (baseline["extramedullary_disease"]["total"], baseline["extramedullary_disease"]["missing"]) == (1, 1)
    assert (baseline["ph_positive"]["total"], baseline["ecog_2_or_more"]["missing"]) == (1, 1)
    assert results["hsct"]["n"] == 0
    by_variable = {entry["variable"]: entry for entry in results["missing_codes"]}
    assert by_variable["performed"] == {"form": "Allogeneic HSCT after IO", "variable": "performed",
                                        "label": "Did the patient receive an allogeneic HSCT after IO?",
                                        "counted_in": "patients", "UNK": 1, "ND": 0, "NA": 0, "patients": 1}
    assert [entry["variable"] for entry in results["missing_codes"]] == [  # casebook order
        "ph_status", "extramedullary_disease", "ecog", "performed", "relapsed"]
    table = next(table for table in report_tables(results) if table.name == "missing_codes")
    assert ("Baseline disease", "ECOG performance status", "patients", "0", "1", "0", "1") in table.rows
    assert "Prior allo-HSCT" in " ".join(row[0] for row in report_tables(results)[1].rows)


def test_codes_are_counted_for_the_analysed_rows_only(coordinator, statistician, center, other_center):
    from outcomes.models import AdverseEvent, ResponseAssessment
    from patients.models import BaselineDisease

    here = casebook(center, responses=((27, "cr"), (200, "cr")),
                    adverse_events=(("alt_increased", 2, 10), ("nausea", 1, 300)))
    there = casebook(other_center)
    excluded = casebook(center, enrollment_status="withdrawn")
    for patient in (here, there, excluded):
        code(BaselineDisease, patient, cd22_expression_pct="UNK")
    ResponseAssessment.objects.filter(patient=here).update(marrow_blasts_pct=None,
                                                           missing_codes={"marrow_blasts_pct": "ND"})
    AdverseEvent.objects.filter(patient=here).update(resolution_date=None, missing_codes={"resolution_date": "UNK"})
    cutoff = C1D1 + dt.timedelta(days=100)  # the second assessment and the nausea come after it
    codes = analysis_dataset_load(user=coordinator, cutoff=cutoff).missing_codes  # the other center is not theirs
    assert sorted(codes[["variable", "code"]].itertuples(index=False, name=None)) == [
        ("cd22_expression_pct", "UNK"), ("marrow_blasts_pct", "ND"), ("resolution_date", "UNK")]
    assert len(analysis_dataset_load(user=statistician, cutoff=CUTOFF).missing_codes) == 2 + 2 + 2


def test_the_hash_changes_with_a_code_alone(statistician, center):
    from patients.models import BaselineDisease

    patient = casebook(center)
    code(BaselineDisease, patient, cd22_expression_pct="UNK")
    first = analysis_dataset_load(user=statistician, cutoff=CUTOFF).sha256()
    assert analysis_dataset_load(user=statistician, cutoff=CUTOFF).sha256() == first
    code(BaselineDisease, patient, cd22_expression_pct="ND")  # the same empty value, another reason
    assert analysis_dataset_load(user=statistician, cutoff=CUTOFF).sha256() != first
