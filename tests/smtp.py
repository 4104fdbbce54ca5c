"""A real SMTP server for tests (aiosmtpd), on 127.0.0.1, with latency and faults.

It runs in the test's process, on aiosmtpd's own thread, so a job in the test and
`send_reminders` children alike deliver to it over TCP. It keeps every message it
accepted, parsed, and counts the connections it was opened.
"""

import asyncio
import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.core.mail.backends.smtp import EmailBackend

from reminders_app import mailer
from reminders_app.mailer import SMTP_BACKEND, mail_settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def send_mail_to(settings, port: int, **options) -> None:
    """Point Django's mail at 127.0.0.1:`port` through pytest-django's `settings`, with
    the SMTP backend's other options (timeout, username, password), in the form the
    running Django reads (MAILERS or EMAIL_*)."""
    for name, value in mail_settings(SMTP_BACKEND, host="127.0.0.1", port=port, **options).items():
        setattr(settings, name, value)


class Wire:
    """An SMTP connection that keeps what the backend would have sent."""

    def __init__(self):
        self.sent = []

    def sendmail(self, from_addr, to_addrs, msg):
        self.sent.append((from_addr, to_addrs, msg))


def as_sent(message) -> tuple[str, list[str], bytes]:
    """What Django's SMTP backend, made as EmailChannel makes it (reminders_app.mailer),
    hands smtplib for `message`: sender, recipients and the message's bytes. The mail
    settings must name the SMTP backend; nothing connects."""
    backend = mailer.connection()
    assert isinstance(backend, EmailBackend), backend
    backend.connection = wire = Wire()
    backend.send_messages([message])
    (sent,) = wire.sent
    return sent


class _Server:
    port: int

    def use(self, settings, **options) -> None:
        """Send this process's mail to this server (send_mail_to)."""
        send_mail_to(settings, self.port, **options)

    def env(self) -> dict[str, str]:
        """Environment variables that send a child process's mail to this server."""
        return {
            "EMAIL_BACKEND": SMTP_BACKEND,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.port),
        }


class Relay(_Server):
    """The aiosmtpd handler and its controller.

    `delay`: seconds each message takes to accept. `replies`: a function from a
    recipient address to an SMTP reply such as "550 5.1.1 No such user" (None
    accepts it). `data_replies`: the same for a whole message, after its data
    (the refused ones are kept in `refused`). The defaults accept everything.
    """

    def __init__(self, *, delay=0.0, replies=None, data_replies=None, port=None):
        self.delay = delay
        self.replies = replies or (lambda address: None)
        self.data_replies = data_replies or (lambda message: None)
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self.refused: list[EmailMessage] = []
        self.connections = 0
        self._lock = threading.Lock()
        self.controller = None

    # --- aiosmtpd hooks ---
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self._lock:
            self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.replies(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=policy.default)
        reply = self.data_replies(message)
        with self._lock:
            (self.refused if reply else self.messages).append(message)
        return reply or "250 Message accepted for delivery"

    # --- control ---
    def start(self, *, refuse_logins: bool = False) -> "Relay":
        """Listen; with `refuse_logins`, offer AUTH (over plain text) and refuse it."""
        options = {}
        if refuse_logins:
            options = {
                "auth_require_tls": False,
                "authenticator": lambda *args: AuthResult(success=False),
            }
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)

    def reminder_ids(self) -> list[int]:
        """The X-Reminder-ID of every message received, in order."""
        return [int(m["X-Reminder-ID"]) for m in self.received()]

    def stop_soon(self) -> None:
        """Stop from another thread (a handler runs on the server's own)."""
        self._stopping = threading.Thread(target=self.stop)
        self._stopping.start()

    def wait_stopped(self) -> None:
        self._stopping.join()


class Silent(_Server):
    """A server that accepts TCP connections and never says a word: a hung relay.
    `connections` counts the connections it accepted."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(256)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self.accepted = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:  # closed
                return
            self.accepted.append(connection)  # kept open, never answered
            self.connections += 1

    def close(self) -> None:
        self.socket.close()
        for connection in self.accepted:
            connection.close()
