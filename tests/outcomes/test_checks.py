"""Automatic checks across casebooks: every planted problem of a cohort with
known problems is found, clean casebooks raise nothing, and a second run raises no
duplicate query."""

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from outcomes.models import FollowUp, ResponseAssessment, VodSosEvent
from patients.checks import casebook_checks_run, casebook_problems, check_run_start
from patients.models import DataCheckRun, DataQuery, Patient, QueryState
from patients.queries import query_close
from patients.tasks import casebook_checks_nightly
from tests.patients.casebooks import full_casebook
from treatments.models import AlloHsct, EndOfTreatment

CUTOFF = dt.date(2020, 6, 30)


def plant(center):
    """A cohort of complete casebooks, most with one known problem planted by direct updates
    (as an import or a database fix would leave them). Returns {name: (patient, expected keys)}."""
    books = {name: full_casebook(center) for name in (
        "clean", "clean_too", "death_no_cause", "responder_no_response", "missing_follow_up", "response_before_c1d1",
        "hsct_after_last_contact", "c1d1_not_cycle_1", "eot_hsct_without_hsct", "death_vod_without_vod",
        "stale_follow_up",
    )}
    expected = {}

    def key(name, check, row=None, field="-"):
        patient = books[name]
        row_part = f"{row._meta.label_lower}:{row.pk}" if row is not None else "-"
        expected[name] = (patient, f"{check}:{patient.pk}:{row_part}:{field}")

    follow_up = FollowUp.objects.get(patient=books["death_no_cause"])
    FollowUp.objects.filter(pk=follow_up.pk).update(vital_status="dead", death_date=follow_up.last_contact_date)
    key("death_no_cause", "death-no-cause", follow_up, "death_cause")

    ResponseAssessment.objects.filter(patient=books["responder_no_response"]).update(
        response="nr", marrow_blasts_pct=40, mrd_status="not_done", mrd_method=""
    )
    key("responder_no_response", "responder-no-response")

    FollowUp.objects.filter(patient=books["missing_follow_up"]).update(is_deleted=True)
    key("missing_follow_up", "missing-form")
    expected["missing_follow_up"] = (books["missing_follow_up"],
                                     f"missing-form:{books['missing_follow_up'].pk}:-:-")

    response = ResponseAssessment.objects.get(patient=books["response_before_c1d1"])
    ResponseAssessment.objects.filter(pk=response.pk).update(assessment_date=dt.date(2017, 2, 1))
    key("response_before_c1d1", "edit-check", response, "assessment_date")

    hsct = AlloHsct.objects.get(patient=books["hsct_after_last_contact"])
    AlloHsct.objects.filter(pk=hsct.pk).update(hsct_date=dt.date(2020, 6, 1))
    key("hsct_after_last_contact", "edit-check", hsct, "hsct_date")

    Patient.objects.filter(pk=books["c1d1_not_cycle_1"].pk).update(c1d1_date=dt.date(2017, 2, 20))
    key("c1d1_not_cycle_1", "edit-check", books["c1d1_not_cycle_1"], "c1d1_date")

    VodSosEvent.objects.filter(patient=books["eot_hsct_without_hsct"]).update(setting="during_io")
    hsct = AlloHsct.objects.get(patient=books["eot_hsct_without_hsct"])
    AlloHsct.objects.filter(pk=hsct.pk).update(performed=False, hsct_date=None, donor="", conditioning="",
                                               tbi=None, status_at_hsct="", io_cycles_before=None)
    EndOfTreatment.objects.filter(patient=books["eot_hsct_without_hsct"]).update(reason="hsct")
    key("eot_hsct_without_hsct", "eot-hsct-without-hsct", hsct, "performed")

    follow_up = FollowUp.objects.get(patient=books["death_vod_without_vod"])
    FollowUp.objects.filter(pk=follow_up.pk).update(vital_status="dead", death_date=follow_up.last_contact_date,
                                                    death_cause="vod_sos")
    VodSosEvent.objects.filter(patient=books["death_vod_without_vod"]).update(is_deleted=True)
    key("death_vod_without_vod", "death-vod-without-vod")

    follow_up = FollowUp.objects.get(patient=books["stale_follow_up"])
    FollowUp.objects.filter(pk=follow_up.pk).update(last_contact_date=dt.date(2018, 1, 1))
    key("stale_follow_up", "follow-up-stale", follow_up, "last_contact_date")
    return books, expected


@pytest.fixture
def cohort(center):
    return plant(center)


def test_the_checks_find_every_planted_problem_and_nothing_in_clean_casebooks(cohort):
    books, expected = cohort
    for name in ("clean", "clean_too"):
        assert casebook_problems(books[name], cutoff=CUTOFF, follow_up_months=12) == []
    for name, (patient, key) in expected.items():
        patient = Patient.objects.get(pk=patient.pk)  # as the run reads it
        keys = [problem.key(patient) for problem in casebook_problems(patient, cutoff=CUTOFF, follow_up_months=12)]
        assert key in keys, (name, keys)


