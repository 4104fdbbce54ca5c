"""Delivery channels: how a claimed reminder reaches its owner.

Selection and claiming know nothing of channels; the job hands each claimed reminder
to the configured channel (settings.REMINDER_CHANNEL) and records the outcome. A
channel reports a failed delivery by raising: DeliveryError says whether it is
permanent and gives a short code safe to store (`smtp 550`); RelayUnavailable says
the service behind the channel could not be reached, so the reminder is handed back
undelivered without spending an attempt; Suppressed says the channel chose not to
deliver it (recorded `suppressed`); any other exception is a temporary failure
recorded by its type.
"""

import smtplib
import threading
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr, parseaddr
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import BadHeaderError, EmailMessage, EmailMultiAlternatives, get_connection
from django.template.loader import get_template
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.module_loading import import_string
from django.utils.timesince import timeuntil


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


class Suppressed(Exception):
    """The channel chose not to deliver this reminder (its owner opted out): recorded
    `suppressed`, never retried."""


class Channel:
    # A transactional channel only writes to the database, so its delivery commits
    # or rolls back with the batch that claimed it and a crash leaves no trace.
    # Any other channel acts on the outside world: its claims are committed before
    # delivery, and claims left by a run that died are taken over after
    # REMINDER_CLAIM_TIMEOUT_SECONDS.
    transactional = False
    # Deliveries at once, each on a thread of the job's (outside channels only).
    concurrency = 1

    def prepare(self, reminders: list[Reminder], *, now: datetime) -> None:
        """Called once per batch, on the job's thread, before its deliveries: the
        place to read what the deliveries need in one query. deliver() may then
        run on other threads and must not touch the database. `now` is the job's
        clock."""

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


# The mail's subject, plain-text body and HTML body, under reminders/email/; a
# project's own templates directory overrides them.
TEMPLATES = ("subject.txt", "body.txt", "body.html")


class EmailChannel(Channel):
    """Mails the task's owner through Django's configured email backend.

    REMINDER_DELIVERY_CONCURRENCY threads each open one connection to the relay and
    send many messages on it, reopening it when it drops (django-post-office's way).
    Owners, their preferences and titles for a batch come from one query
    (prepare()). An owner who turned mail off gets nothing: the reminder is
    suppressed. Subject and both bodies come from the templates
    reminders/email/subject.txt, body.txt and body.html, rendered in the owner's time
    zone. Each message has a Message-ID made from its ReminderLog row, the same on
    every attempt, so a receiver can drop a duplicate, and a one-click unsubscribe
    link (RFC 8058).
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
        self._from = from_address()
        self._templates = [get_template(f"reminders/email/{name}") for name in TEMPLATES]

    def prepare(self, reminders: list[Reminder], *, now: datetime) -> None:
        from reminders_app.models import ReminderPreference
        from reminders_app.preferences import unsubscribe_url
        from tasks_app.models import Task

        self._now = now
        self._tasks = Task.objects.select_related("owner__reminder_preference").in_bulk(
            [r.task_id for r in reminders]
        )
        # Per owner, once a batch: their preference (or the defaults) and their signed
        # unsubscribe link.
        owners = {task.owner for task in self._tasks.values()}
        self._owners = {
            owner.pk: (ReminderPreference.of(owner), unsubscribe_url(owner.pk)) for owner in owners
        }

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

    def message(self, reminder: Reminder) -> EmailMultiAlternatives:
        """The reminder's mail; Suppressed or DeliveryError when there is none to send."""
        task = self._tasks[reminder.task_id]
        owner = task.owner
        preference, unsubscribe = self._owners[owner.pk]
        if not preference.email_enabled:
            raise Suppressed
        if not owner.email:
            raise DeliveryError("no address", permanent=True)
        zone = preference.zone
        due_at = reminder.due_at.astimezone(zone)
        context = {
            "task": task,
            "owner": owner,
            "due_at": due_at,
            # Formatted once here, for the three templates: "Tuesday 10 March 2026",
            # "16:00 CET" (the abbreviation in force at that moment).
            "due_day": dateformat.format(due_at, "l j F Y"),
            "due_time": dateformat.format(due_at, "H:i T"),
            "time_zone": zone.key,
            "time_left": timeuntil(reminder.due_at, now=self._now, depth=2),
            "task_url": settings.SITE_URL + reverse("admin:tasks_app_task_change", args=[task.pk]),
            "unsubscribe_url": unsubscribe,
            "site_url": settings.SITE_URL,
        }
        with timezone.override(zone):
            subject, text, html = (template.render(context) for template in self._templates)
        message = EmailMultiAlternatives(
            subject=" ".join(subject.split()),  # one line, whatever the template
            body=text,
            from_email=self._from,
            to=[owner.email],
            headers={
                "Message-ID": f"<reminder-{reminder.log_id}@{self._domain}>",
                "X-Reminder-ID": str(reminder.log_id),
                "Auto-Submitted": "auto-generated",  # RFC 3834: auto-responders stay quiet
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        message.attach_alternative(html, "text/html")
        return message

    def _connection(self):
        """This thread's open connection, and whether it was open already. The SMTP
        backend's `connection` is None once closed; backends without one (console,
        locmem, an API's) stay open."""
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
            raise  # deliver() decides: it is an OSError, but not one to close on here
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


def from_address() -> str:
    """DEFAULT_FROM_EMAIL, given the display name "Task reminders" if it has none."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((name or "Task reminders", address))


def message_id_domain() -> str:
    """The domain of reminder Message-IDs: SITE_URL's host, else the sender's."""
    host = urlsplit(settings.SITE_URL).hostname
    if host and host not in {"localhost", "127.0.0.1"}:
        return host
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"


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
