"""The selectors decide who sees what: checked for every form and every role."""

import pytest
from django.http import Http404

from outcomes.models import AdverseEvent, FollowUp, ResponseAssessment, VodSosEvent
from patients.models import BaselineDisease, Patient
from patients.selectors import form_rows_for_user, patient_get_for_user, patient_list_for_user
from sites.selectors import center_list_for_user
from tests import factories
from treatments.models import AlloHsct, EndOfTreatment, IOCycle, PriorTherapyLine

FORM_FACTORIES = {
    BaselineDisease: factories.BaselineFactory,
    PriorTherapyLine: factories.PriorLineFactory,
    IOCycle: factories.IOCycleFactory,
    EndOfTreatment: factories.EndOfTreatmentFactory,
    AlloHsct: factories.HsctFactory,
    ResponseAssessment: factories.ResponseFactory,
    AdverseEvent: factories.AdverseEventFactory,
    VodSosEvent: factories.VodFactory,
    FollowUp: factories.FollowUpFactory,
}


@pytest.fixture
def two_casebooks(patient, other_patient):
    rows = {}
    for model, factory in FORM_FACTORIES.items():
        rows[model] = (factory(patient=patient), factory(patient=other_patient))
    return rows


@pytest.mark.parametrize("model", list(FORM_FACTORIES))
def test_a_coordinator_sees_only_their_centers_rows_of_every_form(model, two_casebooks, coordinator):
    own, _other = two_casebooks[model]
    assert list(form_rows_for_user(user=coordinator, model=model)) == [own]


@pytest.mark.parametrize("model", list(FORM_FACTORIES))
def test_an_investigator_sees_only_their_centers_rows_of_every_form(model, two_casebooks, investigator):
    own, _other = two_casebooks[model]
    assert list(form_rows_for_user(user=investigator, model=model)) == [own]


@pytest.mark.parametrize("role", ["monitor", "statistician", "administrator"])
@pytest.mark.parametrize("model", list(FORM_FACTORIES))
def test_central_roles_see_every_center(model, role, two_casebooks, request):
    user = request.getfixturevalue(role)
    assert set(form_rows_for_user(user=user, model=model)) == set(two_casebooks[model])


def test_a_user_without_a_role_sees_nothing(two_casebooks):
    nobody = factories.UserFactory(username="nobody")
    assert not patient_list_for_user(user=nobody).exists()
    assert not center_list_for_user(user=nobody).exists()
    assert not form_rows_for_user(user=nobody, model=IOCycle).exists()


def test_a_coordinator_of_two_centers_sees_both(center, other_center, patient, other_patient):
    both = factories.UserFactory(username="both", role="site_coordinator", centers=[center, other_center])
    assert set(patient_list_for_user(user=both)) == {patient, other_patient}


def test_another_centers_patient_is_404_like_a_missing_one(coordinator, other_patient):
    with pytest.raises(Http404):
        patient_get_for_user(user=coordinator, study_id=other_patient.study_id)
    with pytest.raises(Http404):
        patient_get_for_user(user=coordinator, study_id="XX99-999")


def test_deleted_rows_are_not_listed(coordinator, patient):
    factories.IOCycleFactory(patient=patient, is_deleted=True)
    assert not form_rows_for_user(user=coordinator, model=IOCycle).exists()
    assert Patient.objects.count() == 1
