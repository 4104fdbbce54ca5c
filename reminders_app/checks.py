"""System checks (`manage.py check`, and at `qcluster` start) for the worker's setup.

The schedule checks read the database, and say nothing when it cannot be read
(before the first `migrate`, or with no database at hand): other commands report that.
"""

import pydoc

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django_q.models import Schedule

from reminders_app.channels import get_channel
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


@register()
def check_claim_timeout(app_configs=None, **kwargs):
    """Warn when a claim could be taken over while the cluster still runs its job.

    A warning, not a start-up error: a short claim timeout is what a test of crash
    recovery, or a channel with quick deliveries, may want.
    """
    timeout = settings.Q_CLUSTER["timeout"]
    if timeout < settings.REMINDER_CLAIM_TIMEOUT_SECONDS:
        return []
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
