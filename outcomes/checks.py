"""Automatic checks across a casebook (issue 6): what the edit checks of one form at a
time cannot see. Missing required forms and values, answers of one form that another
contradicts, dates that contradict each other across forms (the edit checks re-run over
the saved casebook, which catches data changed around them), and a follow-up too old
for the data cut-off.

Each problem becomes a data query with a stable key (check, patient, row, field), so a
second run raises nothing new for the same problem."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from outcomes.models import REMISSIONS, FollowUp, ResponseAssessment, VitalStatus, VodSetting, VodSosEvent
from patients.data_management import field_label, is_monitor, query_raise
from patients.models import (
    BaselineDisease,
    CheckRunStatus,
    DataCheckRun,
    EnrollmentStatus,
    FormKey,
    Patient,
)
from patients.selectors import casebook_get, patient_list_for_user
from patients.validators import show
from sites.models import Center
from sites.roles import Role
from treatments.models import AlloHsct, EndOfTreatment, EndOfTreatmentReason, IOCycle, PriorTherapyLine, StatusAtHsct

logger = logging.getLogger(__name__)

# Forms every enrolled patient treated with IO has, with the related name of their rows.
REQUIRED_FORMS = [
    (FormKey.BASELINE, "baseline"),
    (FormKey.IO_CYCLES, "io_cycles"),
    (FormKey.RESPONSES, "responses"),
    (FormKey.HSCT, "hsct"),
    (FormKey.FOLLOW_UP, "follow_up"),
]
# The rows whose edit checks are re-run, in casebook order.
ROW_MODELS = [BaselineDisease, PriorTherapyLine, IOCycle, EndOfTreatment, ResponseAssessment, AlloHsct, VodSosEvent, FollowUp]
DAYS_PER_MONTH = 30.4375


@dataclass(frozen=True)
class Problem:
    """One problem of one casebook, on a form, or a field of one of its rows."""

    check: str
    form: str
    message: str
    row: models.Model | None = None
    field_name: str = ""

    def key(self, patient: Patient) -> str:
        row = f"{self.row._meta.label_lower}:{self.row.pk}" if self.row is not None else "-"
        return f"{self.check}:{patient.pk}:{row}:{self.field_name or '-'}"

    @property
    def target(self) -> tuple:
        return (type(self.row), getattr(self.row, "pk", None), self.field_name, self.form)


def _single(patient: Patient, model: type[models.Model]):
    return model.objects.filter(patient=patient, is_deleted=False).first()


def _missing_forms(patient: Patient) -> list[Problem]:
    problems = []
    for form, related_name in REQUIRED_FORMS:
        model = Patient._meta.get_field(related_name).related_model
        if not model.objects.filter(patient=patient, is_deleted=False).exists():
            problems.append(
                Problem("missing-form", form, _("The %(form)s form has no data.") % {"form": FormKey(form).label})
            )
    return problems


def _responder_without_response(patient: Patient, follow_up, end, hsct) -> list[Problem]:
    """Another form says the patient responded, but no CR/CRi assessment (with its date) is recorded."""
    if ResponseAssessment.objects.filter(patient=patient, is_deleted=False, response__in=REMISSIONS).exists():
        return []
    evidence = []
    if end and end.reason == EndOfTreatmentReason.RESPONSE:
        evidence.append(_("the end-of-treatment reason is a response"))
    if hsct and hsct.performed and hsct.status_at_hsct in (StatusAtHsct.CR_MRD_NEGATIVE, StatusAtHsct.CR_MRD_POSITIVE):
        evidence.append(_("the disease status at HSCT is a CR"))
    if follow_up and follow_up.relapsed:
        evidence.append(_("a relapse after response is recorded"))
    if not evidence:
        return []
    return [
        Problem(
            "responder-no-response",
            FormKey.RESPONSES,
            _("The patient responded (%(evidence)s) but no CR or CRi assessment, with its date, is recorded.")
            % {"evidence": "; ".join(evidence)},
        )
    ]


def _death_without_cause(follow_up) -> list[Problem]:
    if follow_up and follow_up.vital_status == VitalStatus.DEAD and not follow_up.death_cause:
        return [Problem("death-no-cause", FormKey.FOLLOW_UP, _("A death is recorded with no cause."), follow_up, "death_cause")]
    return []


def _hsct_consistency(patient: Patient, end, hsct, follow_up) -> list[Problem]:
    problems = []
    if hsct and hsct.performed and not hsct.hsct_date:
        problems.append(Problem("hsct-no-date", FormKey.HSCT, _("An HSCT is recorded with no date."), hsct, "hsct_date"))
    if end and end.reason == EndOfTreatmentReason.HSCT and not (hsct and hsct.performed):
        problems.append(
            Problem(
                "eot-hsct-without-hsct",
                FormKey.HSCT,
                _("IO ended for an HSCT, but no HSCT after IO is recorded."),
                hsct,
                "performed" if hsct else "",
            )
        )
    if (
        follow_up
        and follow_up.vital_status == VitalStatus.DEAD
        and follow_up.death_cause == "vod_sos"
        and not VodSosEvent.objects.filter(patient=patient, is_deleted=False).exists()
    ):
        problems.append(
            Problem(
                "death-vod-without-vod",
                FormKey.VOD_SOS,
                _("The cause of death is VOD/SOS, but no VOD/SOS event is recorded."),
            )
        )
    if (
        hsct is not None
        and not hsct.performed
        and VodSosEvent.objects.filter(patient=patient, is_deleted=False, setting=VodSetting.AFTER_HSCT).exists()
    ):
        problems.append(
            Problem("vod-after-missing-hsct", FormKey.HSCT, _("A VOD/SOS after HSCT is recorded, but no HSCT."), hsct, "performed")
        )
    return problems


def _stale_follow_up(follow_up, *, cutoff: dt.date, months: int) -> list[Problem]:
    """An alive patient last seen more than `months` months before the data cut-off."""
    if not follow_up or follow_up.vital_status != VitalStatus.ALIVE or not follow_up.last_contact_date:
        return []
    limit = cutoff - dt.timedelta(days=round(months * DAYS_PER_MONTH))
    if follow_up.last_contact_date >= limit:
        return []
    return [
        Problem(
            "follow-up-stale",
            FormKey.FOLLOW_UP,
            _(
                "The last contact (%(last)s) is more than %(months)d months before the data cut-off (%(cutoff)s): "
                "update the follow-up."
            )
            % {"last": show(follow_up.last_contact_date), "months": months, "cutoff": show(cutoff)},
            follow_up,
            "last_contact_date",
        )
    ]


def _edit_checks(patient: Patient) -> list[Problem]:
    """The per-form edit checks re-run on every saved row against the saved casebook."""
    problems = []
    rows: list[models.Model] = [patient]
    for model in ROW_MODELS:
        rows += list(model.objects.filter(patient=patient, is_deleted=False))
    for row in rows:
        try:
            row.casebook_check(casebook_get(patient=patient, excluding=row))
        except ValidationError as error:
            for field_name, messages in error.message_dict.items():
                field_name = "" if field_name == "__all__" else field_name
                problems.append(Problem("edit-check", row.form_key, " ".join(messages), row, field_name))
    return problems


def casebook_problems(patient: Patient, *, cutoff: dt.date, follow_up_months: int) -> list[Problem]:
    """Every problem the checks find in one casebook, one per target (form, row, field):
    a specific check wins over the re-run edit check of the same field."""
    if patient.is_deleted or patient.enrollment_status != EnrollmentStatus.ENROLLED:
        return []
    follow_up = _single(patient, FollowUp)
    end = _single(patient, EndOfTreatment)
    hsct = _single(patient, AlloHsct)
    found = [
        *_missing_forms(patient),
        *_responder_without_response(patient, follow_up, end, hsct),
        *_death_without_cause(follow_up),
        *_hsct_consistency(patient, end, hsct, follow_up),
        *_stale_follow_up(follow_up, cutoff=cutoff, months=follow_up_months),
        *_edit_checks(patient),
    ]
    problems, seen = [], set()
    for problem in found:
        if problem.target not in seen:
            seen.add(problem.target)
            problems.append(problem)
    return problems


def system_checks_user():
    """The account the nightly checks raise their queries as: a monitor that cannot log in."""
    user, created = get_user_model().objects.get_or_create(
        username=settings.DATA_CHECKS_SYSTEM_USERNAME, defaults={"first_name": "System", "last_name": "checks"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=Role.MONITOR))
    return user


def default_cutoff() -> dt.date:
    return settings.DATA_CHECKS_CUTOFF or timezone.localdate()


def check_run_start(*, user, center: Center | None = None, cutoff: dt.date | None = None) -> DataCheckRun:
    """Record a run of the checks, to be executed by `check_run_execute` (usually in a task)."""
    if not is_monitor(user):
        raise PermissionDenied(_("Only monitors run the automatic checks."))
    return DataCheckRun.objects.create(started_by=user, center=center, cutoff=cutoff or default_cutoff())


def check_run_execute(*, run_id: int, follow_up_months: int | None = None) -> DataCheckRun:
    """Run the checks over every enrolled casebook the run's user may see (of its center),
    raising a query per new problem as the run's user. Counts and errors go on the run row."""
    run = DataCheckRun.objects.select_related("started_by", "center").get(pk=run_id)
    months = follow_up_months if follow_up_months is not None else settings.DATA_CHECKS_FOLLOW_UP_MONTHS
    patients = patient_list_for_user(user=run.started_by).filter(enrollment_status=EnrollmentStatus.ENROLLED)
    if run.center_id:
        patients = patients.filter(center_id=run.center_id)
    try:
        for patient in patients.order_by("pk").iterator(500):
            problems = casebook_problems(patient, cutoff=run.cutoff, follow_up_months=months)
            raised = 0
            with transaction.atomic():
                for problem in problems:
                    question = problem.message
                    if problem.field_name:
                        label = field_label(problem.form, problem.field_name, type(problem.row) if problem.row else None)
                        question = f"{label}: {question}"
                    _query, created = query_raise(
                        user=run.started_by,
                        patient=patient,
                        form=problem.form,
                        question=question,
                        row=problem.row,
                        field_name=problem.field_name,
                        check_key=problem.key(patient),
                    )
                    raised += created
            run.queries_raised += raised
            run.patients_checked += 1
            run.problems_found += len(problems)
    except Exception as error:  # the run row says what went wrong; the task's log has the traceback
        logger.exception("Automatic checks run %s failed", run.pk)
        run.status = CheckRunStatus.FAILED
        run.error = f"{type(error).__name__}: {error}"
    else:
        run.status = CheckRunStatus.DONE
    run.finished_at = timezone.now()
    run.save()
    return run


def casebook_checks_run(*, user, center: Center | None = None, cutoff: dt.date | None = None, follow_up_months: int | None = None) -> DataCheckRun:
    """Start and execute a run in one go (tests, the nightly task, the shell)."""
    run = check_run_start(user=user, center=center, cutoff=cutoff)
    return check_run_execute(run_id=run.pk, follow_up_months=follow_up_months)
