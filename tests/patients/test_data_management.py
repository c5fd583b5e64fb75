"""Data management services and selectors: the form workflow, queries, sign-off,
the monitoring dashboard and the audit trail, against the database."""

import csv
import datetime as dt
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import ProtectedError
from django.http import Http404
from django.utils import timezone

from outcomes.models import FollowUp
from patients.audit import audit_trail_rows
from patients.dashboard import monitoring_dashboard
from patients.models import CasebookSignature, DataQuery, FormState, FormStatus, Patient, QueryState
from patients.queries import (
    open_query_counts,
    query_answer,
    query_close,
    query_get_for_user,
    query_list_for_user,
    query_raise,
    query_reopen,
)
from patients.services import FormLockedError, crf_row_delete, crf_row_save
from patients.signatures import casebook_sign, casebook_signature_get
from patients.workflow import form_lock, form_status_set, form_unlock, form_verify
from sites.roles import Role
from tests import factories
from tests.patients.casebooks import full_casebook, state_of
from treatments.models import IOCycle

PASSWORD = "pw-for-tests"


def verified_and_locked(monitor, patient, form):
    form_verify(user=monitor, patient=patient, form=form)
    return form_lock(user=monitor, patient=patient, form=form)


# --- Form workflow -----------------------------------------------------------------


def test_the_workflow_goes_complete_verified_locked_and_back_with_reasons_in_the_history(monitor, casebook):
    form_verify(user=monitor, patient=casebook, form="follow_up")
    assert state_of(casebook, "follow_up") == FormStatus.VERIFIED
    form_lock(user=monitor, patient=casebook, form="follow_up")
    assert state_of(casebook, "follow_up") == FormStatus.LOCKED
    with pytest.raises(ValidationError) as caught:
        form_unlock(user=monitor, patient=casebook, form="follow_up", reason="  ")
    assert "reason" in caught.value.message_dict
    form_unlock(user=monitor, patient=casebook, form="follow_up", reason="Late lab result")
    assert state_of(casebook, "follow_up") == FormStatus.VERIFIED

    state = FormState.objects.get(patient=casebook, form="follow_up")
    history = list(state.history.order_by("history_date", "history_id"))
    assert [(h.status, h.history_user, h.history_change_reason) for h in history[-3:]] == [
        ("verified", monitor, "Source data verified"),
        ("locked", monitor, "Locked"),
        ("verified", monitor, "Unlocked: Late lab result"),
    ]


def test_only_complete_forms_are_verified_and_only_verified_ones_locked(monitor, casebook):
    FormState.objects.filter(patient=casebook, form="baseline").update(status=FormStatus.IN_PROGRESS)
    with pytest.raises(ValidationError):
        form_verify(user=monitor, patient=casebook, form="baseline")
    with pytest.raises(ValidationError):
        form_lock(user=monitor, patient=casebook, form="follow_up")  # complete, not verified
    with pytest.raises(ValidationError):
        form_unlock(user=monitor, patient=casebook, form="follow_up", reason="why")  # not locked
    assert state_of(casebook, "baseline") == FormStatus.IN_PROGRESS
    assert state_of(casebook, "follow_up") == FormStatus.COMPLETE


@pytest.mark.parametrize("role_user", ["coordinator", "investigator", "statistician", "administrator"])
def test_nobody_but_a_monitor_verifies_locks_or_unlocks(request, monitor, casebook, role_user):
    user = request.getfixturevalue(role_user)
    with pytest.raises(PermissionDenied):
        form_verify(user=user, patient=casebook, form="baseline")
    form_verify(user=monitor, patient=casebook, form="baseline")
    with pytest.raises(PermissionDenied):
        form_lock(user=user, patient=casebook, form="baseline")
    form_lock(user=monitor, patient=casebook, form="baseline")
    with pytest.raises(PermissionDenied):
        form_unlock(user=user, patient=casebook, form="baseline", reason="please")
    assert state_of(casebook, "baseline") == FormStatus.LOCKED


