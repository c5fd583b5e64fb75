"""Automatic checks across casebooks: what the edit checks of one form at a time cannot see.

For every enrolled casebook: the forms that must hold data and hold none (the registry
says which), the edit checks re-run over the saved casebook (which catches data changed
around them), and the checks across forms that the clinical apps register
(`casebook.register_consistency_check`). Each problem becomes a data query with a stable
key (check, patient, row, field), so a second run raises nothing new for the same problem.
Runs are recorded in `DataCheckRun`, the model this module writes."""

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

from patients.models import CheckRunStatus, DataCheckRun, EnrollmentStatus, Patient
from patients.queries import field_label, query_raise
from patients.registry import casebook
from patients.selectors import casebook_dates_get, patient_list_for_user
from patients.validators import edit_check
from sites.models import Center
from sites.roles import Role, can_review_forms

logger = logging.getLogger(__name__)


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


def _missing_forms(patient: Patient) -> list[Problem]:
    """The forms that must hold data (the registry's `requires_data`) and hold none."""
    problems = []
    for form in casebook.forms():
        if not form.requires_data or any(part.is_patient for part in form.parts):
            continue
        if not any(part.model.objects.filter(patient=patient, is_deleted=False).exists() for part in form.parts):
            problems.append(Problem("missing-form", form.key, _("The %(form)s form has no data.") % {"form": form.label}))
    return problems


def _edit_checks(patient: Patient) -> list[Problem]:
    """The per-form edit checks re-run on every saved row against the saved casebook."""
    problems = []
    for part in casebook.parts():
        rows = [patient] if part.is_patient else part.model.objects.filter(patient=patient, is_deleted=False)
        for row in rows:
            try:
                edit_check(part, row, casebook_dates_get(patient=patient, excluding=row))
            except ValidationError as error:
                for field_name, messages in error.message_dict.items():
                    field_name = "" if field_name == "__all__" else field_name
                    problems.append(Problem("edit-check", part.key, " ".join(messages), row, field_name))
    return problems


def casebook_problems(patient: Patient, *, cutoff: dt.date, follow_up_months: int) -> list[Problem]:
    """Every problem the checks find in one casebook, one per target (form, row, field):
    a specific check wins over the re-run edit check of the same field."""
    if patient.is_deleted or patient.enrollment_status != EnrollmentStatus.ENROLLED:
        return []
    found = [*_missing_forms(patient)]
    for check in casebook.consistency_checks():
        found += check(patient, cutoff=cutoff, follow_up_months=follow_up_months)
    found += _edit_checks(patient)
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
    if not can_review_forms(user):
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


def casebook_checks_run(
    *, user, center: Center | None = None, cutoff: dt.date | None = None, follow_up_months: int | None = None
) -> DataCheckRun:
    """Start and execute a run in one go (tests, the nightly task, the shell)."""
    run = check_run_start(user=user, center=center, cutoff=cutoff)
    return check_run_execute(run_id=run.pk, follow_up_months=follow_up_months)
