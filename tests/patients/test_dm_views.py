"""Data-management pages (issue 6) through the test client: roles, centers, and what the
pages write, read back from the database."""

import csv
import datetime as dt
import io

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

from outcomes.models import FollowUp
from patients.data_management import form_lock, form_verify, query_answer, query_raise
from patients.models import CasebookSignature, DataCheckRun, DataQuery, FormKey, FormState, FormStatus, QueryState
from tests.patients.casebooks import full_casebook

PASSWORD = "pw-for-tests"


@pytest.fixture
def casebook(center):
    return full_casebook(center)


@pytest.fixture
def other_casebook(other_center):
    return full_casebook(other_center)


def logged_in(client, user):
    client.force_login(user)
    return client


def url(name, *args):
    return reverse(f"data_management:{name}", args=args)


def state_of(patient, form):
    return FormState.objects.get(patient=patient, form=form).status


def test_a_coordinator_sees_only_their_centers_queries_and_404_for_others(client, coordinator, monitor, casebook,
                                                                          other_casebook):
    mine, _ = query_raise(user=monitor, patient=casebook, form=FormKey.BASELINE, question="Mine?")
    theirs, _ = query_raise(user=monitor, patient=other_casebook, form=FormKey.BASELINE, question="Theirs?")
    logged_in(client, coordinator)
    page = client.get(url("query-list")).content.decode()
    assert "Mine?" in page and "Theirs?" not in page and other_casebook.study_id not in page
    assert client.get(url("query-detail", mine.pk)).status_code == 200
    assert client.get(url("query-detail", theirs.pk)).status_code == 404
    assert client.post(url("query-detail", theirs.pk), {"action": "answer", "text": "x"}).status_code == 404
    assert client.get(url("sign", other_casebook.study_id)).status_code == 404
    assert client.get(url("query-raise", casebook.study_id)).status_code == 403
    assert DataQuery.objects.get(pk=theirs.pk).state == QueryState.OPEN


def test_the_monitors_list_filters_by_center_state_and_age(client, monitor, coordinator, casebook, other_casebook):
    first, _ = query_raise(user=monitor, patient=casebook, form=FormKey.BASELINE, question="First RM01")
    query_raise(user=monitor, patient=other_casebook, form=FormKey.BASELINE, question="First MI02")
    query_answer(user=coordinator, query=first, text="ok")
    logged_in(client, monitor)
    assert "First MI02" not in client.get(url("query-list"), {"center": "RM01"}).content.decode()
    page = client.get(url("query-list"), {"state": "answered"}).content.decode()
    assert "First RM01" in page and "First MI02" not in page
    assert "No query matches" in client.get(url("query-list"), {"age": "30"}).content.decode()


def test_query_thread_through_the_pages(client, monitor, coordinator, casebook):
    follow_up = FollowUp.objects.get(patient=casebook)
    logged_in(client, monitor)
    raise_url = url("query-raise", casebook.study_id)
    from django.contrib.contenttypes.models import ContentType

    row = f"{ContentType.objects.get_for_model(FollowUp).pk}-{follow_up.pk}"
    response = client.post(raise_url, {"form": "follow_up", "row": row, "field_name": "no_such", "question": "?"})
    assert response.status_code == 200 and not DataQuery.objects.exists()
    response = client.post(raise_url, {"form": "follow_up", "row": row, "field_name": "last_contact_date",
                                       "question": "Is the last contact 2020-02-01?"})
    assert response.status_code == 302
    query = DataQuery.objects.get()
    assert (query.field_name, query.row_id, query.raised_by) == ("last_contact_date", follow_up.pk, monitor)

    logged_in(client, coordinator)
    detail = url("query-detail", query.pk)
    assert "2020-01-15" in client.get(detail).content.decode()  # the value now
    assert client.post(detail, {"action": "close", "text": ""}).status_code == 200  # error shown, not closed
    assert DataQuery.objects.get().state == QueryState.OPEN
    client.post(detail, {"action": "answer", "text": "Yes, corrected"})
    assert DataQuery.objects.get().state == QueryState.ANSWERED

    logged_in(client, monitor)
    client.post(detail, {"action": "close", "text": "Thanks"})
    assert DataQuery.objects.get().state == QueryState.CLOSED
    page = client.post(detail, {"action": "reopen", "text": ""}).content.decode()
    assert "Say why" in page and DataQuery.objects.get().state == QueryState.CLOSED
    client.post(detail, {"action": "reopen", "text": "Still 2020-01-15"})
    assert DataQuery.objects.get().state == QueryState.OPEN
    assert client.post(detail, {"action": "delete"}).status_code == 400
    assert DataQuery.objects.count() == 1


