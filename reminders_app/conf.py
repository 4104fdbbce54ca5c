"""reminders_app's settings, each with its default here: a host project sets only
what it changes (django-post-office's get_config() way), and nothing of the
project that ships this app (tasksite) is needed.

Modules of reminders_app read settings through `reminders_app.conf.settings`,
which answers Django's settings first and these defaults second, so a test's
override_settings() or the `settings` fixture reaches them as usual.

The task model is the host's: REMINDER_TASK_MODEL names it ("app_label.Model"),
REMINDER_TASK_FIELDS maps the roles the app reads to its field names, and
reminders_app.roles reads the model through them.
"""

import math
from dataclasses import dataclass
from datetime import time
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

# The longest look-ahead window a run or `send_reminders --window-hours` takes: a
# hundred years, so the window's end (and a retry after it) stays a date.
MAX_WINDOW_HOURS = 100 * 365 * 24
# The most parts one run spreads over (REMINDER_WORKERS, `send_reminders --workers`).
MAX_WORKERS = 64

DEFAULTS = {
    # The model reminders are for ("app_label.ModelName"): the host sets it (check
    # reminders_app.E003 says so when it does not), and the names of its fields for each
    # role, where they differ from the roles' own names.
    "REMINDER_TASK_MODEL": None,
    "REMINDER_TASK_FIELDS": {},
    # Field lookups an open task matches, such as {"status__in": [1, 2]}; they replace
    # the completed_at role. None: open means completed_at is null (or false).
    "REMINDER_TASK_OPEN": None,
    # The time of day ("HH:MM") a date-only due date falls due, in the recipient's zone.
    "REMINDER_DUE_TIME": "09:00",
    "REMINDER_WINDOW_HOURS": 24,
    # A claim older than this, left by a run that died, may be taken over. Claims
    # are dated per batch, so it must exceed the time one batch takes to deliver.
    "REMINDER_CLAIM_TIMEOUT_SECONDS": 600,
    "REMINDER_MAX_ATTEMPTS": 5,
    # How a reminder is delivered: a dotted path to a reminders_app.channels.Channel.
    "REMINDER_CHANNEL": "reminders_app.channels.EventChannel",
    # Deliveries at once for a channel that acts outside the database.
    "REMINDER_DELIVERY_CONCURRENCY": 16,
    # Rows claimed and written per transaction (SQLite binds two values per row).
    "REMINDER_BATCH_SIZE": 5000,
    # Parts a run started by the schedule or the admin's Send now spreads over, each a
    # django-q2 task that any worker of any cluster sharing the broker may take.
    "REMINDER_WORKERS": 1,
    # The zone of recipients without a preference of their own: due times are shown in
    # it, and a date-only due date falls due in it.
    "REMINDER_DEFAULT_TIME_ZONE": "UTC",
    # The site's public address: links in mail, and the domain of their Message-IDs.
    "SITE_URL": "http://127.0.0.1:8000",
    # Bearer token for /metrics; empty: /metrics answers only in debug mode.
    "METRICS_TOKEN": "",
    # The task's page in the product, "{task_id}" filled in, linked from each mail
    # (e.g. "https://app.example.com/tasks/{task_id}/"); empty: mail has no task link.
    "REMINDER_TASK_URL": "",
    # Dotted paths of functions the django-q2 cluster may run beyond this app's own
    # (reminders_app.allowed): a schedule or queued task naming any other is refused.
    # None (the default) leaves the guard off: the host's django-q2 use is its own.
    "Q_CLUSTER_ALLOWED_FUNCTIONS": None,
}


class AppSettings:
    """Django's settings, falling back to DEFAULTS for the app's own names."""

    def __getattr__(self, name: str):
        try:
            return getattr(django_settings, name)
        except AttributeError:
            if name in DEFAULTS:
                return DEFAULTS[name]
            raise


settings = AppSettings()


