"""The casebook registry is the one declaration of the forms: every consumer covers exactly
the registry's forms and parts, no more and no fewer."""

import pytest
from django.urls import get_resolver, reverse

from analytics.exports.dictionary import dictionary_entries
from analytics.exports.variables import export_tables
from patients.audit import _sources
from patients.casebook_page import casebook_sections
from patients.models import BaselineDisease, DataQuery, FormState
from patients.registry import CasebookForm, CasebookRegistry, Part, casebook
from patients.selectors import casebook_get_for_user
from patients.signatures import required_form_keys
from tests.api.conftest import FORM_ENDPOINTS
from tests.patients.casebooks import full_casebook
from treatments.models import IOCycle

PARTS = list(casebook.parts())
FORM_PARTS = [part for part in PARTS if not part.is_patient]


def test_the_registry_holds_nine_forms_in_casebook_order():
    assert casebook.form_keys() == ["enrollment", "baseline", "prior_lines", "io_cycles", "responses", "hsct",
                                    "adverse_events", "vod_sos", "follow_up"]
    assert [part.slug for part in casebook.form("io_cycles").parts] == ["io-cycles", "end-of-treatment"]
    assert casebook.patient_part().key == "enrollment"
    assert all(str(form.why) for form in casebook.forms())


def test_a_form_or_a_model_registered_twice_is_refused():
    registry = CasebookRegistry()
    part = PARTS[1]
    form = CasebookForm(key="x", label="X", order=1, requires_data=False, why="-",
                        parts=(Part(part.model, slug="x", repeating=False, form_class=part.form_class, check=part.check,
                                    export_table="x", export=()),))
    registry.register(form)
    with pytest.raises(ValueError):
        registry.register(form)


def test_the_form_fields_take_their_choices_from_the_registry():
    for model in (FormState, DataQuery):
        assert [key for key, _label in model._meta.get_field("form").choices] == casebook.form_keys()


def test_the_api_routes_are_the_registered_parts():
    from inocd22.api_urls import router

    prefixes = {prefix for prefix, _viewset, _basename in router.registry}
    assert prefixes - {"centers", "exports/logs", "auth/tokens", "patients", "ctcae-terms", "queries"} == {part.slug for part in FORM_PARTS}
    for prefix, viewset, _basename in router.registry:
        if prefix in FORM_ENDPOINTS:
            part = casebook.part_by_slug(prefix)
            assert viewset.model is part.model
            assert ("delete" in viewset.http_method_names) == part.repeating
    assert set(FORM_ENDPOINTS) == {part.slug for part in FORM_PARTS}


def test_the_casebook_pages_have_a_route_for_every_part():
    for part in PARTS:
        name = "casebook:row-new" if part.repeating else "casebook:form"
        assert reverse(name, args=["RM01-001", part.slug]).endswith(f"/forms/{part.slug}/" + ("new/" if part.repeating else ""))
    assert "casebook" in {getattr(p, "namespace", None) for p in get_resolver().url_patterns}


def test_the_casebook_page_shows_every_form_and_part(coordinator, center):
    patient = full_casebook(center)
    loaded = casebook_get_for_user(user=coordinator, study_id=patient.study_id)
    sections = casebook_sections(loaded, user=coordinator)
    assert [section.key for section in sections] == casebook.form_keys()
    assert [part["spec"] for section in sections for part in section.parts] == PARTS
    assert all(section.is_complete for section in sections)


def test_the_exports_have_one_table_per_part_and_the_dictionary_covers_them():
    tables = export_tables()
    assert [(table.name, table.model, table.form, table.repeating) for table in tables] == [
        (part.export_table, part.model, part.key, part.repeating) for part in PARTS]
    assert [[variable.name for variable in table.variables] for table in tables] == [list(part.export) for part in PARTS]
    assert {entry["form"] for entry in dictionary_entries()} == {part.export_table for part in PARTS}


def test_the_audit_trail_reads_the_history_of_every_part():
    models = [source.model for source in _sources()]
    assert [part.model for part in PARTS] == models[:len(PARTS)]


def test_sign_off_and_the_automatic_checks_require_the_same_forms(center):
    from patients.checks import _missing_forms
    from tests import factories

    patient = factories.PatientFactory(center=center)
    required = casebook.keys_requiring_data()
    assert required_form_keys(patient) == required
    missing = {problem.form for problem in _missing_forms(patient)}
    assert missing == set(required) - {casebook.patient_part().key}


def test_the_demo_fills_every_part_and_marks_every_form_complete(db):
    from outcomes.demo import demo_cohort_seed

    demo_cohort_seed(seed=1, n_patients=12, n_centers=2, password="pw")
    for part in FORM_PARTS:
        if part.key != "vod_sos":  # a dozen patients may have no VOD/SOS
            assert part.model.objects.exists(), part.slug
    assert set(FormState.objects.values_list("form", flat=True)) == set(casebook.form_keys())


@pytest.mark.parametrize("model, repeating", [(IOCycle, False), (BaselineDisease, True)])
def test_a_part_repeats_exactly_when_its_model_numbers_its_rows(model, repeating):
    """A repeating part's rows have instance numbers (`RepeatingRecord`); a single part's have none."""
    part = casebook.part_for(model)
    form = CasebookForm(key="x", label="X", order=1, requires_data=False, why="-",
                        parts=(Part(model, slug="x", repeating=repeating, form_class=part.form_class, check=part.check,
                                    export_table="x", export=()),))
    with pytest.raises(ValueError, match="RepeatingRecord"):
        CasebookRegistry().register(form)
