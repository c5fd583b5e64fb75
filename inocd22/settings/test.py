"""Test settings: PostgreSQL when DATABASE_URL is set (CI), else the embedded SQLite."""

from .base import *  # noqa: F403
from .base import VAR_DIR, env

VAR_DIR.mkdir(exist_ok=True)

DEBUG = False
SECRET_KEY = "test-only-not-secret"  # noqa: S105 (tests only: production has no default)
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
# Hashing strength is not under test; speed is.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AXES_ENABLED = env.bool("AXES_ENABLED", default=False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Tasks run eagerly in tests even when CELERY_BROKER_URL is set; only the
# real-worker fixture (tests/analytics/celery_worker.py) turns this off for its tests.
CELERY_TASK_ALWAYS_EAGER = True