def test_no_service_lets_site_staff_change_a_locked_form(coordinator, investigator, monitor, casebook):
    verified_and_locked(monitor, casebook, "io_cycles")
    verified_and_locked(monitor, casebook, "follow_up")
    cycle = IOCycle.objects.get(patient=casebook, cycle_number=2)
    follow_up = FollowUp.objects.get(patient=casebook)
    for user in (coordinator, investigator):
        cycle.dose_day8 = "0.4"
        with pytest.raises(FormLockedError):
            crf_row_save(user=user, row=cycle, reason="typo", expected_version=1)
        with pytest.raises(FormLockedError):
            crf_row_delete(user=user, row=cycle, reason="duplicate")
        new_cycle = IOCycle(patient=casebook, cycle_number=3, start_date=dt.date(2017, 4, 26), dose_day1="0.5",
                            dose_day8="0.5", dose_day15="0.5")
        with pytest.raises(FormLockedError):
            crf_row_save(user=user, row=new_cycle, reason="missing cycle")
        follow_up.last_contact_date = dt.date(2020, 2, 1)
        with pytest.raises(FormLockedError):
            crf_row_save(user=user, row=follow_up, reason="new visit")
        for status in FormStatus.values:
            with pytest.raises(PermissionDenied):
                form_status_set(user=user, patient=casebook, form="io_cycles", status=status)
    assert IOCycle.objects.filter(patient=casebook, is_deleted=False).count() == 2
    assert str(IOCycle.objects.get(pk=cycle.pk).dose_day8) == "0.50"
    assert FollowUp.objects.get(pk=follow_up.pk).last_contact_date == dt.date(2020, 1, 15)
    assert state_of(casebook, "io_cycles") == FormStatus.LOCKED


def test_a_change_to_a_verified_form_sends_it_back_to_complete_and_says_so(coordinator, monitor, casebook):
    form_verify(user=monitor, patient=casebook, form="follow_up")
    follow_up = FollowUp.objects.get(patient=casebook)
    follow_up.last_contact_date = dt.date(2020, 2, 1)
    saved = crf_row_save(user=coordinator, row=follow_up, reason="Visit of February", expected_version=1)
    assert state_of(casebook, "follow_up") == FormStatus.COMPLETE
    assert any("back to complete" in notice for notice in saved.change_notices)
    # A second change of the (now complete) form says nothing more.
    saved.last_contact_date = dt.date(2020, 2, 2)
    assert crf_row_save(user=coordinator, row=saved, reason="typo", expected_version=2).change_notices == []


def test_site_staff_cannot_undo_a_verification_without_changing_data(coordinator, monitor, casebook):
    form_verify(user=monitor, patient=casebook, form="baseline")
    for status in (FormStatus.IN_PROGRESS, FormStatus.COMPLETE):
        with pytest.raises(PermissionDenied):
            form_status_set(user=coordinator, patient=casebook, form="baseline", status=status)
    assert state_of(casebook, "baseline") == FormStatus.VERIFIED


def test_forms_with_unresolved_queries_are_not_verified_or_locked(coordinator, monitor, casebook):
    query, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="ECOG?")
    with pytest.raises(ValidationError, match="not closed"):
        form_verify(user=monitor, patient=casebook, form="baseline")
    query_answer(user=coordinator, query=query, text="ECOG 1 confirmed")
    with pytest.raises(ValidationError, match="not closed"):
        form_verify(user=monitor, patient=casebook, form="baseline")
    query_close(user=monitor, query=query)
    form_verify(user=monitor, patient=casebook, form="baseline")
    query_reopen(user=monitor, query=query, text="Please check again")
    with pytest.raises(ValidationError, match="not closed"):
        form_lock(user=monitor, patient=casebook, form="baseline")


# --- Queries ---------------------------------------------------------------------------


