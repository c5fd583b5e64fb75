import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from patients.models import FormState, Patient
from patients.services import (
    StaleVersionError,
    crf_row_delete,
    crf_row_save,
    patient_enroll,
)
from patients.workflow import form_status_set
from tests import factories
from treatments.models import IOCycle


def new_patient(center, **changes) -> Patient:
    values = dict(center=center, local_hospital_id="H-1", initials="MR", date_of_birth=dt.date(1965, 2, 3), sex="M",
                  has_rr_b_all=True, is_cd22_positive=True, received_io=True, c1d1_date=dt.date(2016, 5, 2))
    return Patient(**{**values, **changes})


def test_enrollment_generates_the_study_id_per_center(coordinator, center):
    first = patient_enroll(user=coordinator, patient=new_patient(center))
    second = patient_enroll(user=coordinator, patient=new_patient(center))
    assert (first.study_id, second.study_id) == ("RM01-001", "RM01-002")
    assert first.history.get().history_user == coordinator
    assert FormState.objects.get(patient=first).status == "in_progress"


def test_study_ids_are_never_reused(coordinator, center):
    first = patient_enroll(user=coordinator, patient=new_patient(center))
    Patient.objects.filter(pk=first.pk).update(is_deleted=True)
    assert patient_enroll(user=coordinator, patient=new_patient(center)).study_id == "RM01-002"


def test_enrollment_in_another_center_is_refused(coordinator, other_center):
    with pytest.raises(PermissionDenied):
        patient_enroll(user=coordinator, patient=new_patient(other_center))
    assert not Patient.objects.exists()


def test_an_ineligible_patient_is_refused_as_enrolled_and_kept_as_excluded(coordinator, center):
    with pytest.raises(ValidationError) as caught:
        patient_enroll(user=coordinator, patient=new_patient(center, is_cd22_positive=False))
    assert "enrollment_status" in caught.value.message_dict
    excluded = patient_enroll(
        user=coordinator,
        patient=new_patient(center, is_cd22_positive=False, enrollment_status="excluded", exclusion_reason="CD22-"),
    )
    assert excluded.study_id == "RM01-001"


def cycle_2(patient, **changes) -> IOCycle:
    values = dict(patient=patient, cycle_number=2, start_date=dt.date(2017, 3, 29), dose_day1=Decimal("0.5"),
                  dose_day8=Decimal("0.5"), dose_day15=Decimal("0.5"), delayed=False, dose_reduced=False)
    return IOCycle(**{**values, **changes})


def test_a_change_leaves_a_history_row_with_user_old_new_and_reason(coordinator, patient):
    factories.IOCycleFactory(patient=patient)
    saved = crf_row_save(user=coordinator, row=cycle_2(patient))
    form_status_set(user=coordinator, patient=patient, form="io_cycles", status="complete")
    saved.dose_day1 = Decimal("0.8")
    with pytest.raises(ValidationError) as caught:
        crf_row_save(user=coordinator, row=saved, expected_version=1)
    assert "reason" in caught.value.message_dict
    crf_row_save(user=coordinator, row=IOCycle.objects.get(pk=saved.pk) | _with(dose_day1=Decimal("0.8")),
                 reason="Transcription error", expected_version=1)
    latest, previous = IOCycle.history.filter(id=saved.pk).order_by("-history_id")[:2]
    assert (latest.history_user, latest.history_change_reason) == (coordinator, "Transcription error")
    assert (previous.dose_day1, latest.dose_day1) == (Decimal("0.50"), Decimal("0.80"))
    assert latest.version == 2
    delta = latest.diff_against(previous)
    assert [change.field for change in delta.changes] == ["dose_day1"]


class _with:
    """`row | _with(field=value)`: the row with fields changed, for readable tests."""

    def __init__(self, **changes):
        self.changes = changes

    def __ror__(self, row):
        for name, value in self.changes.items():
            setattr(row, name, value)
        return row


def test_a_stale_version_is_refused_and_nothing_is_saved(coordinator, patient):
    factories.IOCycleFactory(patient=patient)
    saved = crf_row_save(user=coordinator, row=cycle_2(patient))
    first_user_copy = IOCycle.objects.get(pk=saved.pk)
    second_user_copy = IOCycle.objects.get(pk=saved.pk)
    crf_row_save(user=coordinator, row=first_user_copy | _with(dose_day8=Decimal("0.4")), expected_version=1)
    with pytest.raises(StaleVersionError) as caught:
        crf_row_save(user=coordinator, row=second_user_copy | _with(dose_day15=Decimal("0.4")), expected_version=1)
    assert caught.value.current.dose_day8 == Decimal("0.40")
    assert IOCycle.objects.get(pk=saved.pk).dose_day15 == Decimal("0.50")


