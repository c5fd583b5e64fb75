"""A retrospective casebook through the API: questions the chart cannot answer recorded with a
missing-data code (the value null), adverse events on CTCAE v5.0 found by search and given by
MedDRA code, grades the term lacks refused, every code audited like a value, and the casebook
complete once every form is."""

import pytest

from patients.audit import casebook_audit_trail
from patients.models import FormState, FormStatus
from patients.registry import casebook
from tests.factories import (
    EndOfTreatmentFactory,
    FollowUpFactory,
    HsctFactory,
    IOCycleFactory,
    PriorLineFactory,
    ResponseFactory,
    VodFactory,
)

BASELINE = {
    "diagnosis_date": "2015-01-10", "ph_status": "negative", "disease_status": "first_relapse",
    "marrow_blasts_pct": "60", "extramedullary_disease": False, "prior_allo_hsct": False,
    "cd22_expression_pct": None, "ecog": None, "cns_disease": None,
    "missing_codes": {"cd22_expression_pct": "UNK", "ecog": "ND", "cns_disease": "UNK"},
}


@pytest.fixture
def api(coordinator, api_as):
    return api_as(coordinator)


def term_found(api, search: str, term: str) -> dict:
    response = api.get("/api/ctcae-terms/", {"search": search})
    assert response.status_code == 200
    return next(found for found in response.json()["results"] if found["term"] == term)


def adverse_event(patient, term: dict, **values) -> dict:
    return {"patient": patient.study_id, "ctcae_term": term["meddra_code"], "grade": 3,
            "onset_date": "2017-03-10", "resolution_date": "2017-03-20", "serious": True, "relation": "related",
            **values}


def test_a_retrospective_casebook_with_codes_and_ctcae_terms(api, coordinator, patient):
    baseline = api.post("/api/baseline/", {"patient": patient.study_id, **BASELINE}, format="json")
    assert baseline.status_code == 201, baseline.content
    body = baseline.json()
    assert body["missing_codes"] == BASELINE["missing_codes"]
    assert body["cd22_expression_pct"] is None and body["ecog"] is None and body["cns_disease"] is None

    # a value and a code for the same question: refused on that question
    both = api.patch(f"/api/baseline/{body['id']}/", {"version": 1, "ecog": 1,
                                                       "missing_codes": {**BASELINE["missing_codes"]}}, format="json")
    assert both.status_code == 400
    assert both.json() == {"ecog": ["Give a value or a missing-data code, not both."]}

    read = api.get(f"/api/baseline/{body['id']}/").json()
    assert read["missing_codes"] == BASELINE["missing_codes"] and read["version"] == 1
    assert read["cd22_expression_pct"] is None and read["ecog"] is None and read["cns_disease"] is None

    febrile = term_found(api, "febr", "Febrile neutropenia")
    assert febrile["meddra_code"] == "10016288" and febrile["haematologic"] is True
    assert [grade["grade"] for grade in febrile["grades"]] == [3, 4, 5]
    assert api.get(f"/api/ctcae-terms/{febrile['meddra_code']}/").json() == febrile

    refused = api.post("/api/adverse-events/", adverse_event(patient, febrile, grade=1), format="json")
    assert refused.status_code == 400
    assert list(refused.json()) == ["grade"] and "3, 4, 5" in refused.json()["grade"][0]
    accepted = api.post("/api/adverse-events/", adverse_event(patient, febrile), format="json")
    assert accepted.status_code == 201, accepted.content
    event = accepted.json()
    assert (event["ctcae_term"], event["ctcae_term_name"], event["soc"], event["grade"]) == (
        "10016288", "Febrile neutropenia", "Blood and lymphatic system disorders", 3)

    other = term_found(api, "investigations other", "Investigations - Other, specify")
    unnamed = api.post("/api/adverse-events/", adverse_event(patient, other, grade=2), format="json")
    assert unnamed.status_code == 400 and list(unnamed.json()) == ["other_specify"]
    specified = api.post("/api/adverse-events/", adverse_event(patient, other, grade=2,
                                                               other_specify="Procalcitonin increased"), format="json")
    assert specified.status_code == 201, specified.content
    assert specified.json()["other_specify"] == "Procalcitonin increased"
    assert specified.json()["soc"] == "Investigations"

    audit = casebook_audit_trail(patient=patient, user=coordinator, form="baseline")
    created = {change.field_name: change for entry in audit for change in entry.changes}
    assert created["cd22_expression_pct"].new == "UNK" and created["ecog"].new == "ND"
    assert created["cns_disease"].new == "UNK"

    # the other forms, then every form complete
    PriorLineFactory(patient=patient)
    IOCycleFactory(patient=patient)
    EndOfTreatmentFactory(patient=patient)
    HsctFactory(patient=patient)
    ResponseFactory(patient=patient)
    VodFactory(patient=patient)
    FollowUpFactory(patient=patient)
    for form in casebook.forms():
        marked = api.post(f"/api/patients/{patient.study_id}/form-status/",
                          {"form": form.key, "status": "complete"}, format="json")
        assert marked.status_code == 200, (form.key, marked.content)
    assert len(casebook) == 9
    assert FormState.objects.filter(patient=patient, status=FormStatus.COMPLETE).count() == 9


