"""Printed forms: the filled casebook, the blank CRF and the annotated CRF, read back from
the PDF the server sends (its text extracted with pypdf)."""

import io
import re

import pytest
from django.utils import translation
from django.utils.text import capfirst
from pypdf import PdfReader

from analytics.exports.variables import MISSING_SUFFIX, export_tables
from patients.clinical import IDENTIFIER_MASK, MissingCode, missing_code
from patients.display import show_value
from patients.models import Patient
from patients.registry import casebook
from sites.roles import Role
from tests.factories import UserFactory
from tests.patients.casebooks import full_casebook

CRF_URL = "/forms/crf.pdf"
ANNOTATED_URL = "/forms/annotated-crf.pdf"


def pdf_text(response) -> str:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


def squeezed(text: str) -> str:
    """The text without white space: a table cell may wrap a long value over two lines."""
    return re.sub(r"\s+", "", str(text))


def fetch(client, user, url, language="en") -> str:
    client.force_login(user)
    client.cookies["django_language"] = language
    return pdf_text(client.get(url, HTTP_ACCEPT_LANGUAGE=language))


# -- the annotated CRF ---------------------------------------------------------------------


def test_the_annotated_crf_lists_every_question_of_every_form_with_its_variable_and_export_name(client, monitor):
    text = squeezed(fetch(client, monitor, ANNOTATED_URL))
    for form in casebook.forms():
        assert squeezed(str(form.label)) in text, form.key
        for part in form.parts:
            for model_field in part.question_fields():
                assert model_field.name in text, f"{part.slug}.{model_field.name}"
    for table in export_tables():
        for variable in table.variables:
            assert f"{table.name}.{variable.name}" in text, (table.name, variable.name)
            if table.accepts_code(variable):
                assert f"{table.name}.{variable.name}{MISSING_SUFFIX}" in text


def test_the_annotated_crf_gives_each_code_list_and_the_missing_data_codes(client, statistician):
    text = squeezed(fetch(client, statistician, ANNOTATED_URL))
    for part in casebook.parts():
        for model_field in part.question_fields():
            for value, label in model_field.flatchoices:
                if value not in ("", None):
                    assert squeezed(f"{value} = {label}") in text, (part.slug, model_field.name, value)
    assert squeezed(", ".join(MissingCode.values)) in text
    assert "neverexported:directidentifier" in text


def test_the_annotated_crf_is_in_the_active_language(client, monitor):
    text = squeezed(fetch(client, monitor, ANNOTATED_URL, language="it"))
    with translation.override("it"):
        for form in casebook.forms():
            assert squeezed(str(form.label)) in text
        assert squeezed(capfirst(casebook.patient_part().model._meta.get_field("sex").verbose_name)) in text
    assert "cd22_expression_pct" in text
    assert "Listadeicodici" in text and "maiesportato:identificativodiretto" in text


# -- the blank CRF -------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "it"])
def test_the_blank_crf_asks_every_question_with_its_options_in_the_active_language(client, coordinator, language):
    text = squeezed(fetch(client, coordinator, CRF_URL, language=language))
    with translation.override(language):
        for form in casebook.forms():
            assert squeezed(str(form.label)) in text, form.key
            for part in form.parts:
                for name in part.form_class._meta.fields:
                    model_field = part.model._meta.get_field(name)
                    assert squeezed(capfirst(model_field.verbose_name)) in text, name
                    for value, label in model_field.flatchoices:
                        if value not in ("", None):
                            assert squeezed(str(label)) in text, (name, value)
        assert squeezed(str(MissingCode.NOT_DONE.label)) in text
    if language == "it":
        assert "Sì" in text and "gg/mm/aaaa" in text
    else:
        assert "Yes" in text and "yyyy-mm-dd" in text


def test_the_printed_forms_need_a_role_in_the_study(client, db):
    assert client.get(CRF_URL).status_code == 302  # to the sign-in page
    client.force_login(UserFactory(username="nobody"))
    assert client.get(CRF_URL).status_code == 403
    assert client.get(ANNOTATED_URL).status_code == 403


# -- the filled casebook -------------------------------------------------------------------


@pytest.fixture
def filled(center):
    return full_casebook(center)