def test_bad_input_saves_nothing(coordinator, patient):
    factories.IOCycleFactory(patient=patient)
    with pytest.raises(ValidationError) as caught:
        crf_row_save(user=coordinator, row=cycle_2(patient, dose_day1=Decimal("1.5")))
    assert "dose_day1" in caught.value.message_dict
    assert IOCycle.objects.count() == 1


def test_delete_is_soft_and_keeps_the_history(coordinator, patient):
    factories.IOCycleFactory(patient=patient)
    saved = crf_row_save(user=coordinator, row=cycle_2(patient))
    crf_row_delete(user=coordinator, row=saved, reason="Entered twice")
    row = IOCycle.objects.get(pk=saved.pk)
    assert row.is_deleted
    assert row.history.first().history_change_reason == "Entered twice"
    assert crf_row_save(user=coordinator, row=cycle_2(patient)).cycle_number == 2


@pytest.mark.parametrize("role", ["other_coordinator", "monitor", "statistician"])
def test_only_the_centers_site_staff_change_its_casebooks(role, patient, request):
    user = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        crf_row_save(user=user, row=factories.IOCycleFactory.build(patient=patient))
    assert not IOCycle.objects.exists()


def test_edit_of_the_enrollment_form_is_audited(coordinator, center):
    patient = patient_enroll(user=coordinator, patient=new_patient(center))
    patient.sex = "F"
    crf_row_save(user=coordinator, row=patient, expected_version=1)
    assert [h.sex for h in patient.history.order_by("history_id")] == ["M", "F"]


def test_an_unanswered_single_form_cannot_be_marked_complete(coordinator, patient):
    with pytest.raises(ValidationError) as caught:
        form_status_set(user=coordinator, patient=patient, form="baseline", status="complete")
    assert caught.value.message_dict == {"status": ["Fill in this form before marking it complete."]}
    assert not FormState.objects.filter(patient=patient, form="baseline", status="complete").exists()

    factories.BaselineFactory(patient=patient)
    assert form_status_set(user=coordinator, patient=patient, form="baseline", status="complete").status == "complete"
    # A repeating form may be complete with no row: "no adverse event" is an answer.
    assert form_status_set(user=coordinator, patient=patient, form="adverse_events", status="complete").status == "complete"


# --- Plausible dates, on every write path ----------------------------------------------------


@pytest.mark.parametrize("day", [dt.date(1, 1, 1), dt.date(1899, 12, 31), dt.date(9999, 12, 31)])
def test_an_implausible_date_is_refused_on_its_field_by_every_write(coordinator, center, day):
    with pytest.raises(ValidationError) as refused:
        patient_enroll(user=coordinator, patient=new_patient(center, date_of_birth=day))
    assert list(refused.value.message_dict) == ["date_of_birth"]
    patient = patient_enroll(user=coordinator, patient=new_patient(center))
    patient.withdrawal_date = day  # an enrolled patient: no other rule looks at this date
    with pytest.raises(ValidationError) as refused:
        crf_row_save(user=coordinator, row=patient, expected_version=1)
    assert list(refused.value.message_dict) == ["withdrawal_date"]
    baseline = factories.BaselineFactory.build(patient=patient, diagnosis_date=day)
    with pytest.raises(ValidationError) as refused:
        crf_row_save(user=coordinator, row=baseline)
    assert list(refused.value.message_dict) == ["diagnosis_date"]
    assert "1900" in refused.value.message_dict["diagnosis_date"][0] or day.year == 9999


def test_the_first_plausible_day_and_today_are_accepted(coordinator, center):
    from django.utils import timezone

    patient = patient_enroll(user=coordinator, patient=new_patient(center, date_of_birth=dt.date(1900, 1, 1)))
    patient.enrollment_status, patient.withdrawal_reason = "withdrawn", "Moved abroad"
    patient.withdrawal_date = timezone.localdate()
    crf_row_save(user=coordinator, row=patient, expected_version=1)
    assert Patient.objects.get(pk=patient.pk).withdrawal_date == timezone.localdate()


def test_a_new_row_follows_the_highest_instance_deleted_rows_included(coordinator, patient):
    first = factories.IOCycleFactory(patient=patient)
    second = crf_row_save(user=coordinator, row=cycle_2(patient))
    crf_row_delete(user=coordinator, row=second, reason="Entered twice")
    third = crf_row_save(user=coordinator, row=cycle_2(patient))
    assert [first.repeat_instance, second.repeat_instance, third.repeat_instance] == [1, 2, 3]
    assert IOCycle.history.filter(id=third.pk).get().repeat_instance == 3  # audited with the row
    third.dose_day1 = Decimal("0.8")
    crf_row_save(user=coordinator, row=third, expected_version=1)
    assert IOCycle.objects.get(pk=third.pk).repeat_instance == 3  # never renumbered


def test_each_repeating_part_numbers_its_own_rows(coordinator, patient):
    factories.IOCycleFactory(patient=patient)
    event = crf_row_save(user=coordinator, row=factories.AdverseEventFactory.build(patient=patient))
    assert event.repeat_instance == 1
