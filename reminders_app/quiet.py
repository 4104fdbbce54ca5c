"""Quiet hours: who is inside theirs at a run's clock and until when, and whose have
just ended. Decided once per run (RunPlan.quiet and RunPlan.woke), in Python, for the
few people who set quiet hours; the selection then holds and releases their reminders
in SQL, set-based (reminders_app.selection), so no row is looked at one by one.

A person's quiet hours are local times in their zone (ReminderPreference.zone), from
`quiet_start` to `quiet_end`, crossing midnight when the end comes first (22:00-07:00).
Each night's span runs from the instant its start falls on to the instant its end falls
on, each read as a date-only due date is (roles.due_instant): a time the clocks skip
with the offset before the change, a time they repeat at its first occurrence. A start
equal to its end is no quiet hours at all.

Inside them, a reminder whose task falls due before they end goes out at once, so
that quiet hours never make it late; every other one is held (not claimed) and goes
with the first run after they end. A held reminder may fall due before that run
starts (quiet hours ending at 07:30, a task due at 07:45, the next run at 08:00): so
a run also takes, for each person whose quiet hours ended within the last day
(`woke`), their reminders due between that end and the run's clock that have no row
yet. Those are the reminders their quiet hours held back: any other reminder due
then was due inside an earlier run's window while they were not quiet.
"""

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from reminders_app.roles import due_instant
from reminders_app.schedule import INTERVAL

# How far back a run looks for reminders held by quiet hours that ended: a held
# reminder goes out at most this long after it fell due, even when the runs after
# the quiet hours ended did not happen (a stopped worker).
WOKE_WITHIN = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Quiet:
    """One person inside their quiet hours at a run's clock."""

    person_id: int
    ends: datetime  # when their quiet hours end (UTC): reminders due from then are held
    goes_at: datetime  # the first run from then on: their held reminders go with it


@dataclass(frozen=True, slots=True)
class Woke:
    """One person whose quiet hours ended within WOKE_WITHIN of a run's clock."""

    person_id: int
    since: datetime  # when their last quiet hours ended (UTC)


def spans_around(now: datetime, zone: ZoneInfo, start: time, end: time):
    """The quiet spans (begins, ends) of the nights around `now`, in UTC, oldest first."""
    if start == end:
        return []
    today = now.astimezone(zone).date()
    spans = []
    for day in (today - timedelta(days=2), today - timedelta(days=1), today):
        begins = due_instant(day, zone, start)
        ends = due_instant(day + timedelta(days=1) if end < start else day, zone, end)
        spans.append((begins, ends))
    return spans


def quiet_until(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime | None:
    """When the quiet hours `start`-`end` (local times in `zone`) that `now` lies in
    end; None when `now` lies outside them."""
    for begins, ends in spans_around(now, zone, start, end):
        if begins <= now < ends:
            return ends
    return None


def last_ended(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime | None:
    """When the last quiet hours `start`-`end` that ended by `now` ended; None when
    none did within WOKE_WITHIN, or when `now` lies inside them."""
    if quiet_until(now, zone, start, end) is not None:
        return None
    ended = [ends for _, ends in spans_around(now, zone, start, end) if ends <= now]
    if not ended or now - max(ended) > WOKE_WITHIN:
        return None
    return max(ended)


def first_run_from(instant: datetime, *, now: datetime) -> datetime:
    """The first run at or after `instant`, runs coming every schedule.INTERVAL from
    `now` (this run's clock): the hourly schedule's slots for a scheduled run, and a
    run by hand or by cron taken to repeat at its own minute."""
    return now + INTERVAL * max(0, math.ceil((instant - now) / INTERVAL))


def quiet_people(now: datetime) -> tuple[tuple[Quiet, ...], tuple[Woke, ...]]:
    """Everyone inside their quiet hours at `now`, with when they end and which run
    their held reminders go with; and everyone whose quiet hours ended within
    WOKE_WITHIN. One query; each (zone, start, end) worked out once, however many
    people share it."""
    from reminders_app.models import ReminderPreference

    rows = ReminderPreference.objects.filter(quiet_start__isnull=False).values_list(
        "user_id", "time_zone", "quiet_start", "quiet_end"
    )
    spans = {}
    quiet, woke = [], []
    for user_id, zone_name, start, end in rows.order_by("user_id").iterator():
        if (key := (zone_name, start, end)) not in spans:
            # A zone that no longer loads is the default one, as for the mail.
            zone = ReminderPreference(user_id=user_id, time_zone=zone_name).zone
            spans[key] = (quiet_until(now, zone, start, end), last_ended(now, zone, start, end))
        ends, ended = spans[key]
        if ends is not None:
            quiet.append(Quiet(user_id, ends, first_run_from(ends, now=now)))
        elif ended is not None:
            woke.append(Woke(user_id, ended))
    return tuple(quiet), tuple(woke)
