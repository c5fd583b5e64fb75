"""seed_demo: the published counts exactly, every edit check passing, same seed same data."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from outcomes.models import VodSosEvent
from outcomes.selectors import best_response_on_io
from patients.models import FormState, Patient
from patients.registry import casebook
from patients.selectors import casebook_dates_get
from patients.services import row_problems
from sites.models import Center
from treatments.models import AlloHsct, IOCycle, PriorTherapyLine

FORM_MODELS = [part.model for part in casebook.parts()]
SKIPPED_FIELDS = {"id", "created_at", "updated_at", "patient", "center"}


@pytest.fixture
def demo(db):
    call_command("seed_demo", verbosity=0)


def test_the_default_demo_has_the_published_counts(demo):
    patients = Patient.objects.all()
    assert Center.objects.count() == 24
    assert patients.count() == 73
    assert patients.values("center").distinct().count() == 24
    best = [best_response_on_io(patient) for patient in patients]
    assert (best.count("cr"), best.count("cri")) == (51, 3)
    assert AlloHsct.objects.filter(performed=True).count() == 27
    assert VodSosEvent.objects.values("patient").distinct().count() == 8
    assert PriorTherapyLine.objects.filter(category="blinatumomab").values("patient").distinct().count() == 42
    assert PriorTherapyLine.objects.filter(category="induction_chemo").values("patient").distinct().count() == 62


def test_every_row_of_the_demo_passes_every_edit_check(demo):
    """As the write path checks a row: its codes, its fields (a coded question needs no
    value), the edit checks, then the database constraints."""
    checked = coded = 0
    for model in FORM_MODELS:
        for row in model.objects.select_related(*(["patient"] if model is not Patient else [])):
            patient = row if model is Patient else row.patient
            assert row_problems(row, patient=patient) == {}, (model.__name__, row.pk, row.missing_codes)
            row.validate_constraints()
            checked += 1
            coded += bool(row.missing_codes)
    assert checked > 73 * 8
    assert coded >= 8  # the demo's missing answers are among them


def test_the_demo_creates_the_users_and_complete_forms(demo):
    usernames = set(get_user_model().objects.values_list("username", flat=True))
    assert {"admin", "monitor", "statistician", "coordinator-rm01", "coordinator-mo01"} <= usernames
    assert get_user_model().objects.get(username="coordinator-rm01").check_password("demo-inocd22")
    assert FormState.objects.count() == 73 * 9
    assert set(FormState.objects.values_list("status", flat=True)) == {"complete"}
    assert Patient.history.count() == 73
    assert Center.objects.get(code="RM01").last_sequence == Patient.objects.filter(center__code="RM01").count()


def fingerprint() -> dict:
    """Every clinical value of the registry, keyed by study ID rather than database keys."""
    result = {}
    for model in FORM_MODELS:
        names = [f.name for f in model._meta.concrete_fields if f.name not in SKIPPED_FIELDS]
        key = "study_id" if model is Patient else "patient__study_id"
        rows = model.objects.values_list(key, *names)
        # missing-data codes as text: dicts do not sort
        result[model.__name__] = sorted(tuple(json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
                                              for value in row) for row in rows)
    return result


def wipe() -> None:
    for model in [FormState, *reversed(FORM_MODELS)]:
        model.objects.all().delete()
    Center.objects.all().delete()
    get_user_model().objects.all().delete()


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not(db):
    call_command("seed_demo", seed=7, verbosity=0)
    first = fingerprint()
    wipe()
    call_command("seed_demo", seed=7, verbosity=0)
    assert fingerprint() == first
    wipe()
    call_command("seed_demo", seed=8, verbosity=0)
    assert fingerprint() != first


def test_seed_demo_refuses_a_registry_that_has_data_unless_asked_to_skip(demo):
    with pytest.raises(CommandError, match="not empty"):
        call_command("seed_demo", verbosity=0)
    call_command("seed_demo", if_empty=True, verbosity=0)
    assert Patient.objects.count() == 73


def test_a_larger_cohort_keeps_every_center_and_edit_check(db):
    call_command("seed_demo", patients=600, centers=30, seed=3, verbosity=0)
    assert Patient.objects.count() == 600
    assert Center.objects.count() == 30
    for row in IOCycle.objects.select_related("patient")[:200]:
        casebook.part_for(row).check(row, casebook_dates_get(patient=row.patient, excluding=row))