def test_a_run_raises_one_query_per_problem_and_none_twice(monitor, cohort):
    books, expected = cohort
    first = casebook_checks_run(user=monitor, cutoff=CUTOFF)
    assert first.status == "done" and first.patients_checked == len(books)
    queries = DataQuery.objects.all()
    assert first.queries_raised == queries.count() == first.problems_found
    assert {key for _patient, key in expected.values()} <= set(queries.values_list("check_key", flat=True))
    assert not queries.filter(patient__in=[books["clean"], books["clean_too"]]).exists()
    assert set(queries.values_list("raised_by", flat=True)) == {monitor.pk}
    death = queries.get(check_key=expected["death_no_cause"][1])
    assert (death.form, death.field_name, death.state) == ("follow_up", "death_cause", QueryState.OPEN)
    assert death.question.startswith("Cause of death: ")
    assert death.messages.get().text == death.question

    second = casebook_checks_run(user=monitor, cutoff=CUTOFF)
    assert second.queries_raised == 0 and second.problems_found == first.problems_found
    assert DataQuery.objects.count() == first.queries_raised

    # A query the monitor closed is not raised again while the problem stays: re-open it to ask again.
    query_close(user=monitor, query=death, text="Cause unknown in the chart")
    assert casebook_checks_run(user=monitor, cutoff=CUTOFF).queries_raised == 0
    assert DataQuery.objects.get(pk=death.pk).state == QueryState.CLOSED


def test_a_fixed_problem_is_not_found_again(monitor, cohort):
    books, _expected = cohort
    casebook_checks_run(user=monitor, cutoff=CUTOFF)
    FollowUp.objects.filter(patient=books["death_no_cause"]).update(death_cause="disease")
    problems = casebook_problems(books["death_no_cause"], cutoff=CUTOFF, follow_up_months=12)
    assert problems == []


def test_the_follow_up_limit_and_cutoff_are_parameters(cohort):
    books, _expected = cohort
    patient = books["stale_follow_up"]
    assert casebook_problems(patient, cutoff=CUTOFF, follow_up_months=36) == []
    assert casebook_problems(books["clean"], cutoff=dt.date(2021, 6, 30), follow_up_months=12)[0].check == "follow-up-stale"


def test_a_run_for_one_center_checks_only_that_center(monitor, center, other_center):
    here = full_casebook(center)
    there = full_casebook(other_center)
    FollowUp.objects.filter(patient__in=[here, there]).update(vital_status="dead", death_date=dt.date(2020, 1, 15))
    run = casebook_checks_run(user=monitor, center=other_center, cutoff=CUTOFF)
    assert run.patients_checked == 1
    assert set(DataQuery.objects.values_list("patient", flat=True)) == {there.pk}


def test_only_monitors_run_the_checks(coordinator, statistician):
    for user in (coordinator, statistician):
        with pytest.raises(PermissionDenied):
            check_run_start(user=user)
    assert not DataCheckRun.objects.exists()


def test_the_nightly_task_raises_queries_as_the_system_user_on_the_beat_schedule(center, settings):
    patient = full_casebook(center)
    FollowUp.objects.filter(patient=patient).update(vital_status="dead", death_date=dt.date(2020, 1, 15))
    settings.DATA_CHECKS_CUTOFF = CUTOFF
    run = DataCheckRun.objects.get(pk=casebook_checks_nightly.delay().get())
    assert run.status == "done" and run.started_by.username == "system-checks"
    assert not run.started_by.has_usable_password()
    query = DataQuery.objects.get(patient=patient)
    assert query.raised_by.username == "system-checks" and query.field_name == "death_cause"
    assert casebook_checks_nightly.delay().get() != run.pk
    assert DataQuery.objects.count() == 1
    entry = settings.CELERY_BEAT_SCHEDULE["casebook-checks-nightly"]
    assert entry["task"] == casebook_checks_nightly.name


