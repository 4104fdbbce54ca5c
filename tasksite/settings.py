"""Settings for the task reminders project, read from the environment.

The variables and their defaults are listed in docs/operations.md ("Configuration").
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from reminders_app.conf import DEFAULTS as REMINDERS
from reminders_app.conf import MAX_WINDOW_HOURS, MAX_WORKERS
from reminders_app.mailer import SMTP_BACKEND, mail_settings
from tasksite.env import (
    env_address,
    env_basic_auth,
    env_bool,
    env_choice,
    env_class_path,
    env_dotted_paths,
    env_list,
    env_non_negative,
    env_number,
    env_redis_url,
    env_time_of_day,
    env_time_zone,
    env_url,
    env_url_template,
)
from tasksite.log_format import JSON_FORMATTER, STDERR_HANDLER

BASE_DIR = Path(__file__).resolve().parent.parent

# Production is the default: development (`make demo`, `make test`, runserver in the
# README) turns debug on with DJANGO_DEBUG=true.
DEBUG = env_bool("DJANGO_DEBUG", False)

_DEV_SECRET_KEY = "django-insecure-development-key-not-for-production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "") or _DEV_SECRET_KEY
# Keys retired by a rotation, newest first: what they signed (sessions, the unsubscribe
# links in mail already sent) stays valid while they are listed (docs/deploy.md).
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", "")


def _weak(key: str) -> bool:
    """What Django's check --deploy calls weak (security.W009, W025)."""
    return len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-")


if not DEBUG:
    # Keys are never echoed, only their length.
    if SECRET_KEY == _DEV_SECRET_KEY:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false")
    if _weak(SECRET_KEY):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be at least 50 random characters when DJANGO_DEBUG is false "
            f"(it has {len(SECRET_KEY)})"
        )
    for _number, _key in enumerate(SECRET_KEY_FALLBACKS, 1):
        if _weak(_key):
            raise ImproperlyConfigured(
                f"DJANGO_SECRET_KEY_FALLBACKS: key {_number} of {len(SECRET_KEY_FALLBACKS)} "
                f"must be at least 50 random characters (it has {len(_key)})"
            )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

