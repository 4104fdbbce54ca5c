"""Settings for the task reminders project, read from the environment.

The variables and their defaults are listed in README.md ("Configuration").
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from tasksite.env import env_bool, env_list, env_number

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", True)

_DEV_SECRET_KEY = "django-insecure-development-key-not-for-production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "") or _DEV_SECRET_KEY
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "reminders_app.admin_site.RemindersAdminConfig",  # django.contrib.admin
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "tasks_app",
    "reminders_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tasksite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "tasksite.wsgi.application"


def _database_from_env() -> dict:
    url = os.environ.get("DATABASE_URL", "").strip() or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    try:
        config = dj_database_url.parse(url, conn_max_age=0)
    except Exception as exc:  # the parser raises several types for bad URLs
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from None
    engine = config.get("ENGINE", "")
    if engine == "django.db.backends.sqlite3":
        # IMMEDIATE takes the write lock when a transaction starts, so two
        # writers queue on `timeout` instead of failing to upgrade a read lock.
        config["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
    elif engine != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            f"DATABASE_URL must name PostgreSQL or SQLite, not {url.split(':', 1)[0]!r}"
        )
    elif not config.get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL must name a database")
    else:
        config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    return config


DATABASES = {"default": _database_from_env()}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Times to the second with their zone, e.g. 2026-11-29 14:03:07 UTC (tasksite/formats).
FORMAT_MODULE_PATH = ["tasksite.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Reminders -------------------------------------------------------------
# Each number has a ceiling (README, "Configuration"): a value past it would
# overflow a date, a column or a query before it could mean anything.
MAX_WINDOW_HOURS = 100 * 365 * 24  # also send_reminders --window-hours
REMINDER_WINDOW_HOURS = env_number("REMINDER_WINDOW_HOURS", 24, maximum=MAX_WINDOW_HOURS)
# A claim older than this, left by a run that died, may be taken over. Claims are
# dated per batch, so it must exceed the time one batch takes to deliver, not a
# whole run (that is bounded by Q_CLUSTER["timeout"] below).
REMINDER_CLAIM_TIMEOUT_SECONDS = env_number(
    "REMINDER_CLAIM_TIMEOUT_SECONDS", 600, integer=True, maximum=365 * 24 * 3600
)
REMINDER_MAX_ATTEMPTS = env_number("REMINDER_MAX_ATTEMPTS", 5, integer=True, maximum=1000)
# How a reminder is delivered: a dotted path to a reminders_app.channels.Channel.
REMINDER_CHANNEL = os.environ.get("REMINDER_CHANNEL", "") or "reminders_app.channels.EventChannel"

# Mail, for REMINDER_CHANNEL=reminders_app.channels.EmailChannel.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "") or "localhost"
EMAIL_PORT = env_number("EMAIL_PORT", 25, integer=True, maximum=65535)
EMAIL_TIMEOUT = 30  # a mail server that hangs fails its reminder instead of the run
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "") or "reminders@localhost"
# Bearer token for /metrics; unset, /metrics answers only in debug mode.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
# Rows claimed and written per transaction (SQLite binds two values per row).
REMINDER_BATCH_SIZE = env_number("REMINDER_BATCH_SIZE", 5000, integer=True, maximum=10_000)

# --- Logging: one JSON object per line on stderr, from every logger ----------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            # orjson serialises a run's hundred thousand reminder lines twice as
            # fast as the standard library's json.
            "()": "pythonjsonlogger.orjson.OrjsonFormatter",
            "format": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,
        },
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "json",
        },
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        # Django's own loggers propagate to the root handler above.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

# --- django-q2 cluster (`python manage.py qcluster`) --------------------------
# README.md ("Running the worker") explains each value.
DAY = 24 * 3600
Q_CLUSTER_TIMEOUT = env_number("Q_CLUSTER_TIMEOUT", 540, integer=True, maximum=DAY)
Q_CLUSTER_RETRY = env_number("Q_CLUSTER_RETRY", 900, integer=True, maximum=2 * DAY)
if Q_CLUSTER_TIMEOUT >= Q_CLUSTER_RETRY:
    # The broker would hand the job to a second worker while the first still runs it.
    raise ImproperlyConfigured(
        f"Q_CLUSTER_TIMEOUT ({Q_CLUSTER_TIMEOUT}) must be below Q_CLUSTER_RETRY ({Q_CLUSTER_RETRY})"
    )
# REMINDER_CLAIM_TIMEOUT_SECONDS should exceed the timeout: check reminders_app.W003.
Q_CLUSTER = {
    "name": "reminders",
    "orm": "default",  # the ORM broker: delivery receipts, no extra service
    "workers": env_number("Q_CLUSTER_WORKERS", 2, integer=True, maximum=256),
    "timeout": Q_CLUSTER_TIMEOUT,
    "retry": Q_CLUSTER_RETRY,
    "max_attempts": env_number("Q_CLUSTER_MAX_ATTEMPTS", 3, integer=True, maximum=1000),
    "ack_failures": True,
    "catch_up": False,
    "poll": env_number("Q_CLUSTER_POLL", 1, maximum=3600),
    "guard_cycle": env_number("Q_CLUSTER_GUARD_CYCLE", 0.5, maximum=60),
    "cache": "django_q",
}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Cluster statistics for `qmonitor` and `qinfo`, which run in other processes
    # than the cluster, so the cache must be shared: a table in the database.
    "django_q": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "django_q_cache",
    },
}
