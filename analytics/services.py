"""Analysis reports: start one (a row and one task after commit), run it, record the outcome.

The Celery task and the ``run_report`` command both call ``report_run``: one service,
two thin callers.
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import threading
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, InterfaceError, OperationalError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.dataset import analysis_dataset_load, centers_resolve
from analytics.models import CiMethod, Report, ReportStatus
from analytics.parallel import InChild
from analytics.report import report_results_start
from patients.models import CheckRunStatus, DataCheckRun
from sites.jobs import job_enqueue
from sites.roles import Role, can_run_analyses

logger = logging.getLogger(__name__)

# Errors worth retrying: the database went away or a connection broke, not a bug.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)
SYSTEM_USERNAME = "system-reports"


def software_version() -> str:
    """This code's version and those of the numerical libraries the numbers depend on."""
    try:
        own = metadata.version("inocd22")
    except metadata.PackageNotFoundError:
        with open(settings.BASE_DIR / "pyproject.toml", "rb") as handle:
            own = tomllib.load(handle)["project"]["version"]
    libraries = ("lifelines", "pandas", "numpy", "scipy", "matplotlib")
    return f"inocd22 {own}; Python {platform.python_version()}; " + ", ".join(
        f"{name} {metadata.version(name)}" for name in libraries
    )


def system_user_get():
    """The account the command line runs reports as: a statistician that cannot sign in."""
    user, created = get_user_model().objects.get_or_create(username=SYSTEM_USERNAME)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=Role.STATISTICIAN))
    return user


def report_parameters_validate(
    *, user, cutoff: dt.date | None, center_codes: Sequence[str] | None, ci_method: str
) -> tuple[dt.date, list[str]]:
    """The cut-off (default today) and the center codes, or ValidationError by field."""
    today = timezone.localdate()
    cutoff = cutoff or today
    errors = {}
    if cutoff > today:
        errors["cutoff"] = _("The data cut-off cannot be in the future.")
    if ci_method not in CiMethod.values:
        errors["ci_method"] = _("Choose one of: %(methods)s.") % {"methods": ", ".join(CiMethod.values)}
    codes: list[str] = []
    try:
        codes = centers_resolve(user=user, center_codes=center_codes)
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)
    # Store what was asked: an empty list means every center at run time.
    return cutoff, (codes if center_codes else [])


def report_start(
    *,
    user,
    cutoff: dt.date | None = None,
    center_codes: Sequence[str] | None = None,
    ci_method: str = CiMethod.LOG_LOG,
    hsct_censors_dor: bool = False,
    enqueue: bool = True,
) -> Report:
    """Create a queued report and, once the transaction commits, enqueue its one task.

    Raises PermissionDenied for users who may not run analyses, ValidationError on bad
    parameters, and QueueUnavailable (the report marked failed) when the broker cannot
    take the task. With ``enqueue=False`` the caller runs ``report_run`` itself.
    """
    if not can_run_analyses(user):
        raise PermissionDenied(_("Only statisticians and administrators run analysis reports."))
    cutoff, codes = report_parameters_validate(user=user, cutoff=cutoff, center_codes=center_codes,
                                               ci_method=ci_method)
    with transaction.atomic():
        report = Report.objects.create(
            requested_by=user,
            cutoff=cutoff,
            center_codes=codes,
            ci_method=ci_method,
            hsct_censors_dor=hsct_censors_dor,
            step=_("Waiting for a worker"),
        )
        if enqueue:
            transaction.on_commit(lambda: report_enqueue(report_id=report.pk))
    return report


def report_enqueue(*, report_id: int) -> None:
    """Send the report's task to the broker (or run it here when Celery is eager); the
    report is marked failed and QueueUnavailable raised when the broker cannot take it."""
    from analytics.tasks import report_run_task

    task_id = job_enqueue(report_run_task, row=Report(pk=report_id), kwargs={"report_id": report_id},
                          queue=settings.ANALYTICS_REPORT_QUEUE)
    Report.objects.filter(pk=report_id, task_id="").update(task_id=task_id)


def report_progress_set(*, report_id: int, progress: int, step: str) -> None:
    """Record how far the report has got (committed at once: the task runs outside a transaction)."""
    Report.objects.filter(pk=report_id).update(progress=max(0, min(100, progress)), step=step[:120])


def report_mark_failed(*, report_id: int, error: str) -> None:
    Report.objects.filter(pk=report_id).exclude(status=ReportStatus.SUCCEEDED).update(
        status=ReportStatus.FAILED, error=error, step=_("Failed"), finished_at=timezone.now()
    )