# --- HTTPS (docs/deploy.md): on by default in production ---------------------------
# Behind a proxy that terminates TLS, trust its X-Forwarded-Proto header, and only then:
# a client could send the header itself to a server it reaches directly.
SECURE_PROXY_SSL_HEADER = None
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# A load balancer probes these over plain HTTP; a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# One year, as the browsers' preload lists require; 0 sends no HSTS header.
SECURE_HSTS_SECONDS = env_non_negative("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
# Cookies are Secure whenever the site is served over HTTPS. Plain HTTP (the redirect
# turned off with no proxy trusted, e.g. a smoke test on localhost) would otherwise
# never get its session or CSRF cookie back, and nobody could log in.
_HTTPS = SECURE_SSL_REDIRECT or SECURE_PROXY_SSL_HEADER is not None
SESSION_COOKIE_SECURE = _HTTPS
CSRF_COOKIE_SECURE = _HTTPS
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
for _origin in CSRF_TRUSTED_ORIGINS:
    if not _origin.startswith(("https://", "http://")):
        raise ImproperlyConfigured(
            f"DJANGO_CSRF_TRUSTED_ORIGINS must list origins such as https://example.com, "
            f"not {_origin!r}"
        )

INSTALLED_APPS = [
    "reminders_app.admin_site.RemindersAdminConfig",  # django.contrib.admin
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Before django_q: its `qcluster` runs this project's cluster (tasksite/worker/cluster.py).
    "tasksite.worker",
    "django_q",
    "axes",  # login lockout; its AccessAttempt admin shows and resets lockouts
    "anymail",  # providers' bounce and complaint webhooks (tasksite/urls.py)
    "tasks_app",
    "reminders_app",
    "tasksite.demo",  # `manage.py seed_demo`, for `make demo`
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collectstatic's output (hashed, compressed) from the web process itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: answers a locked-out login with 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tasksite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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
# SQLite builds tasks_app's covering index without its INCLUDE column, which only
# PostgreSQL uses (index-only scans); Django 6.1's checks say so on every run.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Login lockout (django-axes) ---------------------------------------------
# After DJANGO_LOGIN_FAILURE_LIMIT failed logins for one username from one address,
# every login for that pair, the right password included, is refused for
# DJANGO_LOGIN_COOLOFF_MINUTES; after DJANGO_LOGIN_USER_FAILURE_LIMIT for one username
# from any addresses, every login for that username is (tasksite/login_lockout.py).
# Staff see and lift lockouts in the admin (Axes > Access attempts: deleting the
# attempts lifts it). axes logs the lockout with the username and address masked and
# never the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_number("DJANGO_LOGIN_FAILURE_LIMIT", 5, integer=True, maximum=1000)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_number("DJANGO_LOGIN_COOLOFF_MINUTES", 60, maximum=365 * 24 * 60)
)
LOGIN_USER_FAILURE_LIMIT = env_number(
    "DJANGO_LOGIN_USER_FAILURE_LIMIT", 20, integer=True, maximum=100_000
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "tasksite.login_lockout.UsernameAndAddressHandler"
# Tries during a lockout do not extend it: it ends COOLOFF minutes after it began.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True  # a successful login forgets earlier typos
AXES_VERBOSE = False  # no start-up line in every command's output
# REMOTE_ADDR, or behind trusted proxies the address they forward (tasksite/client_ip.py):
# how many proxies in front append to X-Forwarded-For, read only with
# DJANGO_SECURE_PROXY_SSL_HEADER; 0 ignores the header.
TRUSTED_PROXIES = env_non_negative("DJANGO_TRUSTED_PROXIES", 1, maximum=20)
AXES_CLIENT_IP_CALLABLE = "tasksite.client_ip.client_ip"

# The languages people's mail comes in (their ReminderPreference.language, offered by
# the admin), with the pages it links to: a catalogue for each in reminders_app/locale
# (docs/email.md, "Languages"). LANGUAGE_CODE is the site's: the mail of people without
# a language of their own, and the admin's.
LANGUAGES = [("en", "English"), ("de", "German")]
LANGUAGE_CODE = env_choice("LANGUAGE_CODE", "en", [code for code, _ in LANGUAGES])
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Times to the second with their zone, e.g. 2026-11-29 14:03:07 UTC (tasksite/formats).
FORMAT_MODULE_PATH = ["tasksite.formats"]

STATIC_URL = "static/"
# `collectstatic` (run by `make serve`) writes here; whitenoise serves it.
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", "") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # In production, names carry a hash of the content (cached for a year) and gzip
    # copies sit beside them; that needs collectstatic's manifest. In debug (runserver,
    # the tests) the files are served as they are from each app, no collectstatic needed.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Reminders -------------------------------------------------------------
# The model reminders are for: this project's own (tasks_app), whose field names are
# the roles' own, so REMINDER_TASK_FIELDS is not needed.
REMINDER_TASK_MODEL = "tasks_app.Task"
# Each number has a ceiling (docs/operations.md, "Configuration"): a value past it would
# overflow a date, a column or a query before it could mean anything.
REMINDER_WINDOW_HOURS = env_number(
    "REMINDER_WINDOW_HOURS", REMINDERS["REMINDER_WINDOW_HOURS"], maximum=MAX_WINDOW_HOURS
)
# A claim older than this, left by a run that died, may be taken over. Claims are
# dated per batch, so it must exceed the time one batch takes to deliver, not a
# whole run (that is bounded by Q_CLUSTER["timeout"] below).
REMINDER_CLAIM_TIMEOUT_SECONDS = env_number(
    "REMINDER_CLAIM_TIMEOUT_SECONDS",
    REMINDERS["REMINDER_CLAIM_TIMEOUT_SECONDS"],
    integer=True,
    maximum=365 * 24 * 3600,
)
REMINDER_MAX_ATTEMPTS = env_number(
    "REMINDER_MAX_ATTEMPTS", REMINDERS["REMINDER_MAX_ATTEMPTS"], integer=True, maximum=1000
)
# How a reminder is delivered: a dotted path to a reminders_app.channels.Channel.
REMINDER_CHANNEL = os.environ.get("REMINDER_CHANNEL", "") or REMINDERS["REMINDER_CHANNEL"]
# Deliveries at once for a channel that acts outside the database: each on a thread
# with its own reused connection to the relay (docs/email.md, "Delivery").
REMINDER_DELIVERY_CONCURRENCY = env_number(
    "REMINDER_DELIVERY_CONCURRENCY",
    REMINDERS["REMINDER_DELIVERY_CONCURRENCY"],
    integer=True,
    maximum=256,
)
# The site's public address: links in mail, and the domain of their Message-IDs.
SITE_URL = env_url("SITE_URL", REMINDERS["SITE_URL"])
# The task's page in the product, linked from each mail ("{task_id}" filled in);
# unset, mail carries no task link (docs/email.md).
REMINDER_TASK_URL = env_url_template("REMINDER_TASK_URL") or REMINDERS["REMINDER_TASK_URL"]

# Mail, for REMINDER_CHANNEL=reminders_app.channels.EmailChannel (docs/deploy.md, "Mail"):
# the same variables on either Django, written in the form it reads
# (reminders_app/mailer.py): MAILERS' default mailer on Django 6.1, which deprecates the
# EMAIL_* settings, and the EMAIL_* settings on 5.2. EMAIL_HOST to EMAIL_TIMEOUT are the
# options of Django's SMTP backend, the default EMAIL_BACKEND.
_EMAIL_BACKEND = env_class_path("EMAIL_BACKEND", SMTP_BACKEND)
_SMTP_OPTIONS = {
    "host": os.environ.get("EMAIL_HOST", "") or "localhost",
    "port": env_number("EMAIL_PORT", 25, integer=True, maximum=65535),
    "username": os.environ.get("EMAIL_HOST_USER", ""),
    "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
    "use_tls": env_bool("EMAIL_USE_TLS", False),  # STARTTLS, usually port 587
    "use_ssl": env_bool("EMAIL_USE_SSL", False),  # TLS from the start, usually port 465
    # A mail server that hangs fails its reminder instead of the run.
    "timeout": env_number("EMAIL_TIMEOUT", 10, maximum=3600),
}
if _SMTP_OPTIONS["use_tls"] and _SMTP_OPTIONS["use_ssl"]:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true")
globals().update(
    mail_settings(_EMAIL_BACKEND, **(_SMTP_OPTIONS if _EMAIL_BACKEND == SMTP_BACKEND else {}))
)
# With a display name, as reminders go out: "Task reminders <reminders@example.com>".
DEFAULT_FROM_EMAIL = env_address("DEFAULT_FROM_EMAIL", "Task reminders <reminders@localhost>")
# Mail providers' bounce and complaint webhooks, django-anymail's views at /anymail/
# (docs/email.md, "Suppressions"): the user:password a provider must send (HTTP basic
# auth). Unset, tasksite/urls.py does not serve them (404) and check --deploy warns.
ANYMAIL = {}
if _webhook_secret := env_basic_auth("ANYMAIL_WEBHOOK_SECRET"):
    ANYMAIL["WEBHOOK_SECRET"] = _webhook_secret
# The zone of recipients without a preference of their own.
REMINDER_DEFAULT_TIME_ZONE = env_time_zone(
    "REMINDER_DEFAULT_TIME_ZONE", REMINDERS["REMINDER_DEFAULT_TIME_ZONE"]
)
# When a task due on a day (a host's date-only due date) falls due, in the
# recipient's zone.
REMINDER_DUE_TIME = env_time_of_day("REMINDER_DUE_TIME", REMINDERS["REMINDER_DUE_TIME"])
# Bearer token for /metrics; unset, /metrics answers only in debug mode.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
# Rows claimed and written per transaction (SQLite binds two values per row).
REMINDER_BATCH_SIZE = env_number(
    "REMINDER_BATCH_SIZE", REMINDERS["REMINDER_BATCH_SIZE"], integer=True, maximum=10_000
)

# Parts a run started by the schedule or the admin's Send now spreads over, each a
# django-q2 task (docs/operations.md, "Spreading a run"): the relay sees parts x
# REMINDER_DELIVERY_CONCURRENCY connections.
REMINDER_WORKERS = env_number(
    "REMINDER_WORKERS", REMINDERS["REMINDER_WORKERS"], integer=True, maximum=MAX_WORKERS
)

# --- Logging: one JSON object per line on stderr, from every logger ----------
# Django's SuspiciousOperation and its subclasses (core, admin, sessions), each logged
# under django.security.<class name>.
SUSPICIOUS_OPERATIONS = [
    "SuspiciousOperation",
    "DisallowedHost",
    "DisallowedRedirect",
    "RequestDataTooBig",
    "TooManyFieldsSent",
    "TooManyFilesSent",
    "SuspiciousMultipartForm",
    "SuspiciousFileOperation",
    "DisallowedModelAdminLookup",
    "DisallowedModelAdminToField",
    "SuspiciousSession",
    "InvalidSessionKey",
]
# Python's warnings too (tasksite/log_format.py).
LOGGING_CONFIG = "tasksite.log_format.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Shared with gunicorn's own lines (tasksite/gunicorn.conf.py).
    "formatters": {"json": JSON_FORMATTER},
    "filters": {
        "client_error": {"()": "tasksite.log_filters.ClientErrorAsWarning"},
        "probe_unavailable": {"()": "tasksite.log_filters.ProbeUnavailableAsWarning"},
    },
    "handlers": {"stderr": STDERR_HANDLER},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        # Django's own loggers propagate to the root handler above.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # A client's bad request (a Host not in ALLOWED_HOSTS, an admin lookup or
        # to_field not allowed, a body too big...): Django answers 400 and logs the
        # SuspiciousOperation to django.security.<its class> at ERROR with a
        # traceback; here one WARNING line.
        **{
            f"django.security.{name}": {"filters": ["client_error"], "propagate": True}
            for name in SUSPICIOUS_OPERATIONS
        },
        # /healthz or /readyz answering 503: one WARNING line.
        "django.request": {"filters": ["probe_unavailable"], "propagate": True},
    },
}