def test_a_query_on_a_field_goes_open_answered_closed_reopened_with_its_thread(coordinator, monitor, casebook):
    follow_up = FollowUp.objects.get(patient=casebook)
    query, created = query_raise(
        user=monitor, patient=casebook, form="follow_up", row=follow_up, field_name="last_contact_date",
        question="Last contact in the chart is 2020-02-01?",
    )
    assert created and query.state == QueryState.OPEN and query.raised_by == monitor
    query_answer(user=coordinator, query=query, text="Corrected")
    query.refresh_from_db()
    assert query.state == QueryState.ANSWERED and query.answered_at
    with pytest.raises(PermissionDenied):
        query_close(user=coordinator, query=query)
    query_close(user=monitor, query=query, text="Thanks")
    query.refresh_from_db()
    assert (query.state, query.closed_by) == (QueryState.CLOSED, monitor)
    with pytest.raises(ValidationError):
        query_answer(user=coordinator, query=query, text="more")
    with pytest.raises(ValidationError):
        query_reopen(user=monitor, query=query, text="")
    query_reopen(user=monitor, query=query, text="Date still differs")
    query.refresh_from_db()
    assert query.state == QueryState.OPEN and query.closed_at is None
    thread = [(m.kind, m.author, m.text) for m in query.messages.all()]
    assert thread == [
        ("question", monitor, "Last contact in the chart is 2020-02-01?"),
        ("answer", coordinator, "Corrected"),
        ("close", monitor, "Thanks"),
        ("reopen", monitor, "Date still differs"),
    ]
    assert [h.state for h in query.history.order_by("history_date", "history_id")] == [
        "open", "answered", "closed", "open"
    ]
    with pytest.raises(ProtectedError):
        query.delete()


def test_queries_are_raised_only_by_monitors_and_only_on_real_targets(coordinator, monitor, casebook, other_casebook):
    with pytest.raises(PermissionDenied):
        query_raise(user=coordinator, patient=casebook, form="baseline", question="?")
    with pytest.raises(ValidationError):
        query_raise(user=monitor, patient=casebook, form="baseline", question="   ")
    with pytest.raises(ValidationError):
        query_raise(user=monitor, patient=casebook, form="baseline", field_name="no_such_field", question="?")
    with pytest.raises(ValidationError):
        query_raise(user=monitor, patient=casebook, form="baseline", field_name="version", question="?")
    other_follow_up = FollowUp.objects.get(patient=other_casebook)
    with pytest.raises(ValidationError):
        query_raise(user=monitor, patient=casebook, form="follow_up", row=other_follow_up, question="?")
    with pytest.raises(ValidationError):
        query_raise(user=monitor, patient=casebook, form="baseline", row=FollowUp.objects.get(patient=casebook),
                    question="?")
    assert not DataQuery.objects.exists()


def test_only_the_centers_staff_answer_a_query(coordinator, other_coordinator, statistician, monitor, casebook):
    query, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="ECOG?")
    for user in (other_coordinator, statistician, monitor):
        with pytest.raises(PermissionDenied):
            query_answer(user=user, query=query, text="an answer")
    query.refresh_from_db()
    assert query.state == QueryState.OPEN


def test_query_visibility_per_role_and_center(coordinator, other_coordinator, monitor, statistician, casebook,
                                              other_casebook):
    mine, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="?")
    theirs, _ = query_raise(user=monitor, patient=other_casebook, form="baseline", question="?")
    assert set(query_list_for_user(user=coordinator)) == {mine}
    assert set(query_list_for_user(user=other_coordinator)) == {theirs}
    assert set(query_list_for_user(user=monitor)) == {mine, theirs}
    assert not query_list_for_user(user=statistician).exists()
    assert query_get_for_user(user=coordinator, pk=mine.pk) == mine
    with pytest.raises(Http404):
        query_get_for_user(user=coordinator, pk=theirs.pk)