def readable_error(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        messages = error.message_dict if hasattr(error, "error_dict") else {"": error.messages}
        return "; ".join(f"{field}: {' '.join(texts)}" if field else " ".join(texts)
                         for field, texts in messages.items())
    if isinstance(error, SoftTimeLimitExceeded):
        return _("The report took longer than its time limit of %(seconds)s seconds.") % {
            "seconds": settings.ANALYTICS_REPORT_SOFT_TIME_LIMIT}
    if isinstance(error, ValueError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def report_run(*, report_id: int) -> Report:
    """Compute a report: load the dataset, run the analysis plan, draw the figures, save.

    Marks the report running, then succeeded with results, figures, dataset hash and
    software version, or failed with a readable error. Transient database errors
    propagate so that the task retries them. A report that already ended (succeeded,
    failed, or failed by ``jobs_reap``) is left as it is: the task may be delivered twice.
    While it runs, its heartbeat is set every few seconds.
    """
    report = Report.objects.select_related("requested_by").get(pk=report_id)
    if report.is_finished:  # a message delivered again, after the report ended or was reaped
        return report
    Report.objects.filter(pk=report_id).update(
        status=ReportStatus.RUNNING, started_at=timezone.now(), progress=5, step=_("Loading the analysis dataset"),
        error="", finished_at=None, heartbeat_at=timezone.now(),
    )
    with _heartbeat(report_id=report_id):
        _report_compute(report)
    report.refresh_from_db()
    return report


def _report_compute(report: Report) -> None:
    from analytics.figures import dataset_figures, figures_in_order, results_figures

    report_id = report.pk

    def progress(percent: int, step: str) -> None:
        report_progress_set(report_id=report_id, progress=percent, step=step)

    try:
        dataset = analysis_dataset_load(user=report.requested_by, cutoff=report.cutoff,
                                        center_codes=report.center_codes)
        progress(20, _("Hashing the analysis dataset"))
        # The hash and the figures that need only the dataset: in a second process, while
        # the statistics run here (and the time-dependent Cox model in a third).
        early = InChild(lambda: (dataset.sha256(), dataset_figures(dataset)))
        computing = None
        try:
            computing = report_results_start(
                dataset, ci_method=report.ci_method, hsct_censors_dor=report.hsct_censors_dor, progress=progress
            )
            progress(70, _("Drawing the figures"))
            later_figures = results_figures(computing.results, computing.curves)  # the Cox model goes on
            results = computing.finish()
            dataset_hash, early_figures = early.result()
        finally:
            early.cancel()
            if computing is not None:
                computing.cancel()
        figures = figures_in_order(early_figures, later_figures)
        progress(95, _("Saving the results"))
        results["dataset_sha256"] = dataset_hash
        results["software_version"] = software_version()
        Report.objects.filter(pk=report_id).update(
            status=ReportStatus.SUCCEEDED, progress=100, step=_("Done"), results=results, figures=figures,
            dataset_sha256=dataset_hash, software_version=results["software_version"], finished_at=timezone.now(),
        )
    except TRANSIENT_DB_ERRORS:
        raise
    except Exception as error:  # anything else is the report's failure, told to the user
        logger.exception("Report %s failed", report_id)
        report_mark_failed(report_id=report_id, error=readable_error(error))


@contextmanager
def _heartbeat(*, report_id: int) -> Iterator[None]:
    """While the block runs, a thread sets the report's heartbeat every
    ANALYTICS_REPORT_HEARTBEAT_SECONDS on a connection of its own (the block may hold the
    caller's in a long statement), so that ``jobs_reap`` can tell a report whose worker died."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.ANALYTICS_REPORT_HEARTBEAT_SECONDS):
                try:
                    Report.objects.filter(pk=report_id, status=ReportStatus.RUNNING).update(
                        heartbeat_at=timezone.now())
                except DatabaseError as error:  # the next beat reconnects
                    logger.warning("Report %s: heartbeat not recorded (%s)", report_id, error)
                    connection.close()
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"report-{report_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def jobs_reap() -> dict[str, int]:
    """Mark failed, with the reason, the background jobs whose worker died or whose task was
    lost: reports running with no heartbeat for ANALYTICS_REPORT_STALE_AFTER seconds or still
    queued after ANALYTICS_REPORT_QUEUED_MAX, and check runs still running after
    DATA_CHECKS_STALE_AFTER (longer than their task may run). Returns how many of each.

    Check runs are reaped here, beside reports, because analytics may import every app."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.ANALYTICS_REPORT_STALE_AFTER)
    died = Report.objects.filter(status=ReportStatus.RUNNING).filter(
        models.Q(heartbeat_at__lt=stale) | models.Q(heartbeat_at__isnull=True, started_at__lt=stale))
    reports = died.update(status=ReportStatus.FAILED, step=_("Failed"), finished_at=now, error=_(
        "The worker running this report stopped (restarted or out of memory). Start the report again."))
    lost = Report.objects.filter(status=ReportStatus.QUEUED,
                                 requested_at__lt=now - dt.timedelta(seconds=settings.ANALYTICS_REPORT_QUEUED_MAX))
    reports += lost.update(status=ReportStatus.FAILED, step=_("Failed"), finished_at=now, error=_(
        "No worker took this report from the job queue. Start the report again."))
    check_runs = DataCheckRun.objects.filter(
        status=CheckRunStatus.RUNNING, started_at__lt=now - dt.timedelta(seconds=settings.DATA_CHECKS_STALE_AFTER),
    ).update(status=CheckRunStatus.FAILED, finished_at=now, error=_(
        "The worker running these checks stopped, or no worker took them. Run the checks again."))
    if reports or check_runs:
        logger.warning("Reaped %s reports and %s check runs whose worker died", reports, check_runs)
    return {"reports": reports, "check_runs": check_runs}
