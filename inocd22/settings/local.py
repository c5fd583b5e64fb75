"""Local development: the embedded SQLite database and eager Celery unless told otherwise.

CELERY_WORKER_IN_PROCESS=true (what `make demo` sets): jobs go through an in-memory broker
to a worker thread of the web process (inocd22.celery.embedded_worker_start, started by
inocd22.wsgi), so a report runs off the request and its progress shows, as in production."""

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR, env

VAR_DIR.mkdir(exist_ok=True)

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-development-only-not-secret")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

CELERY_WORKER_IN_PROCESS = env.bool("CELERY_WORKER_IN_PROCESS", default=False)
if CELERY_WORKER_IN_PROCESS:
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = False
    CELERY_RESULT_BACKEND = None
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The worker thread writes a job's progress while pages read: readers do not wait for a
    # writer (WAL), a writer waits for another rather than failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"})
# Static files from the apps' and the project's folders, with no collectstatic, also when
# DEBUG is off (the demo runs so, to show the site's own error pages).
WHITENOISE_USE_FINDERS = True
