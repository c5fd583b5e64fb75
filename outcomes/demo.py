"""The synthetic demo cohort: centers, users and complete casebooks, bulk-inserted with
their history rows. No real patient is in it; `outcomes.demo_cohort` designs the
timelines so that the analysis reproduces the published INO-CD22 figures."""

from __future__ import annotations

import functools
import json
import random
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection, models, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from outcomes.demo_cohort import PatientTimeline, design_cohort
from outcomes.models import AdverseEvent, CtcaeTerm, FollowUp, ResponseAssessment, VodSosEvent
from patients.models import BaselineDisease, FormState, FormStatus, Patient
from patients.registry import casebook
from patients.services import instances_number, study_id_for
from sites.models import Center
from sites.roles import Role
from treatments.models import AlloHsct, EndOfTreatment, IOCycle, PriorTherapyLine

DEMO_REASON = "Synthetic demo data"

# (code, city): hospital haematology units, invented for the demo.
DEMO_CENTERS = [
    ("RM01", "Roma"), ("RM02", "Roma"), ("MI01", "Milano"), ("MI02", "Milano"), ("TO01", "Torino"),
    ("BO01", "Bologna"), ("FI01", "Firenze"), ("NA01", "Napoli"), ("PA01", "Palermo"), ("BA01", "Bari"),
    ("BG01", "Bergamo"), ("PD01", "Padova"), ("VR01", "Verona"), ("GE01", "Genova"), ("PG01", "Perugia"),
    ("AN01", "Ancona"), ("PI01", "Pisa"), ("CT01", "Catania"), ("RC01", "Reggio Calabria"), ("PC01", "Piacenza"),
    ("BS01", "Brescia"), ("UD01", "Udine"), ("PE01", "Pescara"), ("MO01", "Modena"),
]
BATCH_PATIENTS = 2000


@dataclass(frozen=True)
class DemoSummary:
    centers: int
    patients: int
    users: list[str]


def demo_centers(n_centers: int) -> list[Center]:
    centers = []
    for index in range(n_centers):
        code, city = DEMO_CENTERS[index] if index < len(DEMO_CENTERS) else (f"XZ{index % 100:02d}", "Demo")
        centers.append(Center(code=code, name=f"Ematologia {city} {code[-1]} (demo)", city=city))
    return centers


def demo_users_create(*, centers: list[Center], password: str) -> list[str]:
    """admin, monitor, statistician, and a coordinator and an investigator per center."""
    User = get_user_model()
    hashed = make_password(password)  # one hash for all: they share the demo password
    groups = {role: Group.objects.get(name=role.value) for role in Role}
    admin = User.objects.create(username="admin", password=hashed, is_staff=True, is_superuser=True)
    admin.groups.add(groups[Role.ADMINISTRATOR])
    User.objects.create(username="monitor", password=hashed).groups.add(groups[Role.MONITOR])
    User.objects.create(username="statistician", password=hashed).groups.add(groups[Role.STATISTICIAN])
    names = ["admin", "monitor", "statistician"]
    for center in centers:
        for role, prefix in ((Role.COORDINATOR, "coordinator"), (Role.INVESTIGATOR, "investigator")):
            user = User.objects.create(username=f"{prefix}-{center.code.lower()}", password=hashed)
            user.groups.add(groups[role])
            center.members.add(user)
            names.append(user.username)
    return names


@transaction.atomic
def demo_cohort_seed(*, seed: int, n_patients: int, n_centers: int, password: str) -> DemoSummary:
    """Fill an empty database with the demo. Raises ValueError if patients exist."""
    if Patient.objects.exists() or Center.objects.exists():
        raise ValueError("The database is not empty: the demo fills an empty registry.")
    centers = Center.objects.bulk_create(demo_centers(n_centers))
    users = demo_users_create(centers=centers, password=password)
    identifiers = random.Random(seed)
    timelines = design_cohort(seed=seed, n_patients=n_patients, n_centers=n_centers)
    next_sequence = dict.fromkeys((center.pk for center in centers), 0)
    for batch in batched(timelines, BATCH_PATIENTS):
        patients = []
        for timeline in batch:
            center = centers[timeline.center_index]
            next_sequence[center.pk] += 1
            patients.append(patient_row(timeline, center, next_sequence[center.pk], identifiers))
        bulk_insert_with_history(Patient, patients)
        casebook_rows_create(list(zip(batch, patients, strict=True)))
    for center in centers:
        Center.objects.filter(pk=center.pk).update(last_sequence=next_sequence[center.pk])
    return DemoSummary(centers=len(centers), patients=len(timelines), users=users)


def batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def patient_row(timeline: PatientTimeline, center: Center, sequence: int, rng: random.Random) -> Patient:
    return Patient(
        center=center,
        sequence=sequence,
        study_id=study_id_for(center.code, sequence),
        local_hospital_id=f"{center.code}-{rng.randrange(10**7):07d}",
        initials="".join(rng.choices(string.ascii_uppercase, k=2)),
        date_of_birth=timeline.date_of_birth,
        sex=timeline.sex,
        has_rr_b_all=True,
        is_cd22_positive=True,
        received_io=True,
        c1d1_date=timeline.c1d1,
        enrollment_status="enrolled",
    )


def casebook_rows_create(pairs: list[tuple[PatientTimeline, Patient]]) -> None:
    rows: dict[type, list] = {part.model: [] for part in casebook.parts() if not part.is_patient}
    states = []
    for timeline, patient in pairs:
        for row in casebook_rows(timeline, patient):
            rows[type(row)].append(row)
        states += [FormState(patient=patient, form=form, status=FormStatus.COMPLETE) for form in casebook.form_keys()]
    for model, objs in rows.items():
        instances_number(objs)
        bulk_insert_with_history(model, objs)
    bulk_insert_with_history(FormState, states)