def test_query_list_filters_by_center_state_and_age(monitor, coordinator, casebook, other_casebook):
    old, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="old")
    DataQuery.objects.filter(pk=old.pk).update(raised_at=timezone.now() - dt.timedelta(days=40))
    new, _ = query_raise(user=monitor, patient=casebook, form="follow_up", question="new")
    elsewhere, _ = query_raise(user=monitor, patient=other_casebook, form="baseline", question="x")
    query_answer(user=coordinator, query=new, text="done")
    assert set(query_list_for_user(user=monitor, center="RM01")) == {old, new}
    assert set(query_list_for_user(user=monitor, center="MI02")) == {elsewhere}
    assert set(query_list_for_user(user=monitor, state="answered")) == {new}
    assert set(query_list_for_user(user=monitor, state="open")) == {old, elsewhere}
    assert set(query_list_for_user(user=monitor, min_age_days=30)) == {old}
    assert set(query_list_for_user(user=monitor, form="follow_up")) == {new}


def test_open_query_counts_per_patient_form_and_field(monitor, coordinator, other_coordinator, casebook,
                                                     other_casebook):
    follow_up = FollowUp.objects.get(patient=casebook)
    query_raise(user=monitor, patient=casebook, form="follow_up", row=follow_up, field_name="last_contact_date",
                question="a")
    answered, _ = query_raise(user=monitor, patient=casebook, form="follow_up", row=follow_up,
                              field_name="last_contact_date", question="b")
    query_answer(user=coordinator, query=answered, text="ok")
    closed, _ = query_raise(user=monitor, patient=casebook, form="baseline", question="c")
    query_close(user=monitor, query=closed)
    query_raise(user=monitor, patient=other_casebook, form="baseline", question="d")

    counts = open_query_counts(user=coordinator)
    assert counts.total == 2 and counts.by_patient == {casebook.pk: 2}
    assert counts.by_form[(casebook.pk, "follow_up")] == 2 and counts.by_form[(casebook.pk, "baseline")] == 0
    assert counts.for_field(casebook.pk, "follow_up", "last_contact_date") == 2
    assert counts.for_field(casebook.pk, "follow_up", "death_date") == 0
    assert (counts.awaiting_site, counts.awaiting_monitor) == (1, 1)
    assert open_query_counts(user=other_coordinator).by_patient == {other_casebook.pk: 1}
    assert open_query_counts(user=monitor).total == 3

    # Per center only (the home page): the same totals from a smaller GROUP BY.
    per_center = open_query_counts(user=monitor, per_field=False)
    assert per_center.by_center == {casebook.center_id: 2, other_casebook.center_id: 1}
    assert (per_center.total, per_center.awaiting_site, per_center.awaiting_monitor) == (3, 2, 1)
    assert not per_center.by_patient and not per_center.by_field
    assert open_query_counts(user=coordinator, per_field=False).by_center == {casebook.center_id: 2}


# --- Sign-off --------------------------------------------------------------------------


def test_sign_off_needs_the_right_password_and_records_signer_time_and_meaning(investigator, casebook):
    with pytest.raises(ValidationError) as caught:
        casebook_sign(user=investigator, patient=casebook, password="wrong")
    assert "password" in caught.value.message_dict
    assert not CasebookSignature.objects.exists()
    before = timezone.now()
    signature = casebook_sign(user=investigator, patient=casebook, password=PASSWORD)
    assert signature.signer == investigator and signature.signed_at >= before
    assert "complete and accurate" in signature.meaning
    assert casebook_signature_get(patient=casebook) == signature
    with pytest.raises(ValidationError, match="already signed"):
        casebook_sign(user=investigator, patient=casebook, password=PASSWORD)


