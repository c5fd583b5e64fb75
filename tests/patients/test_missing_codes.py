"""Missing-data codes through the service every write path uses: a coded question is
answered, checks that need its value skip it, a question that takes no code refuses one,
a value and a code together are refused, and the audit trail shows the code."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from outcomes.models import AdverseEvent
from patients.audit import casebook_audit_trail
from patients.models import BaselineDisease
from patients.registry import CasebookForm, CasebookRegistry, Part, casebook
from patients.services import crf_row_save, row_problems
from tests import factories


def baseline_values(patient, **changes) -> BaselineDisease:
    values = dict(patient=patient, diagnosis_date=dt.date(2015, 1, 10), ph_status="negative",
                  cd22_expression_pct=Decimal("85"), disease_status="first_relapse", marrow_blasts_pct=Decimal("60"),
                  extramedullary_disease=False, cns_disease=False, ecog=1, prior_allo_hsct=False)
    return BaselineDisease(**{**values, **changes})


def test_a_coded_question_is_answered_and_its_code_is_audited(coordinator, center):
    patient = factories.PatientFactory(center=center)
    row = baseline_values(patient, cd22_expression_pct=None, ecog=None, cns_disease=None,
                          missing_codes={"cd22_expression_pct": "UNK", "ecog": "ND", "cns_disease": "UNK"})
    crf_row_save(user=coordinator, row=row)
    row.refresh_from_db()
    assert (row.cd22_expression_pct, row.ecog, row.cns_disease) == (None, None, None)
    assert row.missing_codes == {"cd22_expression_pct": "UNK", "ecog": "ND", "cns_disease": "UNK"}

    row.ecog, row.missing_codes = 2, {"cd22_expression_pct": "UNK", "cns_disease": "UNK"}
    crf_row_save(user=coordinator, row=row, expected_version=row.version)
    entries = [entry for entry in casebook_audit_trail(patient=patient, user=coordinator) if entry.form == "baseline"]
    created = {change.field_name: change for entry in entries if entry.action == "created" for change in entry.changes}
    changed = {change.field_name: change for entry in entries if entry.action == "changed" for change in entry.changes}
    assert (created["cd22_expression_pct"].new, created["cd22_expression_pct"].new_shown) == (
        "UNK", "Unknown (not in the source)")
    assert (changed["ecog"].old, changed["ecog"].new) == ("ND", "2")
    assert set(changed) == {"ecog"}


def test_a_required_question_needs_a_value_or_a_code(coordinator, center):
    patient = factories.PatientFactory(center=center)
    with pytest.raises(ValidationError) as raised:
        crf_row_save(user=coordinator, row=baseline_values(patient, ecog=None, cns_disease=None))
    assert set(raised.value.message_dict) == {"ecog", "cns_disease"}


def test_a_value_and_a_code_together_and_bad_codes_are_refused_on_their_fields(coordinator, center):
    patient = factories.PatientFactory(center=center)
    row = baseline_values(patient, missing_codes={"ecog": "UNK", "cd22_expression_pct": "MAYBE",
                                                  "diagnosis_date": "UNK", "no_such_question": "ND"})
    with pytest.raises(ValidationError) as raised:
        crf_row_save(user=coordinator, row=row)
    errors = raised.value.message_dict
    assert errors["ecog"] == ["Give a value or a missing-data code, not both."]
    assert "Not a missing-data code: MAYBE" in errors["cd22_expression_pct"][0]
    assert "takes no missing-data code" in errors["diagnosis_date"][0]  # the date that orders the casebook
    assert "no_such_question" in errors["missing_codes"][0]
    assert not BaselineDisease.objects.filter(patient=patient).exists()


def test_checks_that_need_a_coded_value_skip_it(coordinator, center):
    patient = factories.PatientFactory(center=center)
    row = baseline_values(patient, prior_allo_hsct=True, prior_allo_hsct_date=None,
                          missing_codes={"prior_allo_hsct_date": "UNK"})
    crf_row_save(user=coordinator, row=row)
    assert BaselineDisease.objects.get(patient=patient).missing_codes == {"prior_allo_hsct_date": "UNK"}


def test_every_problem_of_a_row_comes_at_once(coordinator, center):
    patient = factories.PatientFactory(center=center, c1d1_date=dt.date(2016, 5, 2))
    row = baseline_values(patient, ecog=7, diagnosis_date=dt.date(2016, 6, 1), marrow_blasts_pct=Decimal("-1"))
    problems = row_problems(row, patient=patient)
    assert set(problems) == {"ecog", "diagnosis_date", "marrow_blasts_pct"}
    # a field the caller could not read is not checked again, the others are
    assert set(row_problems(row, patient=patient, invalid=["marrow_blasts_pct"])) == {"ecog", "diagnosis_date"}


def test_a_ctcae_grade_the_term_lacks_is_refused_naming_the_grades(coordinator, center):
    patient = factories.PatientFactory(center=center)
    event = AdverseEvent(patient=patient, ctcae_term_id="10016288", grade=1, onset_date=dt.date(2017, 3, 10),
                         resolution_date=dt.date(2017, 3, 20), serious=False, relation="related")
    with pytest.raises(ValidationError) as raised:
        crf_row_save(user=coordinator, row=event)
    assert raised.value.message_dict["grade"] == [
        "Febrile neutropenia has no grade 1 in CTCAE v5.0: its grades are 3, 4, 5."]
    event.grade = 3
    crf_row_save(user=coordinator, row=event)
    assert event.is_haematologic and event.organ_class == "Blood and lymphatic system disorders"


def test_other_specify_needs_its_term_and_only_there(coordinator, center):
    patient = factories.PatientFactory(center=center)
    event = AdverseEvent(patient=patient, ctcae_term_id="10022891", grade=2, onset_date=dt.date(2017, 3, 10),
                         resolution_date=None, serious=False, relation="unrelated")
    assert event.ctcae_term.term == "Investigations - Other, specify"
    with pytest.raises(ValidationError) as raised:
        crf_row_save(user=coordinator, row=event)
    assert "other_specify" in raised.value.message_dict
    event.other_specify = "Ferritin 3000"
    with pytest.raises(ValidationError) as raised:
        crf_row_save(user=coordinator, row=event)
    assert "no digits" in raised.value.message_dict["other_specify"][0]
    event.other_specify = "Ferritin increased"
    crf_row_save(user=coordinator, row=event)
    assert event.term_label == "Investigations - Other, specify: Ferritin increased"
    nausea = AdverseEvent(patient=patient, ctcae_term_id="10028813", grade=2, onset_date=dt.date(2017, 3, 10),
                          serious=False, relation="unrelated", other_specify="Nausea")
    with pytest.raises(ValidationError) as raised:
        crf_row_save(user=coordinator, row=nausea)
    assert raised.value.message_dict["other_specify"] == ["Only for an 'Other, specify' term."]


def test_a_codable_question_must_be_able_to_hold_no_value():
    part = casebook.part_for(BaselineDisease)
    for bad in ("diagnosis_date", "no_such_field"):
        with pytest.raises(ValueError):
            CasebookRegistry().register(CasebookForm(
                key="x", label="X", order=1, requires_data=False, why="-",
                parts=(Part(BaselineDisease, slug="x", repeating=False, form_class=part.form_class, check=part.check,
                            export_table="x", export=(), codable=(bad,)),)))
