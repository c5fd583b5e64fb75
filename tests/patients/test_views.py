"""The casebook pages through Django's test client: enrollment, every form, edit checks on
the field, reasons for change, lost updates, the audit trail, roles and 404s."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inocd22.settings import base as base_settings
from outcomes.models import AdverseEvent, FollowUp, ResponseAssessment, VodSosEvent
from patients.models import BaselineDisease, FormState, Patient
from patients.registry import casebook
from patients.workflow import form_status_set
from tests import factories
from treatments.models import AlloHsct, EndOfTreatment, IOCycle, PriorTherapyLine

pytestmark = pytest.mark.django_db

# Per form: a valid answer, a bad answer that an edit check refuses, and the field it flags.
FORMS = {
    "baseline": (
        BaselineDisease,
        {"diagnosis_date": "2015-01-10", "ph_status": "negative", "cd22_expression_pct": "85",
         "disease_status": "first_relapse", "marrow_blasts_pct": "60", "extramedullary_disease": "False",
         "cns_disease": "False", "ecog": "1", "prior_allo_hsct": "False"},
        {"diagnosis_date": "2018-01-10"},
        "diagnosis_date",
    ),
    "prior-lines": (
        PriorTherapyLine,
        {"line_number": "1", "category": "induction_chemo", "regimen": "hyper-CVAD", "start_date": "2015-01-20",
         "end_date": "2015-07-01", "best_response": "cr"},
        {"start_date": "2017-05-01", "end_date": ""},
        "start_date",
    ),
    "io-cycles": (
        IOCycle,
        {"cycle_number": "1", "start_date": "2017-03-01", "dose_day1": "0.8", "dose_day8": "0.5", "dose_day15": "0.5",
         "delayed": "False", "dose_reduced": "False"},
        {"start_date": "2017-03-05"},
        "start_date",
    ),
    "end-of-treatment": (EndOfTreatment, {"reason": "response"}, {"reason": "other", "reason_other": ""}, "reason_other"),
    "responses": (
        ResponseAssessment,
        {"assessment_date": "2017-03-28", "marrow_blasts_pct": "2", "response": "cr", "mrd_status": "negative",
         "mrd_method": "flow"},
        {"marrow_blasts_pct": "12"},
        "marrow_blasts_pct",
    ),
    "hsct": (
        AlloHsct,
        {"performed": "True", "hsct_date": "2017-06-01", "donor": "matched_unrelated", "conditioning": "mac",
         "tbi": "False", "status_at_hsct": "cr_mrd_neg", "io_cycles_before": "1"},
        {"hsct_date": ""},
        "hsct_date",
    ),
    "adverse-events": (
        AdverseEvent,
        {"ctcae_term": "10001551", "grade": "3", "onset_date": "2017-03-10", "resolution_date": "2017-03-20",
         "serious": "False", "relation": "related"},
        {"grade": "5"},
        "grade",
    ),
    "vod-sos": (
        VodSosEvent,
        {"diagnosis_date": "2017-04-01", "criteria": "ebmt_2016", "severity": "mild", "setting": "during_io",
         "defibrotide": "False", "outcome": "resolved"},
        {"setting": "after_hsct"},
        "setting",
    ),
    "follow-up": (
        FollowUp,
        {"relapsed": "False", "vital_status": "alive", "last_contact_date": "2020-01-15"},
        {"vital_status": "dead"},
        "death_date",
    ),
}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_url(patient, slug):
    spec = casebook.part_by_slug(slug)
    name = "casebook:row-new" if spec.repeating else "casebook:form"
    return reverse(name, args=[patient.study_id, slug])


def enrollment_data(center, **changes):
    data = {"center": center.pk, "date_of_birth": "1964-06-15", "has_rr_b_all": "True", "is_cd22_positive": "True",
            "received_io": "True", "c1d1_date": "2017-03-01", "local_hospital_id": "H-123", "initials": "MR",
            "sex": "M", "enrollment_status": "enrolled", "exclusion_reason": ""}
    return {**data, **changes}


# -- sign in, home, list ---------------------------------------------------------------

def test_pages_need_sign_in(client, patient):
    for url in ("/", "/patients/", f"/patients/{patient.study_id}/", f"/patients/{patient.study_id}/audit/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")



def test_passwords_are_stored_as_argon2_hashes(coordinator, settings):
    # The test settings hash with MD5 for speed; every other settings module uses base's list.
    settings.PASSWORD_HASHERS = base_settings.PASSWORD_HASHERS
    coordinator.set_password("pw-for-tests")
    assert coordinator.password.startswith("argon2$") and coordinator.check_password("pw-for-tests")


def test_five_wrong_passwords_lock_the_sign_in_out(client, coordinator, settings):
    settings.AXES_ENABLED = True
    for _attempt in range(4):
        refused = client.post("/accounts/login/", {"username": "coord-rm01", "password": "a guess"})
        assert refused.status_code == 200 and "_auth_user_id" not in client.session
    assert client.post("/accounts/login/", {"username": "coord-rm01", "password": "a guess"}).status_code == 429
    locked = client.post("/accounts/login/", {"username": "coord-rm01", "password": "pw-for-tests"})
    assert locked.status_code == 429  # even the right password, until the cool-off ends
    assert "_auth_user_id" not in client.session


def test_a_session_ends_after_30_minutes_without_activity(client, coordinator):
    client.post("/accounts/login/", {"username": "coord-rm01", "password": "pw-for-tests"})
    key = client.session.session_key
    assert client.session.get_expiry_age() == 30 * 60
    # Activity moves the end on (the session is saved on every request) ...
    Session.objects.filter(pk=key).update(expire_date=timezone.now() + dt.timedelta(minutes=1))
    assert client.get("/").status_code == 200
    assert Session.objects.get(pk=key).expire_date > timezone.now() + dt.timedelta(minutes=29)
    # ... and 30 minutes without any ends it.
    Session.objects.filter(pk=key).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")

def test_sign_in_page_and_password_change(client, coordinator):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "coord-rm01", "password": "pw-for-tests"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/accounts/password_change/").status_code == 200
    response = client.post("/accounts/password_change/", {"old_password": "pw-for-tests",
                                                          "new_password1": "a-Longer-pass-2025",
                                                          "new_password2": "a-Longer-pass-2025"})
    assert response.status_code == 302
    coordinator.refresh_from_db()
    assert coordinator.check_password("a-Longer-pass-2025")


def test_home_shows_the_coordinators_center_only(coordinator, patient, other_patient):
    factories.BaselineFactory(patient=patient)
    form_status_set(user=coordinator, patient=patient, form="baseline", status="complete")
    page = signed_in(coordinator).get("/").content.decode()
    assert patient.study_id in page and other_patient.study_id not in page
    assert "1/9" in page


def test_home_of_a_monitor_counts_patients_per_center(monitor, patient, other_patient):
    page = signed_in(monitor).get("/").content.decode()
    assert "RM01" in page and "MI02" in page
    assert patient.study_id in page and other_patient.study_id in page


def test_patient_list_search_filters_and_pagination(coordinator, center):
    for _ in range(30):
        factories.PatientFactory(center=center)
    client = signed_in(coordinator)
    first = Patient.objects.order_by("sequence").first()
    page = client.get("/patients/").content.decode()
    assert "Page 1 of 2" in page
    page = client.get("/patients/", {"q": first.study_id}).content.decode()
    assert first.study_id in page and "· 1 patient" in page
    page = client.get("/patients/", {"status": "excluded"}).content.decode()
    assert "No patient matches" in page
    page = client.get("/patients/", {"completeness": "not_started"}).content.decode()
    assert "· 30 patients" in page
    partial = client.get("/patients/", {"q": first.study_id}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and first.study_id in partial


# -- enrollment ----------------------------------------------------------------------------

def test_enrollment_generates_the_study_id(coordinator, center):
    response = signed_in(coordinator).post("/patients/new/", enrollment_data(center))
    patient = Patient.objects.get()
    assert patient.study_id == "RM01-001"
    assert response["Location"] == "/patients/RM01-001/"


def test_an_ineligible_patient_is_recorded_as_excluded_with_the_reason(coordinator, center):
    client = signed_in(coordinator)
    response = client.post("/patients/new/", enrollment_data(center, is_cd22_positive="False"))
    assert response.status_code == 200 and not Patient.objects.exists()
    assert "Not eligible (CD22-positive)" in response.context["form"].errors["enrollment_status"][0]
    response = client.post("/patients/new/", enrollment_data(center, is_cd22_positive="False",
                                                            enrollment_status="excluded", exclusion_reason="CD22 negative"))
    patient = Patient.objects.get()
    assert (patient.enrollment_status, patient.exclusion_reason) == ("excluded", "CD22 negative")


def test_enrollment_keeps_what_was_typed_on_a_bad_date(coordinator, center):
    response = signed_in(coordinator).post("/patients/new/", enrollment_data(center, c1d1_date="2013-02-01",
                                                                             local_hospital_id="H-999"))
    assert "study window" in response.context["form"].errors["c1d1_date"][0]
    assert 'value="H-999"' in response.content.decode()
    assert not Patient.objects.exists()


def test_dates_are_typed_and_shown_in_italian(coordinator, center):
    client = signed_in(coordinator)
    client.post("/i18n/setlang/", {"language": "it"})
    client.post("/patients/new/", enrollment_data(center, date_of_birth="15/06/1964", c1d1_date="01/03/2017"))
    patient = Patient.objects.get()
    assert patient.c1d1_date == dt.date(2017, 3, 1)
    page = client.get(f"/patients/{patient.study_id}/").content.decode()
    assert "01/03/2017" in page and "Data del giorno 1 del ciclo 1 di IO" in page


# -- every form: saved when right, refused on the field when wrong ------------------------

@pytest.mark.parametrize("slug", FORMS)
def test_every_form_saves_and_refuses_bad_input_on_the_field(coordinator, patient, slug):
    model, good, bad, field = FORMS[slug]
    client = signed_in(coordinator)
    response = client.post(form_url(patient, slug), {**good, **bad})
    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert not model.objects.filter(patient=patient).exists()
    assert "Nothing was saved" in response.content.decode()
    response = client.post(form_url(patient, slug), good)
    assert response.status_code == 302, response.context["form"].errors
    row = model.objects.get(patient=patient)
    assert row.history.get().history_user == coordinator


def test_bad_input_on_an_existing_row_leaves_it_as_it_was(coordinator, patient):
    cycle = factories.IOCycleFactory(patient=patient)
    url = reverse("casebook:row", args=[patient.study_id, "io-cycles", cycle.pk])
    response = signed_in(coordinator).post(url, {**FORMS["io-cycles"][1], "dose_day1": "1.5", "version": "1"})
    assert response.context["form"].errors["dose_day1"]
    cycle.refresh_from_db()
    assert (cycle.dose_day1, cycle.version) == (Decimal("0.8"), 1)


def test_hidden_conditional_answers_are_not_saved(coordinator, patient):
    response = signed_in(coordinator).post(form_url(patient, "hsct"), {**FORMS["hsct"][1], "performed": "False"})
    assert response.status_code == 302
    hsct = AlloHsct.objects.get(patient=patient)
    assert (hsct.performed, hsct.hsct_date, hsct.donor) == (False, None, "")


def test_the_casebook_shows_derived_values(coordinator, patient):
    factories.IOCycleFactory(patient=patient)
    factories.ResponseFactory(patient=patient, assessment_date=dt.date(2017, 3, 28), response="pr", marrow_blasts_pct=8)
    factories.ResponseFactory(patient=patient, assessment_date=dt.date(2017, 4, 20), response="cri")
    page = signed_in(coordinator).get(f"/patients/{patient.study_id}/").content.decode()
    assert "52.7 years" in page  # 1964-06-15 to 2017-03-01
    assert "CR with incomplete haematologic recovery (CRi)" in page.split("Best response on IO")[1][:200]
    assert "+27" in page and "+50" in page  # days from C1D1
    assert "1.8" in page  # total dose of the cycle
    assert "Eligible" in page


# -- reason for change, form states, lost updates, deletion ------------------------------

def test_a_complete_form_asks_for_a_reason_and_the_audit_trail_shows_it(coordinator, patient):
    baseline = factories.BaselineFactory(patient=patient)
    client = signed_in(coordinator)
    client.post(reverse("casebook:status", args=[patient.study_id, "baseline"]), {"status": "complete"})
    assert FormState.objects.get(patient=patient, form="baseline").status == "complete"
    data = {**FORMS["baseline"][1], "ecog": "2", "version": "1"}
    response = client.post(form_url(patient, "baseline"), data)
    assert response.context["form"].errors["change_reason"]
    baseline.refresh_from_db()
    assert baseline.ecog == 1
    response = client.post(form_url(patient, "baseline"), {**data, "change_reason": "Source document re-read"})
    assert response.status_code == 302
    baseline.refresh_from_db()
    assert (baseline.ecog, baseline.version) == (2, 2)
    audit = client.get(reverse("casebook:audit", args=[patient.study_id]), {"form": "baseline"}).content.decode()
    assert "Source document re-read" in audit and "ECOG performance status" in audit
    assert '<span class="old">1</span> → <span class="new">2</span>' in audit


def test_a_concurrent_edit_is_refused_and_keeps_what_the_second_user_typed(coordinator, investigator, patient):
    cycle = factories.IOCycleFactory(patient=patient)
    url = reverse("casebook:row", args=[patient.study_id, "io-cycles", cycle.pk])
    first, second = signed_in(coordinator), signed_in(investigator)
    assert first.get(url).status_code == 200 and second.get(url).status_code == 200
    base = {**FORMS["io-cycles"][1], "version": "1"}
    assert first.post(url, {**base, "dose_day8": "0.4", "dose_reduced": "True", "modification_reason": "ALT"}).status_code == 302
    response = second.post(url, {**base, "dose_day15": "0.3", "delayed": "True", "modification_reason": "Infection"})
    assert response.status_code == 200
    conflict = dict((question, (mine, saved)) for question, mine, saved in response.context["conflict"])
    assert conflict["Dose on day 8 (mg/m²)"] == ("0.5", "0.4")
    assert conflict["Dose on day 15 (mg/m²)"] == ("0.3", "0.5")
    page = response.content.decode()
    assert 'value="Infection"' in page and 'name="version" value="2"' in page
    cycle.refresh_from_db()
    assert (cycle.dose_day8, cycle.dose_day15, cycle.version) == (Decimal("0.4"), Decimal("0.5"), 2)
    # Saving again, having seen the differences, keeps the second user's values.
    assert second.post(url, response.context["form"].data).status_code == 302
    cycle.refresh_from_db()
    assert (cycle.dose_day15, cycle.version) == (Decimal("0.3"), 3)


def test_deleting_a_row_is_soft_and_asks_a_reason_once_complete(coordinator, patient):
    event = factories.AdverseEventFactory(patient=patient)
    form_status_set(user=coordinator, patient=patient, form="adverse_events", status="complete")
    client = signed_in(coordinator)
    url = reverse("casebook:row-delete", args=[patient.study_id, "adverse-events", event.pk])
    assert "Reason for change" in client.get(url).content.decode()
    response = client.post(url, {"version": "1"})
    assert response.context["errors"]["reason"]
    event.refresh_from_db()
    assert not event.is_deleted
    assert client.post(url, {"version": "1", "reason": "Duplicate entry"}).status_code == 302
    event.refresh_from_db()
    assert event.is_deleted
    assert "ALT increased" not in client.get(f"/patients/{patient.study_id}/").content.decode().split("form-vod_sos")[0].split("form-adverse_events")[1]
    audit = client.get(reverse("casebook:audit", args=[patient.study_id])).content.decode()
    assert "Duplicate entry" in audit and "Deleted" in audit


def test_a_locked_form_cannot_be_edited(coordinator, patient):
    factories.BaselineFactory(patient=patient)
    FormState.objects.create(patient=patient, form="baseline", status="locked")
    client = signed_in(coordinator)
    response = client.post(form_url(patient, "baseline"), {**FORMS["baseline"][1], "ecog": "3", "version": "1"})
    assert response.status_code == 302
    assert BaselineDisease.objects.get(patient=patient).ecog == 1
    assert "locked" in client.get(response["Location"]).content.decode()


# -- roles -------------------------------------------------------------------------------------

def test_monitors_read_everything_but_change_nothing(monitor, patient, other_patient):
    baseline = factories.BaselineFactory(patient=patient)
    client = signed_in(monitor)
    for study_id in (patient.study_id, other_patient.study_id):
        page = client.get(f"/patients/{study_id}/").content.decode()
        assert "Mark complete" not in page and ">Edit<" not in page and "Fill in" not in page
    response = client.post(form_url(patient, "baseline"), {**FORMS["baseline"][1], "ecog": "3", "version": "1"})
    assert response.status_code == 403
    assert client.post(reverse("casebook:status", args=[patient.study_id, "baseline"]), {"status": "complete"}).status_code == 302
    assert not FormState.objects.filter(patient=patient, form="baseline").exists()
    baseline.refresh_from_db()
    assert baseline.ecog == 1
    assert client.get("/patients/new/").status_code == 403


def test_statisticians_never_see_direct_identifiers(statistician, coordinator, patient):
    # Values no CSRF token will contain by chance.
    patient.local_hospital_id, patient.initials = "HOSP-4711", "ZQXJ"
    patient.save()
    client = signed_in(coordinator)
    data = enrollment_data(patient.center, local_hospital_id="HOSP-4712", initials="ZQXK", version="1")
    assert client.post(form_url(patient, "enrollment"), data).status_code == 302
    stat = signed_in(statistician)
    pages = [stat.get(url).content.decode() for url in
             ("/", "/patients/", f"/patients/{patient.study_id}/", f"/patients/{patient.study_id}/audit/")]
    for page in pages:
        # Whole initials: three letters can turn up in a CSRF token by chance.
        assert "HOSP-47" not in page and "ZQXJ" not in page and "ZQXK" not in page and "1964-06-15" not in page
    assert "HOSP-4712" in client.get(f"/patients/{patient.study_id}/audit/").content.decode()


def _routes(patient) -> list[str]:
    """Every route that takes a patient or a form row, with rows of every form."""
    rows = {
        "prior-lines": factories.PriorLineFactory(patient=patient),
        "io-cycles": factories.IOCycleFactory(patient=patient),
        "responses": factories.ResponseFactory(patient=patient),
        "adverse-events": factories.AdverseEventFactory(patient=patient),
        "vod-sos": factories.VodFactory(patient=patient),
    }
    study_id = patient.study_id
    urls = [reverse("casebook:detail", args=[study_id]), reverse("casebook:audit", args=[study_id]),
            reverse("casebook:pdf", args=[study_id])]
    urls += [reverse("casebook:status", args=[study_id, key]) for key in ("enrollment", "baseline", "io_cycles")]
    for spec in casebook.parts():
        urls += [reverse("casebook:form", args=[study_id, spec.slug]), reverse("casebook:row-new", args=[study_id, spec.slug])]
        if spec.slug in rows:
            urls += [reverse("casebook:row", args=[study_id, spec.slug, rows[spec.slug].pk]),
                     reverse("casebook:row-delete", args=[study_id, spec.slug, rows[spec.slug].pk])]
    return urls


def test_every_patient_route_is_404_for_a_coordinator_of_another_center(other_coordinator, coordinator, patient):
    from django.urls import get_resolver

    casebook = next(p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "casebook")
    casebook_routes = {p.name for p in casebook.url_patterns}
    urls = _routes(patient)
    resolved = {reverse_name for reverse_name in casebook_routes}
    assert resolved == {"detail", "pdf", "audit", "status", "form", "row-new", "row", "row-delete"}
    outsider, insider = signed_in(other_coordinator), signed_in(coordinator)
    for url in urls:
        assert outsider.get(url).status_code == 404, url
        assert outsider.post(url, {"status": "complete", "version": "1", "reason": "x"}).status_code == 404, url
        assert insider.get(url).status_code in (200, 405), url
    # A row of this patient reached through another patient's casebook is not found either.
    mine = factories.PatientFactory(center=patient.center.__class__.objects.get(code="MI02"))
    cycle = IOCycle.objects.get(patient=patient)
    assert signed_in(other_coordinator).get(
        reverse("casebook:row", args=[mine.study_id, "io-cycles", cycle.pk])).status_code == 404
    assert IOCycle.objects.get(pk=cycle.pk).version == 1 and FormState.objects.filter(patient=patient).count() == 0


def test_italian_labels(coordinator, patient):
    client = signed_in(coordinator)
    client.post("/i18n/setlang/", {"language": "it"})
    page = client.get(form_url(patient, "baseline")).content.decode()
    assert "Data della diagnosi di LLA-B" in page
    assert "Salva" in page


# -- a fixed number of queries --------------------------------------------------------------

def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context.captured_queries)


def _fill(patient, n):
    for i in range(n):
        factories.PriorLineFactory(patient=patient, line_number=i + 1)
        factories.ResponseFactory(patient=patient)
        factories.AdverseEventFactory(patient=patient)
        factories.VodFactory(patient=patient)
    for i in range(min(n, 6)):
        factories.IOCycleFactory(patient=patient, cycle_number=i + 1)


def test_the_casebook_runs_a_fixed_number_of_queries(coordinator, center):
    small, large = factories.PatientFactory(center=center), factories.PatientFactory(center=center)
    _fill(small, 2)
    _fill(large, 20)
    for p in (small, large):
        factories.BaselineFactory(patient=p)
        factories.HsctFactory(patient=p)
        factories.FollowUpFactory(patient=p)
    client = signed_in(coordinator)
    _queries(client, f"/patients/{small.study_id}/")  # warm the session
    assert _queries(client, f"/patients/{small.study_id}/") == _queries(client, f"/patients/{large.study_id}/")


def test_the_patient_list_runs_a_fixed_number_of_queries(monitor, center, other_center):
    client = signed_in(monitor)
    for _ in range(2):
        factories.PatientFactory(center=center)
    _queries(client, "/patients/")
    few, few_home = _queries(client, "/patients/"), _queries(client, "/")
    for _ in range(18):
        factories.PatientFactory(center=other_center)
    assert _queries(client, "/patients/") == few
    assert _queries(client, "/") == few_home


# -- missing-data codes, Yes/No/Unknown, every error at once, the CTCAE picker -------------

def test_a_question_is_answered_by_a_missing_data_code_and_shown_as_it(coordinator, patient):
    client = signed_in(coordinator)
    data = {**FORMS["baseline"][1], "cd22_expression_pct": "", "cd22_expression_pct_missing": "UNK", "ecog": "",
            "ecog_missing": "ND", "cns_disease": "UNK"}
    response = client.post(form_url(patient, "baseline"), data)
    assert response.status_code == 302, response.context["form"].errors
    baseline = BaselineDisease.objects.get(patient=patient)
    assert (baseline.cd22_expression_pct, baseline.ecog, baseline.cns_disease) == (None, None, None)
    assert baseline.missing_codes == {"cd22_expression_pct": "UNK", "ecog": "ND", "cns_disease": "UNK"}
    page = client.get(form_url(patient, "baseline")).content.decode()
    assert '<option value="UNK" selected>' in page and '<option value="ND" selected>' in page
    assert 'name="cns_disease" value="UNK"' in page and 'value="UNK" required id="id_cns_disease_2" checked' in page
    casebook_page = client.get(f"/patients/{patient.study_id}/").content.decode()
    assert 'title="Unknown (not in the source)">UNK</abbr>' in casebook_page
    assert 'title="Not done">ND</abbr>' in casebook_page


def test_a_new_form_presumes_no_yes_no_answer(coordinator, patient):
    page = signed_in(coordinator).get(form_url(patient, "baseline")).content.decode()
    for question in ("extramedullary_disease", "cns_disease", "prior_allo_hsct"):
        assert f'name="{question}" value="UNK"' in page
    assert " checked" not in page


def test_a_value_and_a_code_together_and_no_answer_at_all_are_refused_on_the_field(coordinator, patient):
    client = signed_in(coordinator)
    data = {**FORMS["baseline"][1], "cd22_expression_pct_missing": "UNK", "ecog": "", "cns_disease": ""}
    errors = client.post(form_url(patient, "baseline"), data).context["form"].errors
    assert errors["cd22_expression_pct"] == ["Give a value or a missing-data code, not both."]
    assert errors["ecog"] == ["This field is required."]
    assert errors["cns_disease"] == ["This field is required."]
    assert not BaselineDisease.objects.exists()


def test_every_error_of_a_form_comes_in_one_submit(coordinator, patient):
    data = {**FORMS["baseline"][1], "cd22_expression_pct": "8,5x", "ecog": "7", "diagnosis_date": "2017-04-01"}
    response = signed_in(coordinator).post(form_url(patient, "baseline"), data)
    errors = response.context["form"].errors
    assert errors["cd22_expression_pct"] == ["Enter a number."]
    assert "less than or equal to 4" in errors["ecog"][0]
    assert "C1D1" in errors["diagnosis_date"][0] or "cycle 1" in errors["diagnosis_date"][0], errors
    assert not BaselineDisease.objects.exists()


def test_an_adverse_event_takes_its_term_as_a_meddra_code_and_a_grade_it_has(coordinator, patient):
    client = signed_in(coordinator)
    data = {**FORMS["adverse-events"][1], "ctcae_term": "10016288", "grade": "1"}
    errors = client.post(form_url(patient, "adverse-events"), data).context["form"].errors
    assert errors["grade"] == ["Febrile neutropenia has no grade 1 in CTCAE v5.0: its grades are 3, 4, 5."]
    data = {**data, "ctcae_term": "10022891", "grade": "2", "other_specify": ""}
    errors = client.post(form_url(patient, "adverse-events"), data).context["form"].errors
    assert "specified term" in errors["other_specify"][0]
    data["other_specify"] = "Ferritin increased"
    assert client.post(form_url(patient, "adverse-events"), data).status_code == 302
    event = AdverseEvent.objects.get(patient=patient)
    assert (event.ctcae_term_id, event.other_specify) == ("10022891", "Ferritin increased")
    page = client.get(reverse("casebook:row", args=[patient.study_id, "adverse-events", event.pk])).content.decode()
    assert 'name="ctcae_term" value="10022891"' in page and 'value="Investigations - Other, specify"' in page
    assert "Investigations · MedDRA 10022891" in page
    casebook_page = client.get(f"/patients/{patient.study_id}/").content.decode()
    assert "Investigations - Other, specify: Ferritin increased" in casebook_page


def test_the_grade_choices_say_what_each_grade_is_for_the_term(coordinator, patient):
    event = factories.AdverseEventFactory(patient=patient, ctcae_term_id="10016288")
    page = signed_in(coordinator).get(reverse("casebook:row", args=[patient.study_id, "adverse-events", event.pk]))
    html = page.content.decode()
    assert html.count("grade-desc grade-na") == 2  # Febrile neutropenia has no grade 1 or 2
    assert "ANC &lt;1000/mm3" in html


def test_the_ctcae_search_answers_signed_in_users(client, coordinator):
    url = reverse("outcomes:ctcae-search")
    assert client.get(url, {"q": "febr"}).status_code == 302
    terms = signed_in(coordinator).get(url, {"q": "febr"}).json()["terms"]
    assert terms[0]["term"] == "Febrile neutropenia" and terms[0]["code"] == "10016288"
    assert terms[0]["soc"] == "Blood and lymphatic system disorders" and terms[0]["grades"]["1"] == "-"
    assert signed_in(coordinator).get(url, {"q": ""}).json() == {"terms": []}


def test_every_error_of_the_enrollment_form_comes_in_one_submit(coordinator, patient):
    data = enrollment_data(patient.center, date_of_birth="15/06/19x4", c1d1_date="2013-02-01", version="1")
    errors = signed_in(coordinator).post(form_url(patient, "enrollment"), data).context["form"].errors
    assert errors["date_of_birth"] == ["Enter a valid date."]
    assert "study window" in errors["c1d1_date"][0]


def test_a_term_typed_in_full_is_taken_without_the_picker(coordinator, patient):
    client = signed_in(coordinator)
    data = {**FORMS["adverse-events"][1], "ctcae_term": "", "ctcae_term_text": "febrile NEUTROPENIA"}
    assert client.post(form_url(patient, "adverse-events"), data).status_code == 302
    assert AdverseEvent.objects.get(patient=patient).ctcae_term_id == "10016288"
    data["ctcae_term_text"] = "fever of some kind"
    response = client.post(form_url(patient, "adverse-events"), data)
    assert response.context["form"].errors["ctcae_term"]
    assert 'value="fever of some kind"' in response.content.decode()


def test_an_empty_repeating_form_can_be_marked_complete_and_an_empty_single_form_cannot(coordinator, patient):
    client = signed_in(coordinator)
    page = client.get(reverse("casebook:detail", args=[patient.study_id])).content.decode()
    for key in ("adverse_events", "vod_sos"):  # "no adverse event", "no VOD/SOS"
        assert reverse("casebook:status", args=[patient.study_id, key]) in page
    for key in ("baseline", "follow_up"):  # nothing to say complete yet
        assert reverse("casebook:status", args=[patient.study_id, key]) not in page
    response = client.post(reverse("casebook:status", args=[patient.study_id, "adverse_events"]), {"status": "complete"})
    assert response.status_code == 302
    assert FormState.objects.get(patient=patient, form="adverse_events").status == "complete"


# -- flow: save and next, save and add another, nothing changed --------------------------

def _as_the_page_sends_it(response) -> dict:
    """What the browser posts back when the user changes nothing on the form the page shows."""
    data = {}
    for field in response.context["form"]:
        shown = field.field.widget.format_value(field.value())
        if isinstance(shown, list):
            shown = shown[0] if shown else ""
        data[field.name] = "" if shown is None else shown
    return data


def test_save_and_next_form_goes_to_the_next_form_in_casebook_order(coordinator, patient):
    client = signed_in(coordinator)
    page = client.get(form_url(patient, "baseline")).content.decode()
    assert "Save and next form" in page and "Next form: Prior therapy lines" in page
    assert "Save and add another" not in page  # baseline is one row per patient
    response = client.post(form_url(patient, "baseline"), {**FORMS["baseline"][1], "then": "next"})
    # Prior lines has no row yet: its first row's form.
    assert response["Location"] == reverse("casebook:row-new", args=[patient.study_id, "prior-lines"])
    response = client.post(form_url(patient, "prior-lines"), {**FORMS["prior-lines"][1], "then": "next"})
    assert response["Location"] == reverse("casebook:row-new", args=[patient.study_id, "io-cycles"])
    # IO cycles has a row now: its table on the casebook page, where rows are edited or added.
    response = client.post(form_url(patient, "io-cycles"), {**FORMS["io-cycles"][1], "then": "another"})
    assert response["Location"] == reverse("casebook:row-new", args=[patient.study_id, "io-cycles"])
    response = client.post(form_url(patient, "end-of-treatment"), {**FORMS["end-of-treatment"][1], "then": "next"})
    assert response["Location"] == reverse("casebook:row-new", args=[patient.study_id, "responses"])


def test_save_and_next_skips_locked_forms_and_the_last_form_has_none(coordinator, monitor, patient):
    from patients.workflow import form_lock, form_verify

    factories.HsctFactory(patient=patient)
    form_status_set(user=coordinator, patient=patient, form="hsct", status="complete")
    form_verify(user=monitor, patient=patient, form="hsct")
    form_lock(user=monitor, patient=patient, form="hsct")
    client = signed_in(coordinator)
    response = client.post(form_url(patient, "responses"), {**FORMS["responses"][1], "then": "next"})
    assert response["Location"] == reverse("casebook:row-new", args=[patient.study_id, "adverse-events"])
    page = client.get(form_url(patient, "follow-up")).content.decode()
    assert "Save and next form" not in page


def test_a_save_with_no_change_asks_no_reason_and_writes_no_history(coordinator, patient):
    baseline = factories.BaselineFactory(patient=patient)
    client = signed_in(coordinator)
    form_status_set(user=coordinator, patient=patient, form="baseline", status="complete")
    history = baseline.history.count()
    page = client.get(form_url(patient, "baseline"))
    response = client.post(form_url(patient, "baseline"), _as_the_page_sends_it(page), follow=True)
    assert response.redirect_chain[-1][0] == f"/patients/{patient.study_id}/#form-baseline"
    assert "Baseline disease: nothing changed, nothing saved." in response.content.decode()
    baseline.refresh_from_db()
    assert (baseline.version, baseline.history.count()) == (1, history)
    assert FormState.objects.get(patient=patient, form="baseline").status == "complete"
    # A change still asks for its reason.
    response = client.post(form_url(patient, "baseline"), {**_as_the_page_sends_it(page), "ecog": "3"})
    assert response.context["form"].errors["change_reason"]


def test_a_repeating_row_saved_unchanged_with_save_and_add_another_opens_a_new_row(coordinator, patient):
    cycle = factories.IOCycleFactory(patient=patient)
    client = signed_in(coordinator)
    url = reverse("casebook:row", args=[patient.study_id, "io-cycles", cycle.pk])
    page = client.get(url)
    assert "Save and add another" in page.content.decode()
    response = client.post(url, {**_as_the_page_sends_it(page), "then": "another"})
    assert response["Location"] == reverse("casebook:row-new", args=[patient.study_id, "io-cycles"])
    cycle.refresh_from_db()
    assert cycle.version == 1


def test_a_verified_form_offers_no_reopen_and_a_locked_one_no_site_action(coordinator, monitor, patient):
    from patients.workflow import form_lock, form_verify

    factories.BaselineFactory(patient=patient)
    form_status_set(user=coordinator, patient=patient, form="baseline", status="complete")
    client = signed_in(coordinator)
    page = client.get(f"/patients/{patient.study_id}/").content.decode()
    assert 'id="reopen-reason-baseline"' in page
    form_verify(user=monitor, patient=patient, form="baseline")
    page = client.get(f"/patients/{patient.study_id}/").content.decode()
    assert 'id="reopen-reason-baseline"' not in page
    form_lock(user=monitor, patient=patient, form="baseline")
    page = client.get(f"/patients/{patient.study_id}/").content.decode()
    assert 'id="reopen-reason-baseline"' not in page
    assert reverse("casebook:form", args=[patient.study_id, "baseline"]) not in page
