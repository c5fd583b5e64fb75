"""The Celery application. Configuration comes from Django settings (CELERY_*)."""

import logging
import os
import threading

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "inocd22.settings.local")

app = Celery("inocd22")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)
_embedded_worker_lock = threading.Lock()
_embedded_worker = None


def embedded_worker_start():
    """A Celery worker in a thread of this process, consuming the in-memory broker
    (`CELERY_BROKER_URL = "memory://"`, settings.local with CELERY_WORKER_IN_PROCESS): the
    demo's jobs run off the request, through the broker, as production's workers run them,
    with no broker or worker process to install. One worker, one job at a time; jobs still
    queued when the process stops are lost (their rows are failed by the reaper)."""
    global _embedded_worker
    with _embedded_worker_lock:
        if _embedded_worker is not None:
            return _embedded_worker
        # The bare WorkController: the command-line Worker installs signal handlers, which
        # only the main thread may do.
        _embedded_worker = app.WorkController(
            pool_cls="solo", concurrency=1, hostname="embedded@%h", without_heartbeat=True, without_mingle=True,
            without_gossip=True, loglevel="INFO",
        )
        threading.Thread(target=_embedded_worker.start, name="celery-embedded-worker", daemon=True).start()
        logger.info("Embedded Celery worker started (in-memory broker).")
        return _embedded_worker