def test_only_the_centers_investigators_sign_complete_casebooks(coordinator, monitor, center, other_center,
                                                                 other_casebook):
    other_investigator = factories.UserFactory(username="inv-mi02", role=Role.INVESTIGATOR, centers=[other_center])
    incomplete = full_casebook(center)
    FormState.objects.filter(patient=incomplete, form="responses").update(status=FormStatus.IN_PROGRESS)
    for user in (coordinator, monitor):
        with pytest.raises(PermissionDenied):
            casebook_sign(user=user, patient=incomplete, password=PASSWORD)
    with pytest.raises(PermissionDenied):
        casebook_sign(user=other_investigator, patient=incomplete, password=PASSWORD)
    investigator = factories.UserFactory(username="inv-rm01", role=Role.INVESTIGATOR, centers=[center])
    with pytest.raises(ValidationError, match="still in progress"):
        casebook_sign(user=investigator, patient=incomplete, password=PASSWORD)
    FormState.objects.filter(patient=incomplete, form="follow_up").delete()
    FormState.objects.filter(patient=incomplete, form="responses").update(status=FormStatus.COMPLETE)
    with pytest.raises(ValidationError, match="Follow-up & outcome: no data"):
        casebook_sign(user=investigator, patient=incomplete, password=PASSWORD)
    assert not CasebookSignature.objects.exists()
    assert casebook_sign(user=other_investigator, patient=other_casebook, password=PASSWORD)


def test_a_change_after_signing_voids_the_signature_and_says_so(investigator, coordinator, monitor, casebook):
    signature = casebook_sign(user=investigator, patient=casebook, password=PASSWORD)
    follow_up = FollowUp.objects.get(patient=casebook)
    follow_up.last_contact_date = dt.date(2020, 3, 1)
    saved = crf_row_save(user=coordinator, row=follow_up, reason="March visit", expected_version=1)
    assert any("signature" in notice and "void" in notice for notice in saved.change_notices)
    signature.refresh_from_db()
    assert signature.is_void and signature.voided_at and "March visit" in signature.void_reason
    assert casebook_signature_get(patient=casebook) is None
    assert signature.history.latest().history_user == coordinator

    second = casebook_sign(user=investigator, patient=casebook, password=PASSWORD)
    notices = crf_row_delete(user=coordinator, row=factories.AdverseEventFactory._meta.model.objects.get(patient=casebook),
                             reason="entered twice")
    assert any("signature" in notice for notice in notices)
    second.refresh_from_db()
    assert second.is_void
    assert CasebookSignature.objects.filter(patient=casebook).count() == 2  # never deleted


def test_a_failed_change_keeps_the_signature(investigator, coordinator, casebook):
    signature = casebook_sign(user=investigator, patient=casebook, password=PASSWORD)
    follow_up = FollowUp.objects.get(patient=casebook)
    follow_up.last_contact_date = dt.date(2016, 1, 1)  # before C1D1: refused by the edit checks
    with pytest.raises(ValidationError):
        crf_row_save(user=coordinator, row=follow_up, reason="oops", expected_version=1)
    signature.refresh_from_db()
    assert not signature.is_void


# --- Monitoring dashboard ----------------------------------------------------------------