def test_no_page_lets_a_coordinator_verify_lock_unlock_or_reopen_a_locked_form(client, coordinator, monitor, casebook):
    form_verify(user=monitor, patient=casebook, form=FormKey.BASELINE)
    form_lock(user=monitor, patient=casebook, form=FormKey.BASELINE)
    logged_in(client, coordinator)
    for action in ("verify", "lock", "unlock"):
        response = client.post(url("form-transition", casebook.study_id, "baseline", action), {"reason": "please"})
        assert response.status_code == 403
    # The casebook's own status form (issue 3) goes through form_status_set, which refuses too.
    for status in FormStatus.values:
        client.post(reverse("casebook:status", args=[casebook.study_id, "baseline"]), {"status": status})
    assert state_of(casebook, FormKey.BASELINE) == FormStatus.LOCKED


def test_monitors_verify_lock_and_unlock_with_a_reason_from_the_pages(client, monitor, casebook):
    logged_in(client, monitor)
    transition = lambda action, **data: client.post(url("form-transition", casebook.study_id, "hsct", action), data)  # noqa: E731
    assert transition("lock").status_code == 302 and state_of(casebook, FormKey.HSCT) == FormStatus.COMPLETE
    transition("verify")
    transition("lock")
    assert state_of(casebook, FormKey.HSCT) == FormStatus.LOCKED
    transition("unlock", reason="")
    assert state_of(casebook, FormKey.HSCT) == FormStatus.LOCKED
    transition("unlock", reason="Donor type corrected in the chart")
    assert state_of(casebook, FormKey.HSCT) == FormStatus.VERIFIED
    assert client.get(url("form-transition", casebook.study_id, "hsct", "verify")).status_code == 405
    assert client.post(url("form-transition", casebook.study_id, "nonsense", "verify")).status_code == 404


def test_sign_off_page_wrong_password_refused_right_one_recorded_and_shown(client, investigator, coordinator, casebook):
    page = url("sign", casebook.study_id)
    logged_in(client, coordinator)
    assert client.post(page, {"password": PASSWORD}).status_code == 403
    logged_in(client, investigator)
    body = client.get(page).content.decode()
    assert "complete and accurate" in body and 'type="password"' in body
    response = client.post(page, {"password": "not-it"})
    assert response.status_code == 200 and "The password is not correct." in response.content.decode()
    assert not CasebookSignature.objects.exists()
    response = client.post(page, {"password": PASSWORD}, follow=True)
    signature = CasebookSignature.objects.get()
    assert signature.signer == investigator
    body = response.content.decode()
    assert "Signed by inv-rm01 on" in body and signature.signed_at.astimezone().strftime("%Y-%m-%d") in body


def test_run_checks_from_the_page(client, monitor, coordinator, casebook, django_capture_on_commit_callbacks):
    FollowUp.objects.filter(patient=casebook).update(vital_status="dead", death_date=dt.date(2020, 1, 15))
    logged_in(client, coordinator)
    assert client.post(url("checks"), {}).status_code == 403
    logged_in(client, monitor)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url("checks"), {"center": "RM01", "cutoff": "2020-06-30"}).status_code == 302
    run = DataCheckRun.objects.get()
    assert (run.status, run.cutoff, run.center.code) == ("done", dt.date(2020, 6, 30), "RM01")
    assert DataQuery.objects.filter(patient=casebook, field_name="death_cause").exists()
    assert "RM01" in client.get(url("checks")).content.decode()


