"""Each edit check of the study fed a bad value, with the message on the right field.
The checks need no database: rows are unsaved model instances, casebooks plain values."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from outcomes.models import AdverseEvent, CtcaeTerm, FollowUp, ResponseAssessment, VodSosEvent
from outcomes.validators import check_adverse_event, check_follow_up, check_response, check_vod
from patients.models import BaselineDisease, Patient
from patients.registry import casebook
from patients.validators import CasebookDates, Event, check_baseline, check_patient, edit_check
from treatments.models import AlloHsct, IOCycle, PriorTherapyLine
from treatments.validators import check_hsct, check_io_cycle, check_prior_line

TODAY = dt.date(2026, 11, 23)
C1D1 = dt.date(2017, 3, 1)
BOOK = CasebookDates(today=TODAY, date_of_birth=dt.date(1964, 6, 15), c1d1=C1D1, diagnosis=dt.date(2015, 1, 10),
                cycles=((1, C1D1),), last_contact=dt.date(2020, 1, 15))
DEAD = CasebookDates(today=TODAY, c1d1=C1D1, cycles=((1, C1D1),), death_date=dt.date(2018, 5, 5), last_contact=dt.date(2018, 5, 5))


def errors_of(check, row, casebook) -> dict:
    with pytest.raises(ValidationError) as caught:
        check(row, casebook)
    return caught.value.message_dict


def patient(**changes) -> Patient:
    values = dict(date_of_birth=dt.date(1964, 6, 15), sex="F", has_rr_b_all=True, is_cd22_positive=True,
                  received_io=True, c1d1_date=C1D1, enrollment_status="enrolled")
    return Patient(**{**values, **changes})


def test_a_valid_enrollment_passes():
    check_patient(patient(), CasebookDates(today=TODAY))


def test_c1d1_outside_the_study_window():
    found = errors_of(check_patient, patient(c1d1_date=dt.date(2020, 2, 1)), CasebookDates(today=TODAY))
    assert "study window" in found["c1d1_date"][0]


def test_age_under_18_at_c1d1():
    found = errors_of(check_patient, patient(date_of_birth=dt.date(2000, 1, 1)), CasebookDates(today=TODAY))
    assert "18 or older" in found["date_of_birth"][0]
    assert "Not eligible" in found["enrollment_status"][0]


def test_an_ineligible_patient_must_be_excluded_with_a_reason():
    found = errors_of(check_patient, patient(is_cd22_positive=False), CasebookDates(today=TODAY))
    assert "CD22-positive" in found["enrollment_status"][0]
    found = errors_of(check_patient, patient(is_cd22_positive=False, enrollment_status="excluded"), CasebookDates(today=TODAY))
    assert "reason" in found["exclusion_reason"][0]
    check_patient(patient(is_cd22_positive=False, enrollment_status="excluded", exclusion_reason="CD22 negative"),
                  CasebookDates(today=TODAY))


def any_form(row, dates: CasebookDates) -> None:
    """The edit check every write path runs for the row's form: plausible dates, then the form's."""
    edit_check(casebook.part_for(row), row, dates)


@pytest.mark.parametrize("day", [dt.date(2027, 1, 1), dt.date(1899, 12, 31), dt.date(1, 1, 1)])
def test_date_of_birth_implausible(day):
    found = errors_of(any_form, patient(date_of_birth=day), CasebookDates(today=TODAY))
    assert found == {"date_of_birth": ["This date is in the future." if day > TODAY
                                       else "This date is not plausible: it is before 1900-01-01."]}


def test_c1d1_must_equal_cycle_1_and_precede_later_events():
    book = CasebookDates(today=TODAY, cycles=((1, C1D1),), after_c1d1=(Event("response assessment", dt.date(2017, 2, 1)),))
    found = errors_of(check_patient, patient(c1d1_date=dt.date(2017, 2, 15)), book)
    assert any("cycle 1" in message for message in found["c1d1_date"])
    assert any("response assessment" in message for message in found["c1d1_date"])


def test_diagnosis_after_c1d1():
    baseline = BaselineDisease(diagnosis_date=dt.date(2017, 4, 1), ph_status="negative", ecog=1)
    found = errors_of(check_baseline, baseline, BOOK)
    assert "IO cycle 1 day 1" in found["diagnosis_date"][0]


def test_diagnosis_after_a_prior_line():
    book = CasebookDates(today=TODAY, c1d1=C1D1, prior_lines=(Event("prior line 1 start", dt.date(2015, 1, 1)),))
    baseline = BaselineDisease(diagnosis_date=dt.date(2015, 2, 1), ph_status="negative", ecog=1)
    assert "prior line 1 start" in errors_of(check_baseline, baseline, book)["diagnosis_date"][0]


def test_prior_hsct_date_needed_and_before_c1d1():
    baseline = BaselineDisease(diagnosis_date=dt.date(2015, 1, 10), prior_allo_hsct=True)
    assert "date" in errors_of(check_baseline, baseline, BOOK)["prior_allo_hsct_date"][0]
    baseline.prior_allo_hsct_date = dt.date(2017, 5, 1)
    assert "IO cycle 1 day 1" in errors_of(check_baseline, baseline, BOOK)["prior_allo_hsct_date"][0]


def test_prior_line_before_diagnosis_and_after_c1d1():
    line = PriorTherapyLine(line_number=1, start_date=dt.date(2014, 12, 1), end_date=dt.date(2017, 4, 1))
    found = errors_of(check_prior_line, line, BOOK)
    assert "diagnosis" in found["start_date"][0]
    assert "IO cycle 1 day 1" in found["end_date"][0]


def test_prior_line_numbers_unique_and_end_after_start():
    book = CasebookDates(today=TODAY, prior_line_numbers=(1,))
    line = PriorTherapyLine(line_number=1, start_date=dt.date(2016, 2, 1), end_date=dt.date(2016, 1, 1))
    found = errors_of(check_prior_line, line, book)
    assert "already recorded" in found["line_number"][0]
    assert "before the start" in found["end_date"][0]


def cycle(**changes) -> IOCycle:
    values = dict(cycle_number=2, start_date=dt.date(2017, 3, 29), dose_day1=Decimal("0.8"),
                  dose_day8=Decimal("0.5"), dose_day15=Decimal("0.5"))
    return IOCycle(**{**values, **changes})


def test_a_valid_second_cycle_passes():
    check_io_cycle(cycle(), BOOK)


def test_cycle_numbers_unique():
    assert "already recorded" in errors_of(check_io_cycle, cycle(cycle_number=1), BOOK)["cycle_number"][0]


def test_cycle_numbers_consecutive():
    assert "consecutive" in errors_of(check_io_cycle, cycle(cycle_number=3), BOOK)["cycle_number"][0]


def test_cycle_dates_follow_cycle_numbers():
    found = errors_of(check_io_cycle, cycle(start_date=dt.date(2017, 2, 1)), BOOK)
    assert any("IO cycle 1 day 1" in message for message in found["start_date"])


def test_cycle_1_starts_on_c1d1():
    book = CasebookDates(today=TODAY, c1d1=C1D1)
    assert "C1D1" in errors_of(check_io_cycle, cycle(cycle_number=1, start_date=dt.date(2017, 3, 2)), book)["start_date"][0]


def test_dose_per_day_above_1():
    assert "between 0 and 1.0" in errors_of(check_io_cycle, cycle(dose_day8=Decimal("1.2")), BOOK)["dose_day8"][0]


def test_delay_needs_a_reason():
    assert "why" in errors_of(check_io_cycle, cycle(delayed=True), BOOK)["modification_reason"][0]


def response(**changes) -> ResponseAssessment:
    values = dict(assessment_date=dt.date(2017, 3, 28), marrow_blasts_pct=Decimal("2"), response="cr",
                  mrd_status="negative", mrd_method="flow")
    return ResponseAssessment(**{**values, **changes})


def test_a_valid_response_passes():
    check_response(response(), BOOK)


def test_cri_needs_blasts_below_5():
    found = errors_of(check_response, response(response="cri", marrow_blasts_pct=Decimal("5")), BOOK)
    assert "below 5%" in found["marrow_blasts_pct"][0]


def test_response_before_c1d1():
    assert "IO cycle 1 day 1" in errors_of(check_response, response(assessment_date=dt.date(2017, 2, 1)), BOOK)["assessment_date"][0]


def test_response_in_the_future():
    book = CasebookDates(today=TODAY, c1d1=C1D1)
    assert "future" in errors_of(any_form, response(assessment_date=dt.date(2027, 1, 1)), book)["assessment_date"][0]


def test_response_after_death():
    assert "death" in errors_of(check_response, response(assessment_date=dt.date(2018, 6, 1)), DEAD)["assessment_date"][0]


def test_mrd_method_only_when_done():
    assert "method" in errors_of(check_response, response(mrd_method=""), BOOK)["mrd_method"][0]


def test_hsct_before_c1d1_and_details_required():
    hsct = AlloHsct(performed=True, hsct_date=dt.date(2017, 2, 1))
    found = errors_of(check_hsct, hsct, BOOK)
    assert "IO cycle 1 day 1" in found["hsct_date"][0]
    assert "required" in found["donor"][0]


def test_hsct_after_a_vod_recorded_as_after_hsct():
    book = CasebookDates(today=TODAY, c1d1=C1D1, after_hsct_vod_dates=(dt.date(2017, 6, 1),))
    hsct = AlloHsct(performed=True, hsct_date=dt.date(2017, 7, 1), donor="cord", conditioning="ric", tbi=False,
                    status_at_hsct="other")
    assert "VOD/SOS" in errors_of(check_hsct, hsct, book)["hsct_date"][0]


def event(**changes) -> AdverseEvent:
    lung_infection = CtcaeTerm(meddra_code="10061229", term="Lung infection", soc="Infections and infestations",
                               grade_1="-", grade_2="Moderate", grade_3="Severe", grade_4="Life-threatening",
                               grade_5="Death", haematologic=False, other_specify=False)
    values = dict(ctcae_term=lung_infection, grade=3, onset_date=dt.date(2017, 4, 1), resolution_date=dt.date(2017, 4, 20),
                  relation="possibly")
    return AdverseEvent(**{**values, **changes})


def test_ae_after_last_contact():
    found = errors_of(check_adverse_event, event(onset_date=dt.date(2020, 2, 1), resolution_date=None), BOOK)
    assert "last contact" in found["onset_date"][0]


def test_ae_after_death():
    found = errors_of(check_adverse_event, event(onset_date=dt.date(2018, 5, 1), resolution_date=dt.date(2018, 6, 1)), DEAD)
    assert "death" in found["resolution_date"][0]


def test_grade_5_needs_a_death():
    assert "death" in errors_of(check_adverse_event, event(grade=5), BOOK)["grade"][0]


def test_grade_5_ends_on_the_date_of_death():
    found = errors_of(check_adverse_event, event(grade=5, onset_date=dt.date(2018, 4, 1), resolution_date=dt.date(2018, 4, 30)), DEAD)
    assert "date of death" in found["resolution_date"][0]
    check_adverse_event(event(grade=5, onset_date=dt.date(2018, 4, 1), resolution_date=dt.date(2018, 5, 5)), DEAD)


def test_vod_after_hsct_needs_an_hsct_before_it():
    vod = VodSosEvent(diagnosis_date=dt.date(2017, 6, 1), setting="after_hsct", outcome="resolved")
    assert "HSCT" in errors_of(check_vod, vod, BOOK)["setting"][0]
    book = CasebookDates(today=TODAY, c1d1=C1D1, hsct_date=dt.date(2017, 7, 1))
    assert "the HSCT" in errors_of(check_vod, vod, book)["diagnosis_date"][0]


def test_vod_during_io_after_an_hsct():
    book = CasebookDates(today=TODAY, c1d1=C1D1, hsct_date=dt.date(2017, 5, 1))
    vod = VodSosEvent(diagnosis_date=dt.date(2017, 6, 1), setting="during_io", outcome="resolved")
    assert "after HSCT" in errors_of(check_vod, vod, book)["setting"][0]


def follow_up(**changes) -> FollowUp:
    values = dict(vital_status="dead", death_date=dt.date(2018, 5, 5), death_cause="disease",
                  last_contact_date=dt.date(2018, 5, 5))
    return FollowUp(**{**values, **changes})


def test_death_is_the_last_date():
    book = CasebookDates(today=TODAY, c1d1=C1D1, after_c1d1=(Event("response assessment", dt.date(2018, 6, 1)),))
    found = errors_of(check_follow_up, follow_up(), book)
    assert "response assessment" in found["death_date"][0]
    assert "response assessment" in found["last_contact_date"][0]


def test_death_needs_date_cause_and_equal_last_contact():
    found = errors_of(check_follow_up, follow_up(death_cause="", last_contact_date=dt.date(2018, 6, 1)), BOOK)
    assert "cause" in found["death_cause"][0]
    assert "date of death" in found["last_contact_date"][0]


def test_death_date_must_match_grade_5_events():
    book = CasebookDates(today=TODAY, c1d1=C1D1, grade5_ae_dates=(dt.date(2018, 5, 1),))
    assert "grade 5" in errors_of(check_follow_up, follow_up(), book)["death_date"][0]
    alive = follow_up(vital_status="alive", death_date=None, death_cause="", last_contact_date=dt.date(2019, 1, 1))
    assert "grade 5" in errors_of(check_follow_up, alive, book)["vital_status"][0]


def test_relapse_needs_a_prior_response():
    relapse = follow_up(vital_status="alive", death_date=None, death_cause="", relapsed=True,
                        relapse_date=dt.date(2018, 1, 1), last_contact_date=dt.date(2019, 1, 1))
    assert "CR or CRi" in errors_of(check_follow_up, relapse, BOOK)["relapsed"][0]
    book = CasebookDates(today=TODAY, c1d1=C1D1, first_response_date=dt.date(2018, 2, 1))
    assert "first CR/CRi" in errors_of(check_follow_up, relapse, book)["relapse_date"][0]


def test_follow_up_in_the_future():
    alive = follow_up(vital_status="alive", death_date=None, death_cause="", last_contact_date=dt.date(2027, 1, 1))
    assert "future" in errors_of(any_form, alive, BOOK)["last_contact_date"][0]