# --- django-q2 cluster (`python manage.py qcluster`) --------------------------
# docs/operations.md ("Running the worker") explains each value.
DAY = 24 * 3600
Q_CLUSTER_TIMEOUT = env_number("Q_CLUSTER_TIMEOUT", 540, integer=True, maximum=DAY)
Q_CLUSTER_RETRY = env_number("Q_CLUSTER_RETRY", 900, integer=True, maximum=2 * DAY)
if Q_CLUSTER_TIMEOUT >= Q_CLUSTER_RETRY:
    # The broker would hand the job to a second worker while the first still runs it.
    raise ImproperlyConfigured(
        f"Q_CLUSTER_TIMEOUT ({Q_CLUSTER_TIMEOUT}) must be below Q_CLUSTER_RETRY ({Q_CLUSTER_RETRY})"
    )
# REMINDER_CLAIM_TIMEOUT_SECONDS should exceed the timeout: check reminders_app.W003.
# A redis:// URL selects django-q2's Redis broker (tasksite/redis_broker.py): every
# cluster sharing it takes tasks from one list. Unset: the ORM broker on the default
# database, with delivery receipts and no extra service.
Q_CLUSTER_REDIS = env_redis_url("Q_CLUSTER_REDIS")
Q_CLUSTER = {
    "name": "reminders",
    **(
        {"redis": Q_CLUSTER_REDIS, "broker_class": "tasksite.redis_broker.PatientRedis"}
        if Q_CLUSTER_REDIS
        else {"orm": "default"}
    ),
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
# The cluster runs reminders_app's own functions (reminders_app/allowed.py) and these,
# nothing else a schedule or a queued task names (docs/operations.md, "Security").
# reminders_app leaves the guard off unless a project sets this; this one always does.
Q_CLUSTER_ALLOWED_FUNCTIONS = env_dotted_paths("Q_CLUSTER_ALLOWED_FUNCTIONS")

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Cluster statistics for `qmonitor` and `qinfo`, which run in other processes
    # than the cluster, so the cache must be shared: a table in the database.
    "django_q": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "django_q_cache",
    },
}