def test_dashboard_page_and_csv_show_the_database_counts(client, monitor, coordinator, casebook, other_casebook):
    form_verify(user=monitor, patient=other_casebook, form=FormKey.BASELINE)
    query_raise(user=monitor, patient=casebook, form=FormKey.BASELINE, question="?")
    logged_in(client, coordinator)
    assert client.get(url("dashboard")).status_code == 403
    assert client.get(url("dashboard-csv")).status_code == 403
    logged_in(client, monitor)
    page = client.get(url("dashboard")).content.decode()
    assert "<svg" in page and "<rect" in page and "https://" not in page.split("<svg", 1)[1].split("</svg>")[0].replace(
        "http://www.w3.org/2000/svg", "")
    rows = list(csv.DictReader(io.StringIO(client.get(url("dashboard-csv")).content.decode())))
    by_center = {row["center"]: row for row in rows}
    for code in ("RM01", "MI02"):
        states = FormState.objects.filter(patient__center__code=code)
        assert int(by_center[code]["forms complete"]) == states.filter(status="complete").count()
        assert int(by_center[code]["forms verified"]) == states.filter(status="verified").count()
        assert int(by_center[code]["open queries"]) == DataQuery.objects.filter(
            patient__center__code=code, state="open").count()
    assert (by_center["MI02"]["forms verified"], by_center["RM01"]["open queries"]) == ("1", "1")


def test_audit_trail_csv_for_monitors_streamed_and_filtered(client, monitor, coordinator, casebook, other_casebook):
    follow_up = FollowUp.objects.get(patient=casebook)
    follow_up.last_contact_date = dt.date(2020, 2, 1)
    from patients.services import crf_row_save

    crf_row_save(user=coordinator, row=follow_up, reason="February visit", expected_version=1)
    logged_in(client, coordinator)
    assert client.get(url("audit-csv")).status_code == 403
    logged_in(client, monitor)
    assert client.get(url("audit")).status_code == 200
    response = client.get(url("audit-csv"), {"center": "RM01", "username": coordinator.username})
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["study ID"], row["reason"]) for row in rows] == [(casebook.study_id, "February visit")]
    assert client.get(url("audit-csv"), {"date_from": "2020-02-02", "date_to": "2020-02-01"}).status_code == 400


def test_template_tags_show_open_queries_on_the_field_and_counts(monitor, coordinator, casebook,
                                                                django_assert_max_num_queries):
    follow_up = FollowUp.objects.get(patient=casebook)
    query, _ = query_raise(user=monitor, patient=casebook, form=FormKey.FOLLOW_UP, row=follow_up,
                           field_name="last_contact_date", question="Date?")
    query_raise(user=monitor, patient=casebook, form=FormKey.FOLLOW_UP, question="Whole form?")
    request = RequestFactory().get("/")
    request.user = coordinator
    template = Template(
        "{% load data_management %}"
        "[{% open_queries_for_field patient 'follow_up' 'last_contact_date' row=row %}]"
        "[{% open_queries_for_field patient 'follow_up' 'death_date' row=row %}]"
        "{% form_query_count patient 'follow_up' as n %}[{{ n }}]"
        "[{% raise_query_link patient 'follow_up' 'last_contact_date' row=row %}]"
        "{% open_query_summary %}"
    )
    with django_assert_max_num_queries(6):
        html = template.render(Context({"patient": casebook, "row": follow_up, "request": request, "user": coordinator})).replace("\n", "")
    assert f"Q{query.pk} · Open" in html
    assert "[]" in html  # no query on the death date, and no raise link for a coordinator
    assert "[2]" in html
    assert "2 open queries to answer" in html
    request.user = monitor
    html = template.render(Context({"patient": casebook, "row": follow_up, "request": request, "user": monitor}))
    assert "raise-query" in html and "field_name=last_contact_date" in html
