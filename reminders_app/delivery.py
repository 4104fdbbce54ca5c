"""Delivering claimed reminders through a channel that acts outside the database
(email): on a bounded pool of threads, each answer handed back to be recorded
within FLUSH_EVERY of the channel's answer.

Healthchecks' `sendalerts` and django-post-office both deliver on threads; here the
job's own thread keeps every database write, and the pool threads only talk to the
relay (EmailChannel keeps one reused connection per thread).
"""

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from threading import Event

from django.db import DatabaseError

from reminders_app.channels import (
    Channel,
    Delivered,
    Digest,
    RelayUnavailable,
    Reminder,
    Suppressed,
)

# What the pool delivers at a time: a reminder, or a person's digest of several (one
# message, one answer for all of them).
Unit = Reminder | Digest

# A delivered reminder is recorded `sent` at most this long after the relay took it:
# a run killed at any moment sends again only what was in flight and this much.
FLUSH_EVERY = 0.25
# This many reminders in a row finding the relay unreachable is an outage: the run
# stops delivering and hands its claims back.
OUTAGE_AFTER = 3


@dataclass
class Outcomes:
    """What came back from the channel since the last flush."""

    sent: list[Reminder] = field(default_factory=list)
    failed: list[tuple[Reminder, Exception]] = field(default_factory=list)
    unreached: list[Reminder] = field(default_factory=list)  # go back without an attempt
    # Not to be sent at all, each with the channel's Suppressed (its reason).
    suppressed: list[tuple[Reminder, Suppressed]] = field(default_factory=list)
    message_ids: dict[int, str] = field(default_factory=dict)  # a digest's, by row id

    def __bool__(self) -> bool:
        return bool(self.sent or self.failed or self.unreached or self.suppressed)

    def add(
        self, unit: Unit, exc: BaseException | None, delivered: Delivered | None = None
    ) -> bool:
        """Sort one answer of the channel (None: delivered), the same way for every
        channel; False for an exception that must stop the run instead: a database
        error, or a timeout or SystemExit raised inside the channel.

        A digest's answer is each of its reminders' (but those it left out): they are
        settled together, each counted once, and a failure counts as the same attempt
        for all (the digest's: one more than the most any of them had), so that they
        are retried, or given up, together."""
        if isinstance(unit, Digest):
            prior = max(r.attempts for r in unit.reminders)
            delivered = delivered or Delivered()
            left_out = dict(delivered.left_out)
            for reminder, error in left_out.items():
                self.failed.append((reminder, error))
            for reminder in unit.reminders:
                if reminder not in left_out:
                    self._add(reminder._replace(attempts=prior), exc)
                    if exc is None:
                        self.message_ids[reminder.log_id] = delivered.message_id
            return exc is None or self._settles(exc)
        self._add(unit, exc)
        return exc is None or self._settles(exc)

    @staticmethod
    def _settles(exc: BaseException) -> bool:
        return isinstance(exc, Exception) and not isinstance(exc, DatabaseError)

    def _add(self, reminder: Reminder, exc: BaseException | None) -> None:
        if exc is None:
            self.sent.append(reminder)
        elif isinstance(exc, RelayUnavailable):
            self.unreached.append(reminder)
        elif isinstance(exc, Suppressed):  # decided before anything was sent
            self.suppressed.append((reminder, exc))
        elif self._settles(exc):
            self.failed.append((reminder, exc))

    def answered(self) -> list[Reminder]:
        return [
            *self.sent,
            *(r for r, _ in self.failed),
            *self.unreached,
            *(r for r, _ in self.suppressed),
        ]


def members(unit: Unit) -> tuple[Reminder, ...]:
    """The reminders a unit of delivery carries."""
    return unit.reminders if isinstance(unit, Digest) else (unit,)


class Outage(Exception):
    """The relay could not be reached for OUTAGE_AFTER reminders in a row, or for
    every reminder of a run that had fewer."""


class Deliveries:
    """A run's delivery pool: `channel.concurrency` threads, for all its batches."""

    def __init__(self, channel: Channel):
        self.channel = channel
        self.pool = ThreadPoolExecutor(
            max_workers=channel.concurrency, thread_name_prefix="reminder-delivery"
        )
        self.unreached_in_a_row = 0
        self.answered = 0  # this run's answers, all batches
        self.fatal: BaseException | None = None

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.channel.close()

    def deliver(
        self,
        pieces: Iterator[list[Unit]],
        *,
        now: datetime,
        record: Callable[[Outcomes], None],
        stop: Event,
    ) -> None:
        """Deliver the reminders of each piece `pieces` yields, calling
        `record(outcomes)` within FLUSH_EVERY of each answer. The next piece is
        taken (claimed, by the job's generator) as soon as the last of the current
        one is handed to the pool, before the pool drains, and the channel prepared
        for it and for those still in flight. Stops taking and submitting once
        `stop` is set; raises Outage once the relay is unreachable OUTAGE_AFTER
        times in a row. Whatever ends it (done, a stop, an outage, a timeout raised
        in this thread), what is in flight finishes and every answer is recorded;
        what was never submitted has no outcome.

        At most twice the pool's size is in flight, and one reminder at a time once
        the relay stops answering, so a stop or an outage ends the batch within
        about one delivery's time.
        """
        waiting: deque[Unit] = deque()
        in_flight: dict[Future, Unit] = {}
        outcomes, flush_at, outage, exhausted = Outcomes(), None, False, False
        try:
            while True:
                # While the relay is not answering, one reminder at a time probes it.
                while not stop.is_set() and (
                    len(in_flight) < 2 * self.channel.concurrency
                    if self.unreached_in_a_row == 0
                    else not in_flight
                ):
                    if not waiting:
                        if exhausted or (piece := next(pieces, None)) is None:
                            exhausted = True
                            break
                        if piece:
                            units = [*in_flight.values(), *piece]
                            self.channel.prepare([r for u in units for r in members(u)], now=now)
                            waiting.extend(piece)
                        continue
                    unit = waiting.popleft()
                    in_flight[self.pool.submit(self._deliver, unit)] = unit
                if not in_flight:
                    break
                timeout = None if flush_at is None else max(0.0, flush_at - time.monotonic())
                done, _ = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    self._sort(in_flight.pop(future), future, outcomes)
                outage = self.unreached_in_a_row >= OUTAGE_AFTER
                if self.fatal or outage:
                    break  # the finally clause cancels what has not started
                if outcomes and flush_at is None:
                    flush_at = time.monotonic() + FLUSH_EVERY
                if flush_at is not None and time.monotonic() >= flush_at:
                    record(outcomes)
                    outcomes, flush_at = Outcomes(), None
        finally:
            for future, unit in in_flight.items():
                if not future.cancel():
                    wait([future])
                    self._sort(unit, future, outcomes)
            if outcomes:
                record(outcomes)
        if self.fatal:
            raise self.fatal
        if outage or 0 < self.unreached_in_a_row == self.answered:
            raise Outage

    def _deliver(self, unit: Unit) -> Delivered | None:
        if isinstance(unit, Digest):
            return self.channel.deliver_digest(unit)
        return self.channel.deliver(unit)

    def _sort(self, unit: Unit, future: Future, outcomes: Outcomes) -> None:
        """Sort one answer; a digest counts as one answer (one message) towards an
        outage."""
        exc = future.exception()
        self.answered += 1
        if not outcomes.add(unit, exc, None if exc else future.result()):
            self.fatal = self.fatal or exc
        elif isinstance(exc, RelayUnavailable):
            self.unreached_in_a_row += 1
        elif not isinstance(exc, Suppressed):  # the relay answered
            self.unreached_in_a_row = 0
