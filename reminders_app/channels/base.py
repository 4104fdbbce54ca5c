"""The channel API: how a claimed reminder reaches its recipient.

Selection and claiming know nothing of channels; the job hands each claimed reminder
to the configured channel (REMINDER_CHANNEL) and records the outcome. A channel
reports a failed delivery by raising: DeliveryError says whether it is permanent and
gives a short code safe to store (`smtp 550`); RelayUnavailable says the service
behind the channel could not be reached, so the reminder is handed back undelivered
without spending an attempt; Suppressed says the channel chose not to deliver it
(recorded `suppressed`); any other exception is a temporary failure recorded by its
type. reminders_app.delivery.Outcomes.add() sorts the answers, for every channel.
A DeliveryError may also name an address its server said does not exist
(`bounced`): the job's thread adds it to the suppressions, so nothing more is
mailed there.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from reminders_app.conf import settings


class Reminder(NamedTuple):
    """A claimed reminder: the ReminderLog row a run owns and must settle. Immutable.

    A named tuple, made straight from each row the claim returns: a run makes one per
    reminder, a hundred thousand in a large run, and a frozen dataclass took a tenth
    of the job's own time to make them."""

    log_id: int
    task_id: int
    recipient_id: int  # the person reminded (a user's primary key)
    due_at: datetime
    attempts: int  # delivery attempts before this one


@dataclass(frozen=True, slots=True)
class Digest:
    """One person's claimed reminders of a run, to go in one message, soonest first:
    what the job hands a channel that delivers digests (Channel.deliver_digest)."""

    reminders: tuple[Reminder, ...]

    @property
    def recipient_id(self) -> int:
        return self.reminders[0].recipient_id


@dataclass(frozen=True, slots=True)
class Delivered:
    """What deliver_digest() returns: the id the receiver knows the message by (a
    Message-ID), which each of its rows records, and the reminders it left out (a
    task deleted since the claim), each with the error its row is failed with."""

    message_id: str = ""
    left_out: tuple[tuple[Reminder, "DeliveryError"], ...] = ()


class DeliveryError(Exception):
    """A delivery that failed for this reminder: `permanent` ones are never retried.
    `code` is short and names no person, address or server text: `smtp 550`.
    `bounced`: the address, when the server said it has no such mailbox (an SMTP 5.1.x
    at RCPT): recorded as a Suppression, never logged or kept on the row."""

    def __init__(self, code: str, *, permanent: bool, bounced: str = ""):
        super().__init__(code)
        self.code = code
        self.permanent = permanent
        self.bounced = bounced


class RelayUnavailable(Exception):
    """The channel's service could not be reached (refused, timed out, unknown host,
    refused our credentials or sender): nothing is known about this reminder, which
    goes back to the next run without spending an attempt."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class Suppressed(Exception):
    """The channel chose not to deliver this reminder: recorded `suppressed`, never
    retried, with `reason` (short, naming no person or address) kept on the row's
    `error`: `opted out`, `address bounced`."""

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.reason = reason


class Channel:
    """Subclass it and implement deliver(); name the subclass in REMINDER_CHANNEL."""

    # A transactional channel only writes to the database, so its delivery commits
    # or rolls back with the batch that claimed it and a crash leaves no trace.
    # Any other channel acts on the outside world: its claims are committed before
    # delivery, and claims left by a run that died are taken over after
    # REMINDER_CLAIM_TIMEOUT_SECONDS.
    transactional = False
    # Deliveries at once, each on a thread of the job's (outside channels only).
    concurrency = 1
    # Whether the channel delivers digests (deliver_digest()): then the job hands it
    # the reminders of each person who asked for one (ReminderPreference.digest) as
    # one Digest per run; every other reminder, and all of them for a channel without,
    # goes to deliver() one by one. Outside channels only.
    digests = False

    def prepare(self, reminders: list[Reminder], *, now: datetime) -> None:
        """Called once per batch, on the job's thread, before its deliveries: the
        place to read what the deliveries need in one query. deliver() may then
        run on other threads and must not touch the database. `now` is the job's
        clock."""

    def deliver(self, reminder: Reminder) -> None:
        """Deliver one reminder; return when it is delivered, or raise (above)."""
        raise NotImplementedError

    def deliver_digest(self, digest: Digest) -> Delivered:
        """Deliver one person's reminders together (a channel with `digests`): return
        when delivered, or raise as deliver() does, for all of them at once."""
        raise NotImplementedError

    def close(self) -> None:
        """Called once at the end of the run: release connections."""


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
    """A new instance of the configured channel, for one run."""
    return _load(settings.REMINDER_CHANNEL)()
