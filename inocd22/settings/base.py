"""Settings shared by every environment, read from the environment (12-factor).

Environment variables:
    DATABASE_URL       database (default: the embedded SQLite file var/inocd22.sqlite3)
    CELERY_BROKER_URL  broker (default: none, tasks run eagerly in-process)
    DJANGO_SECRET_KEY  signing key (required in production)
    ALLOWED_HOSTS      comma-separated host names
    DEBUG              true/false
"""

from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
    "simple_history",
    "axes",
    "sites",
    "patients",
    "treatments",
    "outcomes",
    "analytics",
    "redcap_api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "inocd22.middleware.NoStoreMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "sites.middleware.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy: scripts, styles, fonts and frames from this site only; no inline
# script and no inline style (templates use the classes of static/css/app.css). Images may also
# be data: URIs (the QR code of the two-factor enrolment).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

ROOT_URLCONF = "inocd22.urls"
WSGI_APPLICATION = "inocd22.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'inocd22.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# API tokens expire this many days after they are made.
API_TOKEN_LIFETIME_DAYS = env.int("API_TOKEN_LIFETIME_DAYS", default=30)

# Two-factor sign-in (an authenticator app's TOTP code after the password) for every role; the
# electronic signature then asks for the code too. On in production, off locally and in tests.
TWO_FACTOR_REQUIRED = env.bool("TWO_FACTOR_REQUIRED", default=False)
OTP_TOTP_ISSUER = "INO-CD22 registry"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sessions end after 30 minutes without a request.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Login throttling: five failures lock the username from that address for 15 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("it", _("Italiano"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Rome"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "sites.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON refused when too deeply nested or not valid Unicode text (400, never a 500).
    "DEFAULT_PARSER_CLASSES": [
        "inocd22.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    # An unknown query parameter of a list is refused, never ignored.
    "DEFAULT_FILTER_BACKENDS": ["patients.api.filters.KnownQueryParameters",
                                "django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "INO-CD22 registry API",
    "DESCRIPTION": "Case report forms and de-identified exports of the INO-CD22 registry.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Celery: with no broker the tasks run eagerly in-process (the embedded default);
# with CELERY_BROKER_URL set they go to the broker's workers (Redis in production).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# A job's outcome lives in its row (status, progress, error): nothing reads the result
# backend, and subscribing to it made a dead broker cost 20 s of reconnection per request.
CELERY_TASK_IGNORE_RESULT = True
# A broker that cannot be reached is said at once: a short connect timeout and one quick
# retry, then the job's row is failed and the user told (sites/jobs.py).
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT}

SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
SIMPLE_HISTORY_REVERT_DISABLED = True

# The password of every demo user made by `manage.py seed_demo`.
DEMO_PASSWORD = env("DEMO_PASSWORD", default="demo-inocd22")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # Chatty libraries (WeasyPrint and fontTools log every rendering step at INFO): progress
    # noise, not events.
    "loggers": {name: {"level": "WARNING"} for name in ("weasyprint", "fontTools", "matplotlib", "PIL")},
}

# Analysis reports: the Celery queue and the time limits of the report task.
ANALYTICS_REPORT_QUEUE = env("ANALYTICS_REPORT_QUEUE", default="celery")
ANALYTICS_REPORT_SOFT_TIME_LIMIT = env.int("ANALYTICS_REPORT_SOFT_TIME_LIMIT", default=30 * 60)
ANALYTICS_REPORT_TIME_LIMIT = ANALYTICS_REPORT_SOFT_TIME_LIMIT + 60
# A running report sets its heartbeat this often; with none for STALE_AFTER seconds its worker
# is taken as dead and the reaper (analytics.jobs_reap, every minute) marks it failed, as it
# does a report still queued after QUEUED_MAX seconds (its message was lost with the broker).
ANALYTICS_REPORT_HEARTBEAT_SECONDS = env.float("ANALYTICS_REPORT_HEARTBEAT_SECONDS", default=15)
ANALYTICS_REPORT_STALE_AFTER = env.float("ANALYTICS_REPORT_STALE_AFTER", default=120)
ANALYTICS_REPORT_QUEUED_MAX = env.int("ANALYTICS_REPORT_QUEUED_MAX", default=24 * 3600)
# Imports of sites' files (dry runs and imports): the Celery queue of their task, so that a
# deployment can give large imports workers of their own.
SITE_IMPORT_QUEUE = env("SITE_IMPORT_QUEUE", default="celery")
# A message a worker took but never acknowledged (the worker died) goes back to the queue after
# the visibility timeout: longer than the longest job, or a running report would be started
# twice. The restart sweep looks for such messages every CELERY_UNACKED_RESTORE_INTERVAL s.
CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = env.int(
    "CELERY_VISIBILITY_TIMEOUT", default=ANALYTICS_REPORT_TIME_LIMIT + 5 * 60)
CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_interval"] = env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10)
CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_throttle"] = 1

# English pages show dates as typed, year first (inocd22/formats/en).
FORMAT_MODULE_PATH = ["inocd22.formats"]

# Data management. The automatic checks across casebooks run every night; an alive
# patient's follow-up is queried when the last contact is more than N months before the cut-off
# (DATA_CHECKS_CUTOFF, ISO date; unset: the day of the run).
import datetime as _dt  # noqa: E402

from celery.schedules import crontab  # noqa: E402

DATA_CHECKS_CUTOFF = _dt.date.fromisoformat(env("DATA_CHECKS_CUTOFF")) if env("DATA_CHECKS_CUTOFF", default="") else None
DATA_CHECKS_FOLLOW_UP_MONTHS = env.int("DATA_CHECKS_FOLLOW_UP_MONTHS", default=12)
DATA_CHECKS_SYSTEM_USERNAME = "system-checks"
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "casebook-checks-nightly": {
        "task": "patients.tasks.casebook_checks_nightly",
        "schedule": crontab(hour=2, minute=30),
    },
    "jobs-reap": {"task": "analytics.jobs_reap", "schedule": 60.0},
}
# A check run still running after this many seconds has lost its worker (the task's hard limit
# is shorter): the reaper marks it failed.
DATA_CHECKS_TIME_LIMIT = env.int("DATA_CHECKS_TIME_LIMIT", default=60 * 60)
DATA_CHECKS_STALE_AFTER = DATA_CHECKS_TIME_LIMIT + 10 * 60

# REST API errors as JSON (domain exceptions mapped to 400/403/409), schema error responses.
REST_FRAMEWORK["EXCEPTION_HANDLER"] = "patients.api.errors.api_exception_handler"
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "patients.api.schema.schema_error_responses",
]
SPECTACULAR_SETTINGS["COMPONENT_SPLIT_REQUEST"] = True
# One name per shared choice set in the OpenAPI schema.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "ResponseCategoryEnum": "treatments.models.ResponseCategory",
    "FormStatusEnum": "patients.models.FormStatus",
    "ReportStatusEnum": "analytics.models.ReportStatus",
    "ExportStatusEnum": "analytics.models.ExportStatus",
}
