"""Delivery channels: how a claimed reminder reaches its owner.

Selection and claiming know nothing of channels; the job hands each claimed reminder
to the configured channel (settings.REMINDER_CHANNEL) and records the outcome. A
channel reports a failed delivery by raising: DeliveryError says whether it is
permanent and gives a short code safe to store (`smtp 550`); RelayUnavailable says
the service behind the channel could not be reached, so the reminder is handed back
undelivered without spending an attempt; any other exception is a temporary failure
recorded by its type.
"""

import smtplib
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import BadHeaderError, EmailMessage, get_connection
from django.utils.module_loading import import_string


@dataclass(frozen=True, slots=True)
class Reminder:
    """A claimed reminder: the ReminderLog row a run owns and must settle."""

    log_id: int
    task_id: int
    due_at: datetime
    attempts: int  # delivery attempts before this one


class DeliveryError(Exception):
    """A delivery that failed for this reminder: `permanent` ones are never retried.
    `code` is short and names no person, address or server text: `smtp 550`."""

    def __init__(self, code: str, *, permanent: bool):
        super().__init__(code)
        self.code = code
        self.permanent = permanent


class RelayUnavailable(Exception):
    """The channel's service could not be reached (refused, timed out, unknown host,
    refused our credentials or sender): nothing is known about this reminder, which
    goes back to the next run without spending an attempt."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class Channel:
    # A transactional channel only writes to the database, so its delivery commits
    # or rolls back with the batch that claimed it and a crash leaves no trace.
    # Any other channel acts on the outside world: its claims are committed before
    # delivery, and claims left by a run that died are taken over after
    # REMINDER_CLAIM_TIMEOUT_SECONDS.
    transactional = False
    # Deliveries at once, each on a thread of the job's (outside channels only).
    concurrency = 1

    def prepare(self, reminders: list[Reminder]) -> None:
        """Called once per batch, on the job's thread, before its deliveries: the
        place to read what the deliveries need in one query. deliver() may then
        run on other threads and must not touch the database."""

    def deliver(self, reminder: Reminder) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Called once at the end of the run: release connections."""


class EventChannel(Channel):
    """The default: the `sent` ReminderLog row and its `reminder_sent` log line are
    the reminder; other systems consume them."""

    transactional = True

    def deliver(self, reminder: Reminder) -> None:
        pass


class EmailChannel(Channel):
    """Mails the task's owner through Django's configured email backend.

    REMINDER_DELIVERY_CONCURRENCY threads each open one connection to the relay and
    send many messages on it, reopening it when it drops (django-post-office's way).
    Owners and titles for a batch come from one query (prepare()). Each message has
    a Message-ID made from its ReminderLog row, the same on every attempt, so a
    receiver can drop a duplicate.
    """

    def __init__(self):
        try:
            import_string(settings.EMAIL_BACKEND)
        except ImportError:
            raise ImproperlyConfigured(
                f"EMAIL_BACKEND {settings.EMAIL_BACKEND!r} cannot be imported"
            ) from None
        self.concurrency = settings.REMINDER_DELIVERY_CONCURRENCY
        self._local = threading.local()
        self._connections = []
        self._lock = threading.Lock()
        self._tasks = {}
        self._domain = message_id_domain()

    def prepare(self, reminders: list[Reminder]) -> None:
        from tasks_app.models import Task

        self._tasks = Task.objects.select_related("owner").in_bulk([r.task_id for r in reminders])

    def deliver(self, reminder: Reminder) -> None:
        message = self.message(reminder)
        connection, reused = self._connection()
        try:
            self._send(connection, message)
        except smtplib.SMTPServerDisconnected:
            if not reused:
                raise RelayUnavailable("smtp disconnected") from None
            # The relay closed a connection we had kept open (an idle timeout):
            # nothing was sent on it, so send once more on a new one.
            connection.close()
            connection, _ = self._connection()
            try:
                self._send(connection, message)
            except smtplib.SMTPServerDisconnected:
                raise RelayUnavailable("smtp disconnected") from None

    def message(self, reminder: Reminder) -> EmailMessage:
        task = self._tasks[reminder.task_id]
        if not task.owner.email:
            raise DeliveryError("no address", permanent=True)
        return EmailMessage(
            subject=f"Reminder: {task.title}",
            body=f"{task.title} is due at {reminder.due_at:%Y-%m-%d %H:%M} UTC.",
            to=[task.owner.email],
            headers={
                "Message-ID": f"<reminder-{reminder.log_id}@{self._domain}>",
                "X-Reminder-ID": str(reminder.log_id),
            },
        )

    def _connection(self):
        """This thread's open connection, and whether it was open already."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and getattr(connection, "connection", True) is not None:
            return connection, True
        if connection is None:
            connection = self._local.connection = get_connection(fail_silently=False)
            with self._lock:
                self._connections.append(connection)
        try:
            connection.open()
        except smtplib.SMTPResponseException as exc:  # e.g. credentials refused
            raise RelayUnavailable(f"smtp {exc.smtp_code}") from None
        except OSError as exc:  # refused, timed out, unknown host, TLS failed
            raise RelayUnavailable(type(exc).__name__) from None
        return connection, False

    @staticmethod
    def _send(connection, message: EmailMessage) -> None:
        try:
            connection.send_messages([message])
        except smtplib.SMTPSenderRefused as exc:  # the relay refuses our sender
            raise RelayUnavailable(f"smtp {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            code = min(code for code, _ in exc.recipients.values())
            raise DeliveryError(f"smtp {code}", permanent=code >= 500) from None
        except smtplib.SMTPResponseException as exc:  # DATA refused, and the like
            raise DeliveryError(f"smtp {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
        except smtplib.SMTPServerDisconnected:
            raise
        except (BadHeaderError, ValueError, UnicodeError):  # a header or address refused
            raise DeliveryError("bad header or address", permanent=True) from None
        except OSError as exc:  # a timeout or a reset mid-conversation
            connection.close()
            raise RelayUnavailable(type(exc).__name__) from None

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            try:
                connection.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort
                pass


def message_id_domain() -> str:
    """The domain of reminder Message-IDs: SITE_URL's host, else the sender's."""
    host = urlsplit(getattr(settings, "SITE_URL", "")).hostname
    if host and host not in {"localhost", "127.0.0.1"}:
        return host
    return settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(" >") or "localhost"


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