@pytest.fixture
def demo_patient(db):
    """The demo patient with the most rows in its casebook."""
    from outcomes.demo import demo_cohort_seed

    demo_cohort_seed(seed=1, n_patients=12, n_centers=2, password="pw")

    def rows(patient):
        return sum(part.model.objects.filter(patient=patient, is_deleted=False).count()
                   for part in casebook.parts() if not part.is_patient)

    return max(Patient.objects.select_related("center"), key=rows)


def expected_answers(patient):
    """Every answer of the casebook as the page shows a value, or the code given instead."""
    for part in casebook.parts():
        rows = [patient] if part.is_patient else part.model.objects.filter(patient=patient, is_deleted=False)
        for row in rows:
            for name in part.form_class._meta.fields:
                value = getattr(row, name)
                code = missing_code(row, name)
                if code and value in (None, ""):
                    yield part, name, code
                elif part.model._meta.get_field(name).is_relation:
                    yield part, name, f"{value} ({value.pk})" if value is not None else "—"
                else:
                    yield part, name, show_value(part.model._meta.get_field(name), value)


def test_the_filled_casebook_of_a_demo_patient_shows_every_value_of_its_casebook(client, demo_patient):
    coordinator = UserFactory(username="coord-print", role=Role.COORDINATOR, centers=[demo_patient.center])
    text = squeezed(fetch(client, coordinator, f"/patients/{demo_patient.study_id}/casebook.pdf"))
    assert demo_patient.study_id in text
    answers = list(expected_answers(demo_patient))
    assert len(answers) > 40
    for part, name, shown in answers:
        assert squeezed(shown) in text, (part.slug, name, shown)
    for form in casebook.forms():
        assert squeezed(str(form.label)) in text
    assert squeezed(demo_patient.local_hospital_id) in text  # the site sees its identifiers


def test_the_filled_casebook_says_who_verified_and_locked_each_form_and_lists_the_open_queries(client, filled, coordinator, monitor):
    from patients.queries import query_raise
    from patients.workflow import form_lock, form_verify

    monitor.first_name, monitor.last_name = "Maria", "Rossi"
    monitor.save()
    form_verify(user=monitor, patient=filled, form="baseline")
    form_lock(user=monitor, patient=filled, form="baseline")
    query_raise(user=monitor, patient=filled, form="follow_up", question="Last contact after the cut-off?")
    text = fetch(client, coordinator, f"/patients/{filled.study_id}/casebook.pdf")
    flat = squeezed(text)
    assert squeezed("Maria Rossi (monitor)") in flat
    assert "Verified" in text and "Locked" in text
    assert squeezed("Last contact after the cut-off?") in flat


def test_a_coded_answer_is_printed_as_its_code_and_meaning(client, filled, coordinator):
    from patients.models import BaselineDisease

    BaselineDisease.objects.filter(patient=filled).update(cd22_expression_pct=None,
                                                          missing_codes={"cd22_expression_pct": "UNK"})
    text = squeezed(fetch(client, coordinator, f"/patients/{filled.study_id}/casebook.pdf"))
    assert squeezed(f"CD22 expression (% of blasts) UNK ({MissingCode.UNKNOWN.label})") in text


def test_another_centers_coordinator_gets_404(client, filled, other_coordinator):
    client.force_login(other_coordinator)
    assert client.get(f"/patients/{filled.study_id}/casebook.pdf").status_code == 404


def test_statisticians_see_no_identifier_in_the_filled_casebook(client, filled, statistician):
    text = squeezed(fetch(client, statistician, f"/patients/{filled.study_id}/casebook.pdf"))
    assert squeezed(IDENTIFIER_MASK) in text
    for name in ("local_hospital_id", "initials", "date_of_birth"):
        value = getattr(filled, name)
        assert squeezed(show_value(Patient._meta.get_field(name), value)) not in text, name
    assert filled.study_id in text


def test_the_filled_casebook_is_in_the_active_language(client, filled, coordinator):
    text = squeezed(fetch(client, coordinator, f"/patients/{filled.study_id}/casebook.pdf", language="it"))
    with translation.override("it"):
        for form in casebook.forms():
            assert squeezed(str(form.label)) in text
    assert "Storiadellostato" in text and "Statushistory" not in text
