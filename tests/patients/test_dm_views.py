"""Data-management pages through the test client: roles, centers, and what the
pages write, read back from the database."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from outcomes.models import FollowUp
from patients.models import CasebookSignature, DataCheckRun, DataQuery, FormState, FormStatus, QueryState
from patients.queries import query_answer, query_close, query_raise
from patients.signatures import casebook_sign
from patients.workflow import form_lock, form_verify
from tests import factories
from tests.patients.casebooks import full_casebook, state_of
from treatments.models import IOCycle

PASSWORD = "pw-for-tests"


def logged_in(client, user):
    client.force_login(user)
    return client


def url(name, *args):
    return reverse(f"data_management:{name}", args=args)


def test_a_coordinator_sees_only_their_centers_queries_and_404_for_others(client, coordinator, monitor, casebook,
                                                                          other_casebook):
    mine, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="Mine?")
    theirs, _ = query_raise(user=monitor, patient=other_casebook, form="baseline", question="Theirs?")
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
    first, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="First RM01")
    query_raise(user=monitor, patient=other_casebook, form="baseline", question="First MI02")
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
    form_verify(user=monitor, patient=casebook, form="baseline")
    form_lock(user=monitor, patient=casebook, form="baseline")
    logged_in(client, coordinator)
    for action in ("verify", "lock", "unlock"):
        response = client.post(url("form-transition", casebook.study_id, "baseline", action), {"reason": "please"})
        assert response.status_code == 403
    # The casebook's own status form goes through form_status_set, which refuses too.
    for status in FormStatus.values:
        client.post(reverse("casebook:status", args=[casebook.study_id, "baseline"]), {"status": status})
    assert state_of(casebook, "baseline") == FormStatus.LOCKED


def test_monitors_verify_lock_and_unlock_with_a_reason_from_the_pages(client, monitor, casebook):
    logged_in(client, monitor)
    transition = lambda action, **data: client.post(url("form-transition", casebook.study_id, "hsct", action), data)  # noqa: E731
    assert transition("lock").status_code == 302 and state_of(casebook, "hsct") == FormStatus.COMPLETE
    transition("verify")
    transition("lock")
    assert state_of(casebook, "hsct") == FormStatus.LOCKED
    transition("unlock", reason="")
    assert state_of(casebook, "hsct") == FormStatus.LOCKED
    transition("unlock", reason="Donor type corrected in the chart")
    assert state_of(casebook, "hsct") == FormStatus.VERIFIED
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
    assert "Signed by inv-rm01 (Site investigator) on" in body and signature.signed_at.astimezone().strftime("%Y-%m-%d") in body


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
    form_verify(user=monitor, patient=other_casebook, form="baseline")
    query_raise(user=monitor, patient=casebook, form="baseline", question="?")
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
    query, _ = query_raise(user=monitor, patient=casebook, form="follow_up", row=follow_up,
                           field_name="last_contact_date", question="Date?")
    query_raise(user=monitor, patient=casebook, form="follow_up", question="Whole form?")
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


# -- The data-management features on the pages people use: casebook, row form, home, navigation --


def _between(html: str, start: str, end: str) -> str:
    """The part of the page from the first `start` to the next `end` (one section, one answer)."""
    begin = html.index(start)
    return html[begin:html.index(end, begin)]


def section_of(html: str, form: str) -> str:
    return _between(html, f'id="form-{form}"', "</section>")


def casebook_page(client, patient) -> str:
    response = client.get(reverse("casebook:detail", args=[patient.study_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_casebook_shows_each_open_query_on_its_field_and_counts_them_per_form(client, monitor, coordinator,
                                                                                  casebook):
    follow_up = FollowUp.objects.get(patient=casebook)
    cycle_2 = IOCycle.objects.get(patient=casebook, cycle_number=2)
    on_field, _ = query_raise(user=monitor, patient=casebook, form="follow_up", row=follow_up,
                              field_name="last_contact_date", question="Is it 2020-02-01?")
    on_cycle, _ = query_raise(user=monitor, patient=casebook, form="io_cycles", row=cycle_2,
                              field_name="dose_day1", question="Dose of day 1 of cycle 2?")
    whole_form, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="Whole baseline?")
    answered, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="ECOG?")
    query_answer(user=coordinator, query=answered, text="ECOG 1 per chart")
    closed, _ = query_raise(user=monitor, patient=casebook, form="hsct", question="Closed one")
    query_answer(user=coordinator, query=closed, text="ok")
    query_close(user=monitor, query=closed)

    page = casebook_page(logged_in(client, coordinator), casebook)
    last_contact = _between(section_of(page, "follow_up"), 'data-field="last_contact_date"', "</dd>")
    assert f"Q{on_field.pk} · Open" in last_contact and "Is it 2020-02-01?" in last_contact
    assert f"Q{on_field.pk} · " not in _between(section_of(page, "follow_up"), 'data-field="vital_status"', "</dd>")
    cycles = section_of(page, "io_cycles")
    assert f"Q{on_cycle.pk} · Open" in cycles and 'data-testid="query-count-io_cycles">1 open query<' in cycles
    baseline = section_of(page, "baseline")
    assert 'data-testid="query-count-baseline">2 open queries<' in baseline  # open and answered: unresolved
    assert f"Q{whole_form.pk} · Open" in baseline and f"Q{answered.pk} · Answered" in baseline
    assert "query-count-hsct" not in page and f"Q{closed.pk} · " not in page  # (a bare "Q5" may be in a CSRF token)
    assert "query-count-prior_lines" not in page


def test_a_queried_question_left_empty_still_shows_on_the_casebook(client, monitor, coordinator, casebook):
    follow_up = FollowUp.objects.get(patient=casebook)
    query, _ = query_raise(user=monitor, patient=casebook, form="follow_up", row=follow_up,
                           field_name="death_date", question="Is the patient alive?")
    page = casebook_page(logged_in(client, coordinator), casebook)
    assert f"Q{query.pk} · Open" in _between(section_of(page, "follow_up"), 'data-field="death_date"', "</dd>")


def test_monitors_get_verify_lock_unlock_and_raise_controls_on_the_casebook_coordinators_none(
    client, monitor, coordinator, investigator, casebook
):
    form_verify(user=monitor, patient=casebook, form="baseline")
    form_verify(user=monitor, patient=casebook, form="hsct")
    form_lock(user=monitor, patient=casebook, form="hsct")
    page = casebook_page(logged_in(client, monitor), casebook)
    follow_up = section_of(page, "follow_up")
    assert 'data-testid="verify-follow_up"' in follow_up and 'data-testid="lock-follow_up"' not in follow_up
    assert 'data-testid="lock-baseline"' in section_of(page, "baseline")
    hsct = section_of(page, "hsct")
    assert 'data-testid="unlock-hsct"' in hsct and 'name="reason"' in hsct and "verify-hsct" not in hsct
    assert 'data-testid="raise-query-follow_up-last_contact_date"' in follow_up
    assert "field_name=last_contact_date" in follow_up
    assert 'data-testid="raise-query-io_cycles-"' in section_of(page, "io_cycles")  # per row and per form
    assert "Sign the casebook" not in page and "Not signed" in page

    # An open query holds the verification back: the button says so instead of failing.
    query_raise(user=monitor, patient=casebook, form="follow_up", question="?")
    follow_up = section_of(casebook_page(client, casebook), "follow_up")
    assert 'data-testid="verify-follow_up"' not in follow_up and "verify-follow_up-blocked" in follow_up

    for user in (coordinator, investigator):
        page = casebook_page(logged_in(client, user), casebook)
        for control in ("verify-", "lock-", "unlock-", "raise-query", "form-transition"):
            assert control not in page, (user, control)
    assert "Sign the casebook" in page  # the investigator's link to sign


def test_a_locked_form_shows_no_edit_add_or_delete_control_and_its_urls_refuse(client, monitor, coordinator,
                                                                               casebook):
    for form in ("io_cycles", "follow_up"):
        form_verify(user=monitor, patient=casebook, form=form)
        form_lock(user=monitor, patient=casebook, form=form)
    logged_in(client, coordinator)
    page = casebook_page(client, casebook)
    study_id = casebook.study_id
    cycle = IOCycle.objects.filter(patient=casebook).first()
    urls = {
        "edit": reverse("casebook:row", args=[study_id, "io-cycles", cycle.pk]),
        "delete": reverse("casebook:row-delete", args=[study_id, "io-cycles", cycle.pk]),
        "add": reverse("casebook:row-new", args=[study_id, "io-cycles"]),
        "single": reverse("casebook:form", args=[study_id, "end-of-treatment"]),
        "follow-up": reverse("casebook:form", args=[study_id, "follow-up"]),
        "status": reverse("casebook:status", args=[study_id, "io_cycles"]),
    }
    for section in ("io_cycles", "follow_up"):
        html = section_of(page, section)
        assert "This form is locked" in html
        assert "<button" not in html and "btn-danger" not in html and ">Edit<" not in html
        assert "Add a cycle" not in html and "Edit · " not in html and "Mark complete" not in html
    for url in urls.values():
        assert url not in page
    # The unlocked forms keep theirs.
    assert reverse("casebook:row-new", args=[study_id, "prior-lines"]) in page
    assert "Edit · Baseline disease" in section_of(page, "baseline")

    versions = {row.pk: row.version for row in IOCycle.objects.filter(patient=casebook)}
    for name in ("edit", "delete", "add", "single", "follow-up"):
        response = client.get(urls[name], follow=True)
        assert response.redirect_chain and "This form is locked: a monitor must unlock it first." in response.content.decode()
    response = client.post(urls["delete"], {"version": cycle.version, "reason": "duplicate"}, follow=True)
    assert "This form is locked" in response.content.decode()
    response = client.post(urls["edit"], {"cycle_number": "2", "start_date": "2017-03-01", "dose_day1": "0.8",
                                          "dose_day8": "0.5", "dose_day15": "0.5", "version": cycle.version,
                                          "change_reason": "late"}, follow=True)
    assert "This form is locked" in response.content.decode()
    assert {row.pk: row.version for row in IOCycle.objects.filter(patient=casebook)} == versions
    assert not IOCycle.objects.filter(patient=casebook, is_deleted=True).exists()


def test_the_row_form_shows_the_open_query_on_the_field_being_corrected(client, monitor, coordinator, casebook):
    cycle_2 = IOCycle.objects.get(patient=casebook, cycle_number=2)
    cycle_1 = IOCycle.objects.get(patient=casebook, cycle_number=1)
    query, _ = query_raise(user=monitor, patient=casebook, form="io_cycles", row=cycle_2,
                           field_name="dose_day1", question="Was day 1 really 0.5?")
    logged_in(client, coordinator)
    page = client.get(reverse("casebook:row", args=[casebook.study_id, "io-cycles", cycle_2.pk])).content.decode()
    dose = _between(page, 'for="id_dose_day1"', 'for="id_dose_day8"')
    assert f"Q{query.pk} · Open" in dose and "Was day 1 really 0.5?" in dose
    other_row = client.get(reverse("casebook:row", args=[casebook.study_id, "io-cycles", cycle_1.pk])).content.decode()
    assert f"Q{query.pk} · " not in other_row


def test_a_change_after_signing_says_the_signature_is_void(client, investigator, coordinator, casebook):
    casebook_sign(user=investigator, patient=casebook, password=PASSWORD)
    logged_in(client, coordinator)
    response = client.post(
        reverse("casebook:form", args=[casebook.study_id, "follow-up"]),
        {"relapsed": "False", "vital_status": "alive", "last_contact_date": "2020-03-01", "version": "1",
         "change_reason": "Visit of March"},
        follow=True,
    )
    page = response.content.decode()
    assert "The investigator&#x27;s signature of this casebook is void" in page
    assert "Not signed" in page and "Data changed after signing: Visit of March" in page


def test_the_query_page_names_the_form_and_the_row(client, monitor, casebook):
    cycle_2 = IOCycle.objects.get(patient=casebook, cycle_number=2)
    follow_up = FollowUp.objects.get(patient=casebook)
    on_cycle, _ = query_raise(user=monitor, patient=casebook, form="io_cycles", row=cycle_2,
                              field_name="dose_day1", question="?")
    on_follow_up, _ = query_raise(user=monitor, patient=casebook, form="follow_up", row=follow_up,
                                  field_name="last_contact_date", question="?")
    logged_in(client, monitor)
    page = client.get(url("query-detail", on_cycle.pk)).content.decode()
    assert 'data-testid="query-row">IO cycles · IO cycle 2<' in page
    page = client.get(url("query-detail", on_follow_up.pk)).content.decode()
    assert 'data-testid="query-row">Follow-up &amp; outcome<' in page and "follow-up</dd>" not in page
    raise_page = client.get(url("query-raise", casebook.study_id), {"form": "io_cycles"}).content.decode()
    assert "IO cycles · IO cycle 2" in raise_page and "Response assessments · " not in raise_page
    raise_page = client.get(url("query-raise", casebook.study_id), {"form": "responses"}).content.decode()
    assert "Response assessments · Response assessment 2017-" in raise_page and "IO cycles · " not in raise_page


def test_the_home_page_counts_open_queries_overall_and_per_center(client, monitor, coordinator, other_coordinator,
                                                                  statistician, casebook, other_casebook):
    mine, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="1")
    query_raise(user=monitor, patient=casebook, form="hsct", question="2")
    query_raise(user=monitor, patient=other_casebook, form="hsct", question="3")
    query_answer(user=coordinator, query=mine, text="done")

    page = logged_in(client, coordinator).get("/").content.decode()
    assert "1 open query to answer" in page and "(2 unresolved)" in page
    assert 'data-testid="open-queries-RM01"><a href="/data-management/queries/?center=RM01">2</a>' in page
    assert "open-queries-MI02" not in page

    page = logged_in(client, other_coordinator).get("/").content.decode()
    assert "1 open query to answer" in page and 'data-testid="open-queries-MI02"><a' in page

    page = logged_in(client, monitor).get("/").content.decode()
    assert "1 answered query to review" in page and "(3 unresolved)" in page
    assert ">2</a></td>" in _between(page, 'data-testid="open-queries-RM01"', "</tr>")
    assert ">1</a></td>" in _between(page, 'data-testid="open-queries-MI02"', "</tr>")

    page = logged_in(client, statistician).get("/").content.decode()
    assert "query-summary" not in page and "open-queries-" not in page


def test_the_casebook_of_a_monitor_runs_a_fixed_number_of_queries(client, monitor, investigator, center):
    small, large = full_casebook(center), full_casebook(center)
    for n in range(3, 7):
        factories.IOCycleFactory(patient=large, cycle_number=n, start_date=dt.date(2017, 4, 26) + dt.timedelta(days=28 * (n - 3)))
    for patient in (small, large):
        casebook_sign(user=investigator, patient=patient, password=PASSWORD)
    for cycle in IOCycle.objects.filter(patient=large):
        query_raise(user=monitor, patient=large, form="io_cycles", row=cycle, field_name="dose_day1", question="?")
    query_raise(user=monitor, patient=small, form="follow_up", question="?")
    logged_in(client, monitor)

    def count(patient):
        with CaptureQueriesContext(connection) as context:
            casebook_page(client, patient)
        return len(context.captured_queries)

    count(small)  # warm the session and the content types
    assert count(small) == count(large)


def test_the_navigation_links_each_role_to_its_pages(client, monitor, coordinator, statistician, administrator):
    links = {
        "Data management": reverse("data_management:query-list"),
        "Monitoring": reverse("data_management:dashboard"),
        "Reports": reverse("analytics:report-list"),
        "Exports": reverse("exports:page"),
    }
    expected = {
        coordinator: {"Data management"},
        monitor: {"Data management", "Monitoring"},
        statistician: {"Reports", "Exports"},
        administrator: {"Data management", "Monitoring", "Reports", "Exports"},
    }
    for user, shown in expected.items():
        nav = _between(logged_in(client, user).get("/").content.decode(), 'class="mainnav"', "</nav>")
        for name, href in links.items():
            assert (f'href="{href}"' in nav) == (name in shown), (user.username, name)
        for name in shown:  # the pages the links lead to open for the user
            assert client.get(links[name]).status_code == 200, (user.username, name)


def test_the_casebook_and_home_speak_italian_about_queries_and_signatures(client, monitor, coordinator, casebook):
    query_raise(user=monitor, patient=casebook, form="follow_up", question="?")
    logged_in(client, coordinator)
    client.post("/i18n/setlang/", {"language": "it"})
    page = casebook_page(client, casebook)
    assert "Firma dello sperimentatore" in page and "Non firmata" in page and "1 query aperta" in page
    assert "Gestione dati" in page
    assert "1 query aperta a cui rispondere" in client.get("/").content.decode()
    logged_in(client, monitor)
    client.post("/i18n/setlang/", {"language": "it"})
    page = casebook_page(client, casebook)
    assert ">Verifica<" in page and "Apri una query" in page and "Monitoraggio" in page


@pytest.mark.parametrize("outsider_role", ["other_coordinator", "other_investigator"])
def test_every_data_management_route_of_a_casebook_is_404_to_another_centers_staff(
        request, client, monitor, casebook, outsider_role):
    """Walks the routes from the URL patterns, so a new route that takes a casebook or a
    query is covered too: as if the casebook did not exist, and nothing written."""
    from django.urls import get_resolver

    query, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="Source?")
    patterns = get_resolver().resolve("/data-management/queries/").tried[-1][0].url_patterns
    arguments = {"study_id": casebook.study_id, "pk": query.pk, "form": "baseline", "action": "verify"}
    routes = [pattern.name for pattern in patterns if pattern.pattern.converters]
    assert set(routes) == {"query-detail", "query-raise", "form-transition", "sign"}
    logged_in(client, request.getfixturevalue(outsider_role))
    for name in routes:
        names = list(next(p for p in patterns if p.name == name).pattern.converters)
        address = url(name, *[arguments[key] for key in names])
        assert client.get(address).status_code == 404, address
        post = {"action": "answer", "text": "x", "question": "x", "form": "baseline", "password": PASSWORD,
                "reason": "x"}
        assert client.post(address, post).status_code == 404, address
    assert DataQuery.objects.get(pk=query.pk).state == QueryState.OPEN
    assert DataQuery.objects.count() == 1 and not CasebookSignature.objects.exists()


def test_a_check_run_with_the_broker_down_says_so_at_once_and_is_not_left_running(broker_down, client, monitor,
                                                                                   casebook):
    import time

    logged_in(client, monitor)
    started = time.monotonic()
    response = client.post(url("checks"), {"center": "RM01", "cutoff": "2020-06-30"}, follow=True)
    assert time.monotonic() - started < 5
    assert "The job queue is unavailable" in response.content.decode()
    run = DataCheckRun.objects.get()
    assert run.status == "failed" and "job queue is unavailable" in run.error and run.finished_at


# --- Bad input: a 4xx or a safe redirect, never a 500 ----------------------------------------


@pytest.mark.parametrize("target", ["foo", "casebook:detail", "https://evil.example/", "//evil.example/"])
def test_a_next_that_is_not_a_path_of_the_site_falls_back_to_the_casebook(client, monitor, casebook, target):
    logged_in(client, monitor)
    back = reverse("casebook:detail", args=[casebook.study_id])
    for action in ("verify", "lock", "unlock"):
        response = client.post(url("form-transition", casebook.study_id, "baseline", action),
                               {"reason": "please", "next": target})
        assert (response.status_code, response["Location"]) == (302, f"{back}#form-baseline")
    response = client.post(f"{url('query-raise', casebook.study_id)}?next={target}",
                           {"form": "baseline", "question": "Ph status?", "next": target})
    assert (response.status_code, response["Location"]) == (302, f"{back}#form-baseline")
    assert DataQuery.objects.filter(question="Ph status?").exists()


def test_a_study_id_that_no_enrollment_could_make_names_no_page(client, monitor, casebook):
    from django.urls import Resolver404, resolve

    logged_in(client, monitor)
    for path in ("/patients/\x00/", "/data-management/casebooks/\x00/sign/", f"/patients/{casebook.study_id}\x00/"):
        with pytest.raises(Resolver404):
            resolve(path)
    for path in ("/patients/%00/", "/data-management/casebooks/%00/sign/", "/patients/%00/forms/baseline/"):
        assert client.get(path).status_code == 404
    assert client.get(f"/patients/{casebook.study_id}/").status_code == 200


@pytest.mark.parametrize("bounds", [{"date_to": "9999-12-31"}, {"date_from": "0001-01-01"},
                                    {"date_from": "0001-01-01", "date_to": "9999-12-31"}])
def test_the_audit_csv_takes_the_ends_of_the_calendar_as_no_bound(client, monitor, casebook, bounds):
    logged_in(client, monitor)
    everything = b"".join(client.get(url("audit-csv")).streaming_content)
    response = client.get(url("audit-csv"), bounds)
    assert response.status_code == 200 and b"".join(response.streaming_content) == everything


def test_dashboard_progress_counts_every_expected_form_and_says_so(client, monitor, center, casebook):
    from patients.registry import casebook as registry

    for _ in range(3):
        factories.PatientFactory(center=center)  # enrolled, nothing filled in yet
    factories.PatientFactory(center=center, enrollment_status="excluded", exclusion_reason="CD22-negative")
    logged_in(client, monitor)
    page = client.get(url("dashboard")).content.decode()
    expected = 4 * len(registry.forms()) + 1
    started = FormState.objects.filter(patient__center=center).count()
    assert f">{started}/{expected}</text>" in page
    assert "forms started / forms expected" in page
    rows = {row["center"]: row for row in csv.DictReader(io.StringIO(client.get(url("dashboard-csv")).content.decode()))}
    assert (int(rows["RM01"]["forms expected"]), int(rows["RM01"]["forms not started"])) == (expected, expected - started)


def test_sign_off_page_summarises_the_forms_their_status_the_open_queries_and_the_signer(client, investigator,
                                                                                         monitor, casebook):
    from patients.registry import casebook as registry

    investigator.first_name, investigator.last_name = "Anna", "Rossi"
    investigator.save()
    query_raise(user=monitor, patient=casebook, form="hsct", question="Donor type?")
    logged_in(client, investigator)
    response = client.get(url("sign", casebook.study_id))
    body = response.content.decode()
    summary = body.split('data-testid="signoff-summary"', 1)[1].split("</section>", 1)[0]
    assert "Anna Rossi (Site investigator)" in summary
    for form in registry.forms():
        assert f'data-form="{form.key}"' in summary and escape(str(form.label)) in summary
    assert [(form.key, form.unresolved_queries) for form in response.context["summary"] if form.unresolved_queries] == [
        ("hsct", 1)]
    assert "1 query is still open or answered" in summary
    states = dict(FormState.objects.filter(patient=casebook).values_list("form", "status"))
    assert {form.key: form.status for form in response.context["summary"]} == {
        form.key: states.get(form.key, "") for form in registry.forms()}


def test_automatic_check_queries_say_so_and_messages_are_whole(client, monitor, casebook):
    long_question = "Last contact date: " + "the date of last contact is before the end of treatment; " * 3
    automatic, _ = query_raise(user=monitor, patient=casebook, form="follow_up", field_name="last_contact_date",
                               question=long_question, check_key="test-check")
    by_hand, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="ECOG?")
    logged_in(client, monitor)
    listing = client.get(url("query-list")).content.decode()
    row = listing.split(f'data-query="{automatic.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "<td>Automatic checks</td>" in row and long_question.strip() in row
    row = listing.split(f'data-query="{by_hand.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "Automatic checks" not in row and "<td>monitor</td>" in row
    detail = client.get(url("query-detail", automatic.pk)).content.decode()
    raised_by = detail.split('data-testid="raised-by">', 1)[1].split("</dd>", 1)[0]
    assert raised_by.startswith("Automatic checks") and "run by monitor" in raised_by
    assert "Question</strong> · Automatic checks" in detail.split('data-testid="thread"')[1]


def test_italian_query_pages_say_risposta_and_show_local_dates(client, monitor, coordinator, casebook):
    query, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="ECOG?")
    query_answer(user=coordinator, query=query, text="Corretto")
    logged_in(client, coordinator)
    detail = client.get(url("query-detail", query.pk), HTTP_ACCEPT_LANGUAGE="it").content.decode()
    thread = detail.split('data-testid="thread"', 1)[1].split("</ol>", 1)[0]
    assert "<strong>Risposta</strong>" in thread and "Rispondi" not in thread
    assert ">Rispondi</button>" in detail
    raised = query.raised_at.astimezone()
    assert raised.strftime("%d/%m/%Y") in detail and raised.strftime("%Y-%m-%d") not in detail


def test_the_raise_query_lists_hold_the_chosen_forms_rows_and_questions_with_their_values(client, monitor, casebook):
    from django.contrib.contenttypes.models import ContentType

    logged_in(client, monitor)
    page = client.get(url("query-raise", casebook.study_id), {"form": "follow_up"})
    form = page.context["form"]
    follow_up = FollowUp.objects.get(patient=casebook)
    assert [key for key, _label in form.fields["row"].choices] == [
        "", f"{ContentType.objects.get_for_model(FollowUp).pk}-{follow_up.pk}"]
    questions = dict(form.fields["field_name"].choices)
    assert set(questions) == {"", *(f.name for f in FollowUp._meta.concrete_fields if f.editable and f.name not in (
        "id", "version", "is_deleted", "created_at", "updated_at", "patient"))}
    assert questions["last_contact_date"] == "Date of last contact (now: 2020-01-15)"
    # Another form: its own rows (IO cycles and the end of treatment) and questions only.
    page = client.get(url("query-raise", casebook.study_id), {"form": "io_cycles"}, HTTP_HX_REQUEST="true")
    form = page.context["form"]
    places = [label for _key, label in form.fields["row"].choices[1:]]
    assert places and all(label.startswith("IO cycles") for label in places)
    assert "last_contact_date" not in dict(form.fields["field_name"].choices)
    cycle = IOCycle.objects.filter(patient=casebook).order_by("cycle_number").first()
    key = f"{ContentType.objects.get_for_model(IOCycle).pk}-{cycle.pk}"
    page = client.get(url("query-raise", casebook.study_id), {"form": "io_cycles", "row": key})
    labels = dict(page.context["form"].fields["field_name"].choices)
    assert labels["start_date"] == f"IO cycles · Cycle start date (day 1) (now: {cycle.start_date:%Y-%m-%d})"
    assert 'hx-get="/data-management/' in page.content.decode()
