"""Quiet hours: who is inside theirs at a run's clock, until when, and which run their
held reminders go with. Decided once per run (RunPlan.quiet), in Python, for the few
people who set quiet hours; the selection then holds their reminders in SQL, set-based
(reminders_app.selection), so no row is looked at one by one.

A person's quiet hours are local times in their zone (ReminderPreference.zone), from
`quiet_start` to `quiet_end`, crossing midnight when the end comes first (22:00-07:00).
Each night's span runs from the instant its start falls on to the instant its end falls
on, each read as a date-only due date is (roles.due_instant): a time the clocks skip
with the offset before the change, a time they repeat at its first occurrence. A start
equal to its end is no quiet hours at all.

Inside them a reminder is held (not claimed) and goes with the first run after they
end, unless it falls due before that run could send it: then it goes at once, so that
quiet hours never make a reminder late, or miss it (the run after would start past its
due instant, outside its window).
"""

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from reminders_app.roles import due_instant
from reminders_app.schedule import INTERVAL

# A run may start this long after its slot (the cluster's scheduler looks every 30 s,
# a busy cluster later): a held reminder must be due at least this long after the run
# that is to send it, or it goes at once.
LATE_START = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Quiet:
    """One person inside their quiet hours at a run's clock."""

    person_id: int
    ends: datetime  # when their quiet hours end (UTC)
    goes_at: datetime  # the first run from then on: their held reminders go with it

    @property
    def holds_from(self) -> datetime:
        """Their reminders due from this instant on are held; earlier ones go at once."""
        return self.goes_at + LATE_START


def quiet_until(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime | None:
    """When the quiet hours `start`-`end` (local times in `zone`) that `now` lies in
    end; None when `now` lies outside them."""
    if start == end:
        return None
    today = now.astimezone(zone).date()
    for day in (today - timedelta(days=1), today):  # the span begun yesterday, or today
        begins = due_instant(day, zone, start)
        ends = due_instant(day + timedelta(days=1) if end < start else day, zone, end)
        if begins <= now < ends:
            return ends
    return None


def first_run_from(instant: datetime, *, now: datetime) -> datetime:
    """The first run at or after `instant`, runs coming every schedule.INTERVAL from
    `now` (this run's clock): the hourly schedule's slots for a scheduled run, and a
    run by hand or by cron taken to repeat at its own minute."""
    return now + INTERVAL * max(0, math.ceil((instant - now) / INTERVAL))


def quiet_people(now: datetime) -> tuple[Quiet, ...]:
    """Everyone inside their quiet hours at `now`, with when they end and which run
    their held reminders go with. One query; each (zone, start, end) worked out once,
    however many people share it."""
    from reminders_app.models import ReminderPreference

    rows = ReminderPreference.objects.filter(quiet_start__isnull=False).values_list(
        "user_id", "time_zone", "quiet_start", "quiet_end"
    )
    spans = {}
    quiet = []
    for user_id, zone_name, start, end in rows.order_by("user_id").iterator():
        if (key := (zone_name, start, end)) not in spans:
            # A zone that no longer loads is the default one, as for the mail.
            zone = ReminderPreference(user_id=user_id, time_zone=zone_name).zone
            spans[key] = quiet_until(now, zone, start, end)
        if (ends := spans[key]) is not None:
            quiet.append(Quiet(user_id, ends, first_run_from(ends, now=now)))
    return tuple(quiet)