def test_planted_problems_in_the_demo_cohort_are_found_without_duplicates(db):
    call_command("seed_demo", verbosity=0)
    monitor = get_user_model().objects.get(username="monitor")  # the demo's monitor
    cutoff = dt.date(2025, 1, 1)
    baseline = casebook_checks_run(user=monitor, cutoff=cutoff, follow_up_months=600)
    assert baseline.status == "done" and baseline.patients_checked > 0
    existing = set(DataQuery.objects.values_list("check_key", flat=True))

    dead = FollowUp.objects.filter(vital_status="dead").exclude(death_cause="").order_by("pk").first()
    FollowUp.objects.filter(pk=dead.pk).update(death_cause="")
    responder = ResponseAssessment.objects.filter(response__in=["cr", "cri"]).order_by("pk").first()
    ResponseAssessment.objects.filter(patient=responder.patient).update(is_deleted=True)
    planted = {
        f"death-no-cause:{dead.patient_id}:outcomes.followup:{dead.pk}:death_cause",
        f"missing-form:{responder.patient_id}:-:-",
    }
    run = casebook_checks_run(user=monitor, cutoff=cutoff, follow_up_months=600)
    keys = set(DataQuery.objects.values_list("check_key", flat=True))
    assert planted <= keys - existing
    assert run.queries_raised == len(keys - existing)
    assert casebook_checks_run(user=monitor, cutoff=cutoff, follow_up_months=600).queries_raised == 0
    assert settings.DATA_CHECKS_SYSTEM_USERNAME == "system-checks"


# --- Missing-data codes where the analysis needs a value, and grades CTCAE v5.0 lacks ---------


def problem_on(patient, row, field_name):
    """The problem the checks find on one field of one row (None when there is none)."""
    patient = Patient.objects.get(pk=patient.pk)
    return next((problem for problem in casebook_problems(patient, cutoff=CUTOFF, follow_up_months=36)
                 if problem.row is not None and (type(problem.row), problem.row.pk, problem.field_name)
                 == (type(row), row.pk, field_name)), None)


def test_hsct_performed_coded_unknown_is_queried_for_every_patient(center):
    patient = full_casebook(center)
    hsct = AlloHsct.objects.get(patient=patient)
    AlloHsct.objects.filter(pk=hsct.pk).update(performed=None, hsct_date=None, donor="", conditioning="", tbi=None,
                                               status_at_hsct="", io_cycles_before=None,
                                               missing_codes={"performed": "UNK"})
    problem = problem_on(patient, hsct, "performed")
    assert problem.check == "coded-value-needed"  # rather than "IO ended for an HSCT, but no HSCT is recorded"
    assert problem.message == ("Answered with the code UNK, but the analysis needs Yes or No: whether an allogeneic "
                               "HSCT followed IO is part of the HSCT rate and of overall survival by HSCT. Look for "
                               "the answer in the source documents.")
    assert problem.key(patient) == f"coded-value-needed:{patient.pk}:treatments.allohsct:{hsct.pk}:performed"


def test_relapse_coded_is_queried_for_a_responder_only(center):
    responder = full_casebook(center)
    non_responder = full_casebook(center)
    ResponseAssessment.objects.filter(patient=non_responder).update(response="nr", marrow_blasts_pct=40,
                                                                    mrd_status="not_done", mrd_method="")
    EndOfTreatment.objects.filter(patient=non_responder).update(reason="progression")
    AlloHsct.objects.filter(patient=non_responder).update(status_at_hsct="other")
    FollowUp.objects.filter(patient__in=[responder, non_responder]).update(relapsed=None, relapse_date=None,
                                                                         missing_codes={"relapsed": "NA"})
    follow_up = FollowUp.objects.get(patient=responder)
    problem = problem_on(responder, follow_up, "relapsed")
    assert problem.check == "coded-value-needed" and "duration of response" in problem.message
    assert problem_on(non_responder, FollowUp.objects.get(patient=non_responder), "relapsed") is None


def test_a_cause_of_death_coded_unknown_is_an_answer(center):
    patient = full_casebook(center)
    follow_up = FollowUp.objects.get(patient=patient)
    FollowUp.objects.filter(pk=follow_up.pk).update(vital_status="dead", death_date=follow_up.last_contact_date,
                                                    death_cause="", missing_codes={"death_cause": "UNK"})
    assert problem_on(patient, follow_up, "death_cause") is None


def test_a_grade_ctcae_does_not_define_for_the_term_is_queried(monitor, center):
    """As a row moved from the old term list keeps it: febrile neutropenia of grade 1."""
    from outcomes.models import AdverseEvent

    patient = full_casebook(center)
    event = AdverseEvent.objects.get(patient=patient)
    AdverseEvent.objects.filter(pk=event.pk).update(ctcae_term_id="10016288", grade=1)
    problem = problem_on(patient, event, "grade")
    assert problem.check == "ae-grade-not-in-ctcae"  # rather than the re-run edit check of the same field
    assert problem.message == ("CTCAE v5.0 has no grade 1 for Febrile neutropenia (its grades are 3, 4, 5): "
                               "correct the grade, or the term if another describes the event.")
    casebook_checks_run(user=monitor, cutoff=CUTOFF, follow_up_months=36)
    query = DataQuery.objects.get(check_key=problem.key(patient))
    assert (query.form, query.field_name) == ("adverse_events", "grade")
    AdverseEvent.objects.filter(pk=event.pk).update(grade=3)
    assert problem_on(patient, event, "grade") is None
