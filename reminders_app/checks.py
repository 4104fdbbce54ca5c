"""System checks (`manage.py check`, and at `qcluster` start) for the worker's setup.

The schedule checks read the database, and say nothing when it cannot be read
(before the first `migrate`, or with no database at hand): other commands report that.
"""

import pydoc

from django.apps import apps
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.utils.text import capfirst
from django_q.conf import Conf
from django_q.models import Schedule

from reminders_app.allowed import forbidden_schedules, schedule_detail, schedule_problem
from reminders_app.channels import get_channel
from reminders_app.conf import settings, task_fields, task_model
from reminders_app.roles import due_time, open_lookups, task_open_problem, task_role_problems
from reminders_app.schedule import JOB_FUNC, SCHEDULE_NAME


@register()
def check_schedule(app_configs=None, **kwargs):
    """Warn when the schedule row is missing or does not run the reminder job.

    Warnings, not errors: an error would stop `migrate`, the command that repairs both.
    """
    if app_configs is not None and not any(c.name == "reminders_app" for c in app_configs):
        return []
    try:
        schedule = Schedule.objects.filter(name=SCHEDULE_NAME).order_by("pk").first()
    except DatabaseError:
        return []
    repair = "Run `python manage.py migrate`, which restores it."
    if schedule is None:
        return [
            Warning(
                f"The django-q2 schedule {SCHEDULE_NAME!r} is missing: reminders are not sent "
                "every hour.",
                hint=repair,
                id="reminders_app.W001",
            )
        ]
    if schedule.func == JOB_FUNC:
        return []
    try:
        func = pydoc.locate(schedule.func)  # what django-q2's worker calls
    except Exception as exc:  # pydoc wraps whatever the module raised on import
        func, reason = None, f"importing it raised {type(exc).__name__}"
    else:
        reason = "it does not exist" if func is None else "it is not callable"
    if callable(func):
        problem = f"which is not the reminder job {JOB_FUNC}: no reminders are sent"
    else:
        problem = f"but {reason}: every scheduled run fails"
    return [
        Warning(
            f"The django-q2 schedule {SCHEDULE_NAME!r} runs {schedule.func!r}, {problem}.",
            hint=repair,
            id="reminders_app.W002",
        )
    ]


@register(deploy=True)
def check_allowed_functions(app_configs=None, **kwargs):
    """With the guard on, an error per schedule naming a function (or hook) the
    cluster refuses to run (reminders_app.allowed). A deploy check: it fails
    `check --deploy`, and never stops `migrate`, `qcluster` or any other command (the
    cluster starts, runs what is allowed and refuses the rest); `reminders_status`
    and /healthz report the same schedules."""
    if app_configs is not None and not any(c.name == "reminders_app" for c in app_configs):
        return []
    try:
        schedules = forbidden_schedules()
    except DatabaseError:
        return []
    # More than the probes say (an id): operators run this, on the server.
    return [
        Error(
            f"{capfirst(schedule_problem(schedule))} ({schedule_detail(schedule)}).",
            hint="The admin deletes it under Django Q > Scheduled tasks. Until then the "
            "cluster refuses to run it, and reminders_status and /healthz are unhealthy.",
            id="reminders_app.E002",
        )
        for schedule in schedules
    ]


@register()
def check_claim_timeout(app_configs=None, **kwargs):
    """Warn when a claim could be taken over while the cluster still runs its job.

    A warning, not a start-up error: a short claim timeout is what a test of crash
    recovery, or a channel with quick deliveries, may want.
    """
    timeout = Conf.TIMEOUT  # django-q2's, with its own default
    if timeout is None or timeout < settings.REMINDER_CLAIM_TIMEOUT_SECONDS:
        return []  # no cluster timeout (django-q2's default): nothing to compare
    return [
        Warning(
            f"REMINDER_CLAIM_TIMEOUT_SECONDS ({settings.REMINDER_CLAIM_TIMEOUT_SECONDS}) is not "
            f"above Q_CLUSTER_TIMEOUT ({timeout}): a later run may take over, and deliver "
            "again, claims of a scheduled run that is still delivering them.",
            hint="Raise REMINDER_CLAIM_TIMEOUT_SECONDS above Q_CLUSTER_TIMEOUT.",
            id="reminders_app.W003",
        )
    ]


@register()
def check_channel(app_configs=None, **kwargs):
    """An error when REMINDER_CHANNEL does not name a Channel: every run would fail."""
    try:
        get_channel()
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Set REMINDER_CHANNEL to a dotted path of a "
                "reminders_app.channels.Channel subclass.",
                id="reminders_app.E001",
            )
        ]
    return []


@register()
def check_task_model(app_configs=None, **kwargs):
    """Errors for a REMINDER_TASK_MODEL, REMINDER_TASK_FIELDS, REMINDER_TASK_OPEN or
    REMINDER_DUE_TIME the job cannot use, one line each; a warning naming the index
    the job's query needs for speed."""
    try:
        model, fields = task_model(), task_fields()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="reminders_app.E003")]
    errors = [
        Error(f"REMINDER_TASK_FIELDS: {problem}", id="reminders_app.E003")
        for problem in task_role_problems(model, fields)
    ]
    if problem := task_open_problem(model):
        errors.append(Error(problem, id="reminders_app.E003"))
    try:
        due_time()
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), id="reminders_app.E003"))
    if errors or _has_due_index(model, fields.due_at):
        return errors
    condition = ", ".join(
        f"{lookup}={value!r}"
        for lookup, value in {
            **open_lookups(model, fields),
            f"{fields.due_at}__isnull": False,
        }.items()
    )
    return [
        Warning(
            f"{model._meta.label} has no index on ({fields.due_at}, id): the reminder job "
            "reads open, dated tasks in that order, so each run scans the whole table.",
            hint=f"Add to {model.__name__}.Meta.indexes: models.Index(fields=["
            f"{fields.due_at!r}, 'id'], name=..., condition=models.Q({condition}))",
            id="reminders_app.W004",
        )
    ]


def _has_due_index(model, due_field: str) -> bool:
    """An index whose columns start with the due date and the primary key."""
    pk = {"id", "pk", model._meta.pk.name}
    return any(
        index.fields[:1] == [due_field] and (len(index.fields) == 1 or index.fields[1] in pk)
        for index in model._meta.indexes
    )


@register(deploy=True)
def check_webhook_secret(app_configs=None, **kwargs):
    """Warn, on `check --deploy`, when django-anymail is installed but has no
    WEBHOOK_SECRET: its tracking webhooks then either answer 404 (a project that, as
    this one, serves them only with a secret) or take anyone's posts, and bounces and
    complaints stop no mail."""
    if not apps.is_installed("anymail"):
        return []
    from anymail.utils import get_anymail_setting

    if get_anymail_setting("webhook_secret", default=None):
        return []
    return [
        Warning(
            "django-anymail has no WEBHOOK_SECRET: providers' bounce and complaint "
            "webhooks (/anymail/) are off, and a bounced or complaining address is "
            "mailed again.",
            hint='Set ANYMAIL["WEBHOOK_SECRET"] to user:password with a long random '
            "password (this project reads it from ANYMAIL_WEBHOOK_SECRET), and give the "
            "provider https://user:password@<host>/anymail/<provider>/tracking/ "
            '(docs/email.md, "Suppressions").',
            id="reminders_app.W005",
        )
    ]
