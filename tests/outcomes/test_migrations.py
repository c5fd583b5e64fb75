"""The migrations of missing-data codes and of CTCAE v5.0, on real PostgreSQL data as the
registry held it before them: every adverse event of the old list of 36 terms (and its
history) arrives on its CTCAE v5.0 row, yes/no answers keep their value, and the way back
restores the old columns.

The migrations run on a database of their own, made for this test and dropped after it,
which stands in as the default connection meanwhile (the migrations' data steps use the
default manager): the test database, migrated once for the session, is never taken back to
an older schema, and its reference data (the CTCAE terms a migration loaded) is not flushed.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import IntegrityError, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import load_backend
from django.utils import timezone

from outcomes.ctcae import LEGACY_TERMS

# The state before this work: the CTCAE terms loaded, the codes of outcomes' own questions
# added, nothing of the codes and nullable yes/no questions of patients and treatments yet.
BEFORE = {
    "outcomes": "0003_missing_data_codes",
    "patients": "0003_form_choices_from_the_casebook_registry",
    "treatments": "0001_initial",
}
C1D1 = dt.date(2017, 3, 1)


@contextmanager
def database_of_its_own(name: str):
    """A fresh, empty PostgreSQL database as the default connection; dropped after."""
    original = connections["default"]
    quoted = original.ops.quote_name(name)
    with original._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {quoted}")
        cursor.execute(f"CREATE DATABASE {quoted}")
    settings = {**original.settings_dict, "NAME": name}
    own = load_backend(settings["ENGINE"]).DatabaseWrapper(settings, "default")
    connections["default"] = own
    try:
        yield own
    finally:
        own.close()
        connections["default"] = original
        with original._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quoted}")


def migrate(connection, *, before: bool):
    """Migrate to the state before this work, or to the latest; the historical models of it."""
    executor = MigrationExecutor(connection)
    targets = [(app, BEFORE.get(app, name) if before else name) for app, name in executor.loader.graph.leaf_nodes()]
    executor.migrate(targets)
    executor = MigrationExecutor(connection)  # reload what is applied
    applied = set(executor.loader.applied_migrations)
    assert all(((app, name) in applied) != before for app, name in (
        ("outcomes", "0004_adverse_events_on_ctcae"), ("patients", "0004_missing_data_codes"),
        ("treatments", "0002_missing_data_codes")))
    return executor.loader.project_state(targets).apps


def with_history(apps, app_label: str, model_name: str, row) -> None:
    """The creation history row of ``row``, as django-simple-history writes it."""
    model = apps.get_model(app_label, model_name)
    historical = apps.get_model(app_label, f"Historical{model_name}")
    values = {field.attname: getattr(row, field.attname) for field in model._meta.concrete_fields}
    historical.objects.create(**values, history_date=timezone.now(), history_type="+", history_change_reason="old")


def registry_before(apps) -> dict:
    """One patient as the old forms stored it: an adverse event for each of the 36 old
    terms, yes/no answers both ways. Returns the keys of what it made."""
    center = apps.get_model("sites", "Center").objects.create(code="RM01", name="Policlinico", city="Roma")
    patients = []
    for number, yes in enumerate((True, False), start=1):
        patient = apps.get_model("patients", "Patient").objects.create(
            center=center, sequence=number, study_id=f"RM01-{number:03d}", local_hospital_id=f"H{number}",
            initials="AB", date_of_birth=dt.date(1964, 6, 15), sex="F", has_rr_b_all=True, is_cd22_positive=True,
            received_io=True, c1d1_date=C1D1, enrollment_status="enrolled")
        with_history(apps, "patients", "Patient", patient)
        baseline = apps.get_model("patients", "BaselineDisease").objects.create(
            patient=patient, diagnosis_date=dt.date(2015, 1, 10), ph_status="negative",
            cd22_expression_pct=Decimal("85"), disease_status="first_relapse", marrow_blasts_pct=Decimal("60"),
            extramedullary_disease=yes, cns_disease=yes, ecog=1, prior_allo_hsct=yes,
            prior_allo_hsct_date=dt.date(2016, 1, 10) if yes else None)
        with_history(apps, "patients", "BaselineDisease", baseline)
        cycle = apps.get_model("treatments", "IOCycle").objects.create(
            patient=patient, cycle_number=1, start_date=C1D1, dose_day1=Decimal("0.8"), dose_day8=Decimal("0.5"),
            dose_day15=Decimal("0.5"), delayed=yes, dose_reduced=yes, modification_reason="reason" if yes else "")
        with_history(apps, "treatments", "IOCycle", cycle)
        hsct = apps.get_model("treatments", "AlloHsct").objects.create(
            patient=patient, performed=yes, hsct_date=dt.date(2017, 6, 1) if yes else None,
            donor="matched_unrelated" if yes else "", conditioning="mac" if yes else "", tbi=yes if yes else None,
            status_at_hsct="cr_mrd_neg" if yes else "", io_cycles_before=1 if yes else None)
        with_history(apps, "treatments", "AlloHsct", hsct)
        patients.append(patient.pk)
    events = {}
    for index, old in enumerate(LEGACY_TERMS):  # grades as the old form took them, any of 1-5
        event = apps.get_model("outcomes", "AdverseEvent").objects.create(
            patient_id=patients[0], term=old, grade=index % 5 + 1, onset_date=C1D1 + dt.timedelta(days=index + 1),
            resolution_date=None, serious=index % 2 == 0, relation="related")
        with_history(apps, "outcomes", "AdverseEvent", event)
        events[event.pk] = old
    return {"patients": patients, "events": events}


def yes_no_answers(apps) -> list:
    """The yes/no answers of both patients, in patient order."""
    return [
        *apps.get_model("patients", "BaselineDisease").objects.order_by("patient_id").values_list(
            "extramedullary_disease", "cns_disease", "prior_allo_hsct"),
        *apps.get_model("treatments", "IOCycle").objects.order_by("patient_id").values_list("delayed", "dose_reduced"),
        *apps.get_model("treatments", "AlloHsct").objects.order_by("patient_id").values_list("performed", "tbi"),
    ]


EXPECTED_ANSWERS = [(True, True, True), (False, False, False), (True, True), (False, False), (True, True),
                    (False, None)]


def test_the_old_registry_migrates_to_ctcae_and_yes_no_and_back(django_db_setup, django_db_blocker):
    if connections["default"].vendor != "postgresql":
        pytest.skip("the migration test runs on PostgreSQL, the registry's database")
    with django_db_blocker.unblock(), database_of_its_own(f"{connections['default'].settings_dict['NAME']}_migrations") \
            as connection:
        made = registry_before(migrate(connection, before=True))

        apps = migrate(connection, before=False)
        for name in ("AdverseEvent", "HistoricalAdverseEvent"):
            model = apps.get_model("outcomes", name)
            moved = {pk: (code, specified)
                     for pk, code, specified in model.objects.values_list("id", "ctcae_term_id", "other_specify")}
            assert moved == {pk: LEGACY_TERMS[old] for pk, old in made["events"].items()}, name  # none lost
        assert len(made["events"]) == 36
        specified = apps.get_model("outcomes", "AdverseEvent").objects.exclude(other_specify="")
        assert sorted(specified.values_list("ctcae_term__term", "other_specify")) == [
            ("Immune system disorders - Other, specify", "Graft versus host disease"),
            ("Infections and infestations - Other, specify", "Fungal infection"),
            ("Vascular disorders - Other, specify", "Hemorrhage"),
        ]
        assert yes_no_answers(apps) == EXPECTED_ANSWERS  # true is Yes, false is No: none became unknown
        assert not apps.get_model("patients", "BaselineDisease").objects.exclude(missing_codes={}).exists()

        apps = migrate(connection, before=True)
        for name in ("AdverseEvent", "HistoricalAdverseEvent"):
            model = apps.get_model("outcomes", name)
            assert dict(model.objects.values_list("id", "term")) == made["events"], name
        assert yes_no_answers(apps) == EXPECTED_ANSWERS

        migrate(connection, before=False)  # left at the latest, as a database is kept


# The state before rows of repeating parts kept their instance numbers: every other migration
# applied.
BEFORE_INSTANCES = {"outcomes": "0005_relapse_date_may_be_coded", "treatments": "0002_missing_data_codes"}


def migrate_instances(connection, *, before: bool):
    """Migrate to the state before the stored instance numbers, or to the latest."""
    executor = MigrationExecutor(connection)
    targets = [(app, BEFORE_INSTANCES.get(app, name) if before else name)
               for app, name in executor.loader.graph.leaf_nodes()]
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def test_stored_rows_get_the_instance_numbers_they_had_deleted_rows_included(django_db_setup, django_db_blocker):
    if connections["default"].vendor != "postgresql":
        pytest.skip("the migration test runs on PostgreSQL, the registry's database")
    with django_db_blocker.unblock(), database_of_its_own(f"{connections['default'].settings_dict['NAME']}_instances") \
            as connection:
        apps = migrate_instances(connection, before=True)
        center = apps.get_model("sites", "Center").objects.create(code="RM01", name="Policlinico", city="Roma")
        patients = [apps.get_model("patients", "Patient").objects.create(
            center=center, sequence=number, study_id=f"RM01-{number:03d}", local_hospital_id=f"H{number}",
            initials="AB", date_of_birth=dt.date(1964, 6, 15), sex="F", has_rr_b_all=True, is_cd22_positive=True,
            received_io=True, c1d1_date=C1D1, enrollment_status="enrolled") for number in (1, 2)]
        cycle_model = apps.get_model("treatments", "IOCycle")
        cycles = []  # the two patients' cycles created in turn, the first patient's second one deleted
        for patient, number, deleted in ((0, 1, False), (1, 1, False), (0, 2, True), (0, 3, False), (1, 2, False)):
            cycle = cycle_model.objects.create(
                patient=patients[patient], cycle_number=number, start_date=C1D1 + dt.timedelta(days=28 * number),
                dose_day1=Decimal("0.8"), dose_day8=Decimal("0.5"), dose_day15=Decimal("0.5"), delayed=False,
                dose_reduced=False, is_deleted=deleted)
            with_history(apps, "treatments", "IOCycle", cycle)
            cycles.append(cycle.pk)
        event = apps.get_model("outcomes", "AdverseEvent").objects.create(
            patient=patients[1], ctcae_term_id="10001551", grade=2, onset_date=C1D1, serious=False, relation="related")

        apps = migrate_instances(connection, before=False)
        expected = dict(zip(cycles, [1, 1, 2, 3, 2], strict=True))
        for name in ("IOCycle", "HistoricalIOCycle"):
            assert dict(apps.get_model("treatments", name).objects.values_list("id", "repeat_instance")) == expected
        assert apps.get_model("outcomes", "AdverseEvent").objects.get(pk=event.pk).repeat_instance == 1
        with pytest.raises(IntegrityError), transaction.atomic(using=connection.alias):
            cycle_model = apps.get_model("treatments", "IOCycle")
            cycle_model.objects.filter(pk=cycles[3]).update(repeat_instance=1)  # the first patient's first number

        apps = migrate_instances(connection, before=True)
        assert "repeat_instance" not in {field.name for field in apps.get_model("treatments", "IOCycle")._meta.fields}
        assert apps.get_model("treatments", "IOCycle").objects.count() == len(cycles)  # the way back keeps the rows
        migrate_instances(connection, before=False)  # left at the latest, as a database is kept
