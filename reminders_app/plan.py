"""What one run works on: its window, its clocks and its limits, in one typed object
that selection, claims and the job share."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from reminders_app.conf import settings
from reminders_app.quiet import Quiet, Woke, quiet_people
from reminders_app.roles import due_instants

# The longest wait before a failed reminder is retried (claims.retry_delay): the
# job's clock plus the window plus this must be a date Python can hold.
MAX_RETRY_DELAY = timedelta(days=1)
# A shorter window would round to nothing.
MIN_WINDOW = timedelta(seconds=1)


class InvalidPlan(ValueError):
    """A clock or window a run cannot work with; the message names the input."""


@dataclass(frozen=True, slots=True, order=True)
class Keyset:
    """Where a batch ends and the next begins: the reminder job walks due reminders in
    (due_at, task id, recipient id) order; for a task model with one owner per task,
    the order of its (due date, id) index."""

    due_at: datetime
    task_id: int
    recipient_id: int


@dataclass(frozen=True, slots=True)
class RunPlan:
    start: datetime  # the first due date walked, inclusive (a part's: its slice's)
    end: datetime  # the last due date walked, inclusive
    now: datetime  # the job's clock: the run's window starts here; retry times
    claim_timeout: timedelta
    max_attempts: int
    batch_size: int  # reminders claimed at a time
    # A date-only task model's due instants for the run, decided once: (zone, day,
    # instant) for each zone a recipient has and each day the window can reach
    # (roles.due_instants); empty for a task model with due times.
    due_instants: tuple = ()
    # The people inside their quiet hours at `now`, decided once per run
    # (reminders_app.quiet): their reminders due from the end of them are held.
    quiet: tuple[Quiet, ...] = ()
    # The people whose quiet hours ended within the last day: their reminders due since
    # then that have no row (held by those quiet hours) are due too, past due or not.
    woke: tuple[Woke, ...] = ()
    # Whether the walk leaves out the people who get a digest: the job's, when its
    # channel delivers digests and someone asked for one (a digest phase sends theirs).
    digests: bool = False

    @property
    def held_back(self) -> tuple[Woke, ...]:
        """Whose reminders held back by quiet hours this walk takes, past due: a walk
        from the window's start (a run, or the first slice of a run in parts) takes
        them; a walk of a later slice does not."""
        return self.woke if self.start == self.now else ()

    @property
    def stale_before(self) -> datetime:
        """Claims made before this were left by a run that died, or handed back.

        The real clock at each claim, not at the run's start: a claim handed back
        while runs are going (dated back past the timeout) is theirs to take at once.
        """
        return timezone.now() - self.claim_timeout

    @property
    def policy(self) -> dict:
        """The keyword arguments of ReminderLogQuerySet.takeable_q()."""
        return {
            "now": self.now,
            "stale_before": self.stale_before,
            "max_attempts": self.max_attempts,
        }

    @classmethod
    def build(
        cls,
        *,
        now: datetime | None = None,
        window_hours: float | None = None,
        end: datetime | None = None,
    ):
        """The plan for a run at `now` (default: the real clock) over `window_hours`
        (default: REMINDER_WINDOW_HOURS), or to `end` (a part: its run's), with the
        limits in settings.

        Raises InvalidPlan, naming the input, for a naive `now`, a window that is not
        a positive finite number of hours, or one that ends past what a date can hold.
        """
        now = timezone.now() if now is None else now
        if timezone.is_naive(now):
            raise InvalidPlan("now must be timezone-aware")
        now = now.astimezone(UTC)
        if window_hours is None:
            window_hours = settings.REMINDER_WINDOW_HOURS
        if not (isinstance(window_hours, int | float) and math.isfinite(window_hours)):
            raise InvalidPlan(f"window hours must be a finite number, not {window_hours!r}")
        fixed_end = end
        try:
            window = timedelta(hours=window_hours)
            window_end = now + window
            window_end + MAX_RETRY_DELAY  # noqa: B018 - a retry of the last reminder must be datable
        except OverflowError:
            raise InvalidPlan(
                f"a {window_hours:g}-hour window from {now.isoformat()} ends after year 9999"
            ) from None
        if window < MIN_WINDOW:
            raise InvalidPlan(f"window hours must be at least 1 second, not {window_hours:g}")
        end = window_end if fixed_end is None else fixed_end
        quiet, woke = quiet_people(now)
        return cls(
            start=now,
            end=end,
            now=now,
            claim_timeout=timedelta(seconds=settings.REMINDER_CLAIM_TIMEOUT_SECONDS),
            max_attempts=settings.REMINDER_MAX_ATTEMPTS,
            batch_size=settings.REMINDER_BATCH_SIZE,
            due_instants=due_instants(now, end),
            quiet=quiet,
            woke=woke,
        )


def aware(value: datetime | str) -> datetime:
    """An aware datetime from a datetime or ISO-8601 text; naive means UTC.

    SQLite returns RETURNING values as text; django-q2 passes a run's slot as text.
    """
    if isinstance(value, str):
        value = parse_datetime(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value
