"""Delivery channels: how a claimed reminder reaches its owner.

Selection and claiming (reminders_app.selection) know nothing of channels; the job
hands each claimed reminder to the configured channel (settings.REMINDER_CHANNEL)
and records the outcome. A channel raises to report a failed delivery.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail
from django.utils.module_loading import import_string


@dataclass(frozen=True, slots=True)
class Reminder:
    """A claimed reminder: the ReminderLog row a run owns and must settle."""

    log_id: int
    task_id: int
    due_at: datetime
    attempts: int  # delivery attempts before this one


class Channel:
    # A transactional channel only writes to the database, so its delivery commits
    # or rolls back with the batch that claimed it and a crash leaves no trace.
    # Any other channel acts on the outside world: its claims are committed before
    # delivery, and claims left by a run that died are taken over after
    # REMINDER_CLAIM_TIMEOUT_SECONDS.
    transactional = False

    def deliver(self, reminder: Reminder) -> None:
        raise NotImplementedError


class EventChannel(Channel):
    """The default: the `sent` ReminderLog row and its `reminder_sent` log line are
    the reminder; other systems consume them."""

    transactional = True

    def deliver(self, reminder: Reminder) -> None:
        pass


class EmailChannel(Channel):
    """Mails the task's owner through Django's configured email backend."""

    def deliver(self, reminder: Reminder) -> None:
        from tasks_app.models import Task

        task = Task.objects.select_related("owner").get(pk=reminder.task_id)
        if not task.owner.email:
            raise ValueError("owner has no email address")
        send_mail(
            subject=f"Reminder: {task.title}",
            message=f"{task.title} is due at {reminder.due_at:%Y-%m-%d %H:%M} UTC.",
            from_email=None,
            recipient_list=[task.owner.email],
        )


@lru_cache(maxsize=8)
def _load(path: str) -> type[Channel]:
    try:
        cls = import_string(path)
    except ImportError:
        raise ImproperlyConfigured(f"REMINDER_CHANNEL {path!r} cannot be imported") from None
    if not (isinstance(cls, type) and issubclass(cls, Channel)):
        raise ImproperlyConfigured(f"REMINDER_CHANNEL {path!r} is not a Channel")
    return cls


def get_channel() -> Channel:
    return _load(settings.REMINDER_CHANNEL)()