def test_the_dashboard_matches_counts_taken_from_the_database(monitor, coordinator, center, other_center,
                                                             django_assert_num_queries):
    third = factories.CenterFactory(code="NA03", name="Cardarelli", city="Napoli")
    books = [full_casebook(center), full_casebook(center), full_casebook(other_center)]
    factories.PatientFactory(center=center, enrollment_status="excluded", exclusion_reason="CD22-negative")
    Patient.objects.filter(pk=full_casebook(center).pk).update(is_deleted=True)
    form_verify(user=monitor, patient=books[0], form="baseline")
    verified_and_locked(monitor, books[0], "enrollment")
    verified_and_locked(monitor, books[2], "baseline")
    FormState.objects.filter(patient=books[1], form="vod_sos").update(status=FormStatus.IN_PROGRESS)
    old, _ = query_raise(user=monitor, patient=books[0], form="hsct", question="donor?")
    DataQuery.objects.filter(pk=old.pk).update(raised_at=timezone.now() - dt.timedelta(days=45))
    answered, _ = query_raise(user=monitor, patient=books[1], form="hsct", question="date?")
    query_answer(user=coordinator, query=answered, text="ok")
    query_raise(user=monitor, patient=books[2], form="hsct", question="x")

    with django_assert_num_queries(3):
        rows = {row.center.code: row for row in monitoring_dashboard(user=monitor)}
    assert set(rows) == {"RM01", "MI02", "NA03"}
    for code, row in rows.items():
        live = Patient.objects.filter(center__code=code, is_deleted=False)
        assert row.patients_enrolled == live.filter(enrollment_status="enrolled").count()
        states = FormState.objects.filter(patient__in=live)
        assert row.forms_in_progress == states.filter(status="in_progress").count()
        assert row.forms_complete == states.filter(status="complete").count()
        assert row.forms_verified == states.filter(status="verified").count()
        assert row.forms_locked == states.filter(status="locked").count()
        queries = DataQuery.objects.filter(patient__in=live)
        assert row.queries_open == queries.filter(state="open").count()
        assert row.queries_answered == queries.filter(state="answered").count()
    # And the figures themselves, so that both sides cannot be wrong together.
    rm01 = rows["RM01"]
    assert (rm01.patients_enrolled, rm01.forms_in_progress, rm01.forms_complete, rm01.forms_verified,
            rm01.forms_locked) == (2, 1, 15, 1, 1)
    assert (rm01.queries_open, rm01.queries_answered, rm01.queries_open_over_alert, rm01.oldest_open_query_days) == (
        1, 1, 1, 45)
    assert (rows["MI02"].forms_locked, rows["MI02"].queries_open, rows["MI02"].oldest_open_query_days) == (1, 1, 0)
    assert rows["NA03"].forms_total == 0 and rows["NA03"].oldest_open_query_days is None
    assert third.pk == rows["NA03"].center.pk


def test_a_coordinators_dashboard_has_only_their_center(coordinator, center, other_center):
    full_casebook(other_center)
    assert [row.center for row in monitoring_dashboard(user=coordinator)] == [center]


# --- Audit trail ---------------------------------------------------------------------------


def audit(user, **filters) -> list[dict]:
    rows = list(audit_trail_rows(user=user, **filters))
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return list(csv.DictReader(io.StringIO(text.getvalue())))


def test_the_audit_trail_lists_every_change_with_old_and_new_values_and_reasons(coordinator, monitor, casebook,
                                                                              other_casebook):
    follow_up = FollowUp.objects.get(patient=casebook)
    follow_up.last_contact_date = dt.date(2020, 2, 1)
    crf_row_save(user=coordinator, row=follow_up, reason="February visit", expected_version=1)
    casebook.initials = "ZZ"
    crf_row_save(user=coordinator, row=casebook, reason="typo in initials", expected_version=1)
    form_verify(user=monitor, patient=casebook, form="baseline")

    rows = audit(monitor, center="RM01")
    assert {row["study ID"] for row in rows} == {casebook.study_id}
    change = next(row for row in rows if row["reason"] == "February visit")
    assert change["user"] == coordinator.username and change["action"] == "changed"
    assert change["form"] == "Follow-up & outcome"
    assert "last_contact_date: 2020-01-15 → 2020-02-01" in change["changes"]
    initials = next(row for row in rows if row["reason"] == "typo in initials")
    assert initials["changes"] == "initials: [direct identifier] → [direct identifier]"
    assert "ZZ" not in str(rows) and "AB" not in str(rows)
    assert casebook.local_hospital_id not in str(rows)
    verified = next(row for row in rows if row["reason"] == "Source data verified")
    assert verified["user"] == "monitor" and "status: complete → verified" in verified["changes"]

    assert {row["reason"] for row in audit(monitor, username=coordinator.username)} == {
        "February visit", "typo in initials"
    }
    assert {row["form"] for row in audit(monitor, form="follow_up")} == {"Follow-up & outcome"}
    assert len(audit(monitor, center="MI02")) == len(audit(monitor, center="RM01")) - 3
    today = timezone.localdate()
    assert len(audit(monitor, date_from=today, date_to=today)) == len(audit(monitor))
    assert audit(monitor, date_to=today - dt.timedelta(days=1)) == []
    with pytest.raises(PermissionDenied):
        list(audit_trail_rows(user=coordinator))


