"""EmailChannel: mails each reminder to its recipient over SMTP."""

import smtplib
import threading
from datetime import datetime

from django.core.mail import EmailMessage, EmailMultiAlternatives

from reminders_app import mailer
from reminders_app.channels.base import (
    Channel,
    Delivered,
    DeliveryError,
    Digest,
    RelayUnavailable,
    Reminder,
)
from reminders_app.channels.message import ReminderMail
from reminders_app.conf import settings


class EmailChannel(Channel):
    """Mails the recipient through Django's default mailer (reminders_app.mailer:
    MAILERS' "default" on Django 6.1 where set, else the EMAIL_* settings).

    REMINDER_DELIVERY_CONCURRENCY threads each open one connection to the relay and
    send many messages on it, reopening it when it drops (django-post-office's way).
    reminders_app.channels.message.ReminderMail builds each mail (one query per
    batch for recipients, preferences and titles); a recipient who turned mail off, or
    whose address is suppressed, gets nothing: the reminder is suppressed. A relay
    that answers RCPT with "no such user" (5.1.x) fails the reminder for good and names
    the address (DeliveryError.bounced), which the job then suppresses. Each message
    has a Message-ID made from its ReminderLog row, the same on every attempt, so a
    receiver can drop a duplicate; a digest's is made from its rows
    (message.digest_message_id), and each row records it.
    """

    # A person who asked for a digest gets one mail per run listing their reminders.
    digests = True

    def __init__(self):
        mailer.connection()  # a backend that cannot be loaded fails here (check E001), once
        self.concurrency = settings.REMINDER_DELIVERY_CONCURRENCY
        self._local = threading.local()
        self._connections = []
        self._lock = threading.Lock()
        self.mail = ReminderMail()

    def prepare(self, reminders: list[Reminder], *, now: datetime) -> None:
        self.mail.prepare(reminders, now=now)

    def deliver(self, reminder: Reminder) -> None:
        self._deliver(self.message(reminder))

    def deliver_digest(self, digest: Digest) -> Delivered:
        """One mail listing the person's reminders (ReminderMail.build_digest), one
        SMTP transaction: a refusal is every one of them's."""
        message, left_out = self.mail.build_digest(digest)
        self._deliver(message)
        return Delivered(message_id=message.extra_headers["Message-ID"], left_out=tuple(left_out))

    def _deliver(self, message: EmailMessage) -> None:
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
        return self.mail.build(reminder)

    def _connection(self):
        """This thread's open connection, and whether it was open already. The SMTP
        backend's `connection` is None once closed; backends without one (console,
        locmem, an API's) stay open."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and getattr(connection, "connection", True) is not None:
            return connection, True
        if connection is None:
            connection = self._local.connection = mailer.connection()
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
            bounced = next(
                (address for address, reply in exc.recipients.items() if no_such_user(*reply)),
                "",
            )
            raise DeliveryError(f"smtp {code}", permanent=code >= 500, bounced=bounced) from None
        except smtplib.SMTPResponseException as exc:  # DATA refused, and the like
            raise DeliveryError(f"smtp {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
        except smtplib.SMTPServerDisconnected:
            raise  # deliver() decides: it is an OSError, but not one to close on here
        except (ValueError, UnicodeError):  # a header or address refused (BadHeaderError too)
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


# The replies to RCPT that say the mailbox does not exist (RFC 5321's 550 "mailbox
# unavailable", 551 "user not local", 553 "mailbox name not allowed") with an RFC 3463
# status of class 5.1 (addressing: 5.1.1 bad destination mailbox, 5.1.2 bad domain,
# 5.1.10 null MX...). Policy refusals (5.7.x: relaying denied, spam) say nothing of
# the address.
NO_SUCH_USER_CODES = {550, 551, 553}


def no_such_user(code: int, text: bytes | str) -> bool:
    """Whether a relay's refusal of a recipient says the address has no mailbox."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    return code in NO_SUCH_USER_CODES and text.lstrip().startswith("5.1.")