@dataclass(frozen=True, slots=True)
class TaskFields:
    """The task model's field name for each role reminders_app reads
    (reminders_app.roles says which kinds of field each may be)."""

    due_at: str = "due_at"  # when it falls due: a DateTimeField or a DateField
    completed_at: str = "completed_at"  # open while null (a date or time) or false
    owner: str = "owner"  # who is reminded: a ForeignKey or ManyToManyField to users
    fallback_owner: str | None = None  # reminded when owner names nobody: a ForeignKey
    title: str = "title"  # what the task is called in mail and admin


ROLES = tuple(TaskFields.__dataclass_fields__)


def task_fields() -> TaskFields:
    """REMINDER_TASK_FIELDS over the default names; ImproperlyConfigured for a role
    that does not exist or a name that is not text."""
    mapping = settings.REMINDER_TASK_FIELDS
    if not isinstance(mapping, dict):
        raise ImproperlyConfigured("REMINDER_TASK_FIELDS must be a dict of role: field name")
    unknown = sorted(set(mapping) - set(ROLES))
    if unknown:
        raise ImproperlyConfigured(
            f"REMINDER_TASK_FIELDS has unknown roles {unknown}; the roles are {list(ROLES)}"
        )
    for role, name in mapping.items():
        optional = role == "fallback_owner" and name is None
        if not optional and (not isinstance(name, str) or not name):
            raise ImproperlyConfigured(f"REMINDER_TASK_FIELDS[{role!r}] must be a field name")
    return TaskFields(**mapping)


def task_model_name() -> str:
    """REMINDER_TASK_MODEL, for the reminder log's foreign key and its migrations.

    Until a host sets it, the user model stands in, so that the app still loads and
    every command stops at check reminders_app.E003, which says in one line what to
    set (a missing model would be a traceback from the admin or the migration graph)."""
    return settings.REMINDER_TASK_MODEL or django_settings.AUTH_USER_MODEL


def task_model():
    """The model class REMINDER_TASK_MODEL names."""
    name = settings.REMINDER_TASK_MODEL
    if not name:
        raise ImproperlyConfigured(
            "REMINDER_TASK_MODEL is not set: name the model your tasks are, such as "
            "REMINDER_TASK_MODEL = 'todo.Item' (docs/reusable-app.md)"
        )
    try:
        return apps.get_model(name, require_ready=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"REMINDER_TASK_MODEL must be of the form 'app_label.ModelName', not {name!r}"
        ) from None
    except LookupError:
        raise ImproperlyConfigured(
            f"REMINDER_TASK_MODEL refers to {name!r}, which is not an installed model"
        ) from None


def positive(raw: str, *, maximum: float, integer: bool = False) -> float:
    """A finite number (or integer) greater than zero and at most `maximum`;
    ValueError saying what it must be.

    Every number has a ceiling: past it a value would overflow a date, a database
    column or a query limit far from where it was typed. Shared by the commands'
    argparse types and the project's environment readers.
    """
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise ValueError(f"must be {'an integer' if integer else 'a number'}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError("must be greater than 0")
    if value > maximum:
        raise ValueError(f"must be at most {maximum:,g}")
    return value


def parse_time_of_day(raw: str) -> time:
    """A time of day written "HH:MM" (24-hour clock); ValueError saying what it must be."""
    hours, _, minutes = str(raw).partition(":")
    if not (len(hours) == len(minutes) == 2 and hours.isdigit() and minutes.isdigit()):
        raise ValueError("must be a time of day written HH:MM, such as 09:00")
    try:
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError("must be a time of day written HH:MM, such as 09:00") from None


def check_task_url(template: str) -> None:
    """ValueError saying what is wrong with a REMINDER_TASK_URL template: it must be
    an absolute http(s) URL with `{task_id}` in it, and no other placeholder."""
    example = "such as https://app.example.com/tasks/{task_id}/"
    try:
        filled = template.format(task_id=1)
    except (KeyError, IndexError, ValueError):
        raise ValueError(f"must have no placeholder but {{task_id}}, {example}") from None
    if "{task_id}" not in template:
        raise ValueError(f"must have {{task_id}} in it, {example}")
    parts = urlsplit(filled)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL, {example}")