# --- A reason that says something, wherever one is asked --------------------------------------

INVISIBLE_REASONS = ["", "   ", "\u200b", "\u200b\u200d\ufeff", "\u3164", " \t\u2060 "]


@pytest.mark.parametrize("reason", INVISIBLE_REASONS)
def test_a_reason_of_spaces_or_invisible_characters_is_no_reason(coordinator, monitor, casebook, reason):
    follow_up = FollowUp.objects.get(patient=casebook)
    follow_up.last_contact_date = dt.date(2020, 2, 1)
    with pytest.raises(ValidationError) as refused:
        crf_row_save(user=coordinator, row=follow_up, reason=reason, expected_version=1)
    assert "reason" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        form_status_set(user=coordinator, patient=casebook, form="follow_up", status=FormStatus.IN_PROGRESS,
                        reason=reason)
    assert "reason" in refused.value.message_dict
    form_verify(user=monitor, patient=casebook, form="baseline")
    form_lock(user=monitor, patient=casebook, form="baseline")
    with pytest.raises(ValidationError):
        form_unlock(user=monitor, patient=casebook, form="baseline", reason=reason)
    assert (state_of(casebook, "follow_up"), state_of(casebook, "baseline")) == (FormStatus.COMPLETE,
                                                                                 FormStatus.LOCKED)


def test_reopening_a_complete_form_asks_for_the_reason_and_records_it(coordinator, casebook):
    with pytest.raises(ValidationError) as refused:
        form_status_set(user=coordinator, patient=casebook, form="follow_up", status=FormStatus.IN_PROGRESS)
    assert "reason" in refused.value.message_dict and state_of(casebook, "follow_up") == FormStatus.COMPLETE
    form_status_set(user=coordinator, patient=casebook, form="follow_up", status=FormStatus.IN_PROGRESS,
                    reason=" Last contact to be checked ")
    state = FormState.objects.get(patient=casebook, form="follow_up")
    assert state.status == FormStatus.IN_PROGRESS
    assert state.history.first().history_change_reason == "Reopened: Last contact to be checked"


def test_the_casebook_reopen_button_and_the_api_ask_for_the_reason(client, coordinator, casebook):
    from django.urls import reverse
    from rest_framework.test import APIClient

    client.force_login(coordinator)
    status_url = reverse("casebook:status", args=[casebook.study_id, "follow_up"])
    page = client.get(reverse("casebook:detail", args=[casebook.study_id])).content.decode()
    assert 'id="reopen-reason-follow_up"' in page
    client.post(status_url, {"status": "in_progress", "reason": "\u200b"})
    assert state_of(casebook, "follow_up") == FormStatus.COMPLETE
    client.post(status_url, {"status": "in_progress", "reason": "Relapse date missing"})
    assert state_of(casebook, "follow_up") == FormStatus.IN_PROGRESS
    client.post(status_url, {"status": "complete"})

    api = APIClient()
    api.force_authenticate(coordinator)
    form_status = f"/api/patients/{casebook.study_id}/form-status/"
    refused = api.post(form_status, {"form": "follow_up", "status": "in_progress"}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json()
    assert api.post(form_status, {"form": "follow_up", "status": "in_progress", "reason": "Recheck"},
                    format="json").status_code == 200
    history = FormState.objects.get(patient=casebook, form="follow_up").history.order_by("-history_id")
    assert [h.history_change_reason for h in history[:3]] == ["Reopened: Recheck", None,
                                                               "Reopened: Relapse date missing"]