def bulk_insert_with_history(model, objs: list) -> None:
    """Insert rows and their creation history rows, setting each row's primary key.
    PostgreSQL gets COPY, several times faster than INSERT for a large demo."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        bulk_create_with_history(objs, model, batch_size=2000, default_change_reason=DEMO_REASON)
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, len(objs)],
        )
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
            for field in model._meta.concrete_fields:
                if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                    setattr(obj, field.attname, now)
        fields = model._meta.concrete_fields
        _copy(cursor, model._meta.db_table, [f.column for f in fields],
              ([_copied(f, getattr(obj, f.attname)) for f in fields] for obj in objs))
        history = model.history.model
        extra = {"history_date": now, "history_change_reason": DEMO_REASON, "history_type": "+", "history_user_id": None}
        history_fields = [f for f in history._meta.concrete_fields if f.attname != "history_id"]
        _copy(cursor, history._meta.db_table, [f.column for f in history_fields],
              ([extra[f.attname] if f.attname in extra else _copied(f, getattr(obj, f.attname)) for f in history_fields]
               for obj in objs))
        # Fresh statistics: planning the first queries on estimates of an empty table chose
        # nested loops and on-disk sorts over 300 000 rows (autovacuum comes only later).
        for table in (model._meta.db_table, history._meta.db_table):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def _copied(field, value):
    """A value as COPY takes it: JSON columns (missing-data codes) as their JSON text."""
    return json.dumps(value) if isinstance(field, models.JSONField) else value


def _copy(cursor, table: str, columns: list[str], rows) -> None:
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


@functools.cache
def meddra_codes() -> dict[str, str]:
    """The MedDRA code of each CTCAE v5.0 term (reference data, loaded by a migration)."""
    return dict(CtcaeTerm.objects.values_list("term", "meddra_code"))


def casebook_rows(t: PatientTimeline, patient: Patient) -> Iterator:
    """Every form of one casebook, from its designed timeline."""
    yield BaselineDisease(
        patient=patient,
        diagnosis_date=t.diagnosis_date,
        ph_status="positive" if t.ph_positive else "negative",
        cd22_expression_pct=None if t.cd22_pct is None else Decimal(t.cd22_pct),
        disease_status=t.disease_status,
        marrow_blasts_pct=Decimal(t.marrow_blasts_pct),
        extramedullary_disease=t.extramedullary,
        cns_disease=t.cns,
        ecog=t.ecog,
        prior_allo_hsct=t.prior_allo_hsct_date is not None,
        prior_allo_hsct_date=t.prior_allo_hsct_date,
        missing_codes=dict(t.baseline_codes),
    )
    for line in t.prior_lines:
        yield PriorTherapyLine(
            patient=patient, line_number=line.number, category=line.category, regimen=line.regimen,
            start_date=line.start, end_date=line.end, best_response=line.best_response,
        )
    for cycle in t.cycles:
        yield IOCycle(
            patient=patient, cycle_number=cycle.number, start_date=cycle.start,
            dose_day1=Decimal(str(cycle.dose_d1)), dose_day8=Decimal(str(cycle.dose_d8)),
            dose_day15=Decimal(str(cycle.dose_d15)), delayed=cycle.delayed, dose_reduced=cycle.reduced,
            modification_reason=cycle.reason,
        )
    yield EndOfTreatment(
        patient=patient, reason=t.end_of_treatment_reason,
        reason_other="Physician's decision" if t.end_of_treatment_reason == "other" else "",
    )
    hsct = t.hsct
    yield AlloHsct(
        patient=patient, performed=hsct is not None,
        hsct_date=hsct.date if hsct else None,
        donor=hsct.donor if hsct else "",
        conditioning=hsct.conditioning if hsct else "",
        tbi=hsct.tbi if hsct else None,
        status_at_hsct=hsct.status_at_hsct if hsct else "",
        io_cycles_before=hsct.io_cycles_before if hsct else None,
        missing_codes=dict(hsct.codes) if hsct else {},
    )
    for response in t.responses:
        yield ResponseAssessment(
            patient=patient, assessment_date=response.date,
            marrow_blasts_pct=None if response.marrow_blasts_pct is None else Decimal(str(response.marrow_blasts_pct)),
            response=response.response, mrd_status=response.mrd, mrd_method=response.mrd_method,
            missing_codes=dict(response.codes),
        )
    for event in t.adverse_events:
        yield AdverseEvent(
            patient=patient, ctcae_term_id=meddra_codes()[event.term], grade=event.grade, onset_date=event.onset,
            resolution_date=event.resolution, serious=event.serious, relation=event.related_to_io,
            missing_codes=dict(event.codes),
        )
    if t.vod:
        yield VodSosEvent(
            patient=patient, diagnosis_date=t.vod.date, criteria=t.vod.criteria, severity=t.vod.severity,
            setting=t.vod.setting, defibrotide=t.vod.defibrotide, outcome=t.vod.outcome,
        )
    yield FollowUp(
        patient=patient,
        relapsed=t.relapse_date is not None,
        relapse_date=t.relapse_date,
        vital_status="dead" if t.death_date else "alive",
        death_date=t.death_date,
        death_cause=t.death_cause if t.death_date else "",
        last_contact_date=t.last_contact,
    )