@pytest.fixture
def coded_baseline(api, patient):
    response = api.post("/api/baseline/", {"patient": patient.study_id, **BASELINE}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_patch_giving_a_value_clears_its_code_and_keeps_the_others(api, coded_baseline):
    url = f"/api/baseline/{coded_baseline['id']}/"
    changed = api.patch(url, {"version": 1, "ecog": 2}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["ecog"] == 2
    assert changed.json()["missing_codes"] == {"cd22_expression_pct": "UNK", "cns_disease": "UNK"}
    replaced = api.patch(url, {"version": 2, "cns_disease": True, "missing_codes": {"cd22_expression_pct": "ND"}},
                         format="json")
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["missing_codes"] == {"cd22_expression_pct": "ND"}


def test_a_put_replaces_the_codes(api, coded_baseline):
    body = {name: value for name, value in coded_baseline.items()
            if name not in ("id", "created_at", "updated_at", "missing_codes")}
    without_codes = api.put(f"/api/baseline/{coded_baseline['id']}/", body, format="json")
    assert without_codes.status_code == 400
    assert {"cd22_expression_pct", "ecog", "cns_disease"} <= set(without_codes.json())
    answered = api.put(f"/api/baseline/{coded_baseline['id']}/",
                       {**body, "cd22_expression_pct": "80", "ecog": 1, "cns_disease": None,
                        "missing_codes": {"cns_disease": "UNK"}}, format="json")
    assert answered.status_code == 200, answered.content
    assert answered.json()["missing_codes"] == {"cns_disease": "UNK"}


@pytest.mark.parametrize(("codes", "field"), [
    ("UNK", "missing_codes"),
    (["UNK"], "missing_codes"),
    ({"ecog": 1}, "missing_codes"),
    ({"ecog": None}, "missing_codes"),
    ({"ecog": "XX"}, "ecog"),
    ({"diagnosis_date": "UNK"}, "diagnosis_date"),
    ({"no_such_question": "UNK"}, "missing_codes"),
])
def test_malformed_codes_are_a_400_on_the_field(api, coded_baseline, codes, field):
    response = api.patch(f"/api/baseline/{coded_baseline['id']}/", {"version": 1, "missing_codes": codes},
                         format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_a_text_question_answered_by_a_code_is_null_on_the_api(api, patient):
    term = term_found(api, "febr", "Febrile neutropenia")
    response = api.post("/api/adverse-events/", adverse_event(patient, term, relation=None, serious=None,
                                                              missing_codes={"relation": "UNK", "serious": "UNK"}),
                        format="json")
    assert response.status_code == 201, response.content
    assert response.json()["relation"] is None and response.json()["serious"] is None
    unanswered = api.post("/api/adverse-events/", adverse_event(patient, term, relation=None), format="json")
    assert unanswered.status_code == 400 and list(unanswered.json()) == ["relation"]


@pytest.mark.parametrize("code", ["12345678", 10016288, "febrile", ""])
def test_an_unknown_meddra_code_is_a_400_on_the_term(api, patient, code):
    body = {**adverse_event(patient, {"meddra_code": code}), "grade": 1}
    response = api.post("/api/adverse-events/", body, format="json")
    assert response.status_code == 400
    assert "ctcae_term" in response.json()
    if code == "12345678":
        assert "not a CTCAE v5.0 MedDRA code" in response.json()["ctcae_term"][0]


def test_ctcae_terms_for_every_role(api_as, statistician, monitor):
    for user in (statistician, monitor):
        api = api_as(user)
        every = api.get("/api/ctcae-terms/").json()
        assert every["count"] == 837
        search = api.get("/api/ctcae-terms/", {"search": "1001628"}).json()
        assert [term["term"] for term in search["results"]] == ["Febrile neutropenia"]
        assert api.get("/api/ctcae-terms/", {"search": "neutro"}).json()["count"] >= 2
        assert api.get("/api/ctcae-terms/", {"search": "zzz\x00"}).json()["count"] == 0
        assert api.get("/api/ctcae-terms/00000000/").status_code == 404
    from rest_framework.test import APIClient
    assert APIClient().get("/api/ctcae-terms/").status_code == 401


def test_statisticians_see_codes_and_specified_terms_but_no_free_text(api, api_as, statistician, patient):
    """A specified term names an event (it is exported): unlike free text, every role sees it."""
    other = term_found(api, "investigations other", "Investigations - Other, specify")
    created = api.post("/api/adverse-events/", adverse_event(
        patient, other, grade=2, other_specify="Procalcitonin increased", serious=None,
        missing_codes={"serious": "UNK"}), format="json")
    assert created.status_code == 201, created.content
    seen = api_as(statistician).get(f"/api/adverse-events/{created.json()['id']}/").json()
    assert seen["other_specify"] == "Procalcitonin increased" and seen["ctcae_term_name"] == other["term"]
    assert seen["missing_codes"] == {"serious": "UNK"} and seen["serious"] is None


def test_every_problem_of_a_row_in_one_400(api, patient):
    """The fields DRF cannot read, and the service's problems of the rest of the row, together."""
    response = api.post("/api/baseline/", {
        "patient": patient.study_id, **BASELINE, "ecog": "x", "marrow_blasts_pct": None,
        "missing_codes": {"cd22_expression_pct": "UNK", "cns_disease": "XX"}}, format="json")
    assert response.status_code == 400
    assert {"ecog", "marrow_blasts_pct", "cns_disease"} <= set(response.json())
    assert "cd22_expression_pct" not in response.json()


def test_the_schema_documents_codes_and_ctcae_terms(api):
    document = api.get("/api/schema/?format=json").json()
    assert {"/api/ctcae-terms/", "/api/ctcae-terms/{meddra_code}/"} <= set(document["paths"])
    schemas = document["components"]["schemas"]
    codes = schemas["BaselineDisease"]["properties"]["missing_codes"]
    assert codes["additionalProperties"]["enum"] == ["UNK", "ND", "NA"]
    assert "PATCH without it" in codes["description"] and "cd22_expression_pct" in codes["description"]
    assert schemas["BaselineDisease"]["properties"]["cd22_expression_pct"]["nullable"] is True
    assert {"ctcae_term_name", "soc"} <= set(schemas["AdverseEvent"]["properties"])
    assert {"grades", "meddra_code", "soc", "haematologic", "other_specify"} <= set(schemas["CtcaeTerm"]["properties"])
