"""Quiet hours by brute force, for the property tests' oracles: from the definition
(docs/email.md, "Quiet hours"), apart from reminders_app.quiet."""

import zoneinfo
from datetime import UTC, datetime, time, timedelta

# Quiet hours a person may have in the property tests: none, a night and its day
# (between them, quiet at any clock), spans across midnight ending on the half hour, and
# one that holds all but half an hour.
SPANS = [
    None,
    (time(22), time(7)),
    (time(7), time(22)),
    (time(23, 30), time(0, 30)),
    (time(12), time(11, 30)),
]


def zone_of(name: str) -> zoneinfo.ZoneInfo:
    """A stored zone name as the job reads it: empty, or one the installed tzdata does
    not have, is the default (UTC in these tests)."""
    try:
        return zoneinfo.ZoneInfo(name) if name else zoneinfo.ZoneInfo("UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def holds_from(now: datetime, zone_name: str, span) -> datetime | None:
    """From when a person's reminders are held at `now`: None when they are not inside
    their quiet hours. A night's span runs from its start's instant to its end's, each
    local time read with zoneinfo's first reading; held reminders go with the first
    hourly run (from `now`) at or after its end, and what falls due before that run
    starts, plus five minutes, goes at once."""
    if span is None or span[0] == span[1]:
        return None
    start, end = span
    zone = zone_of(zone_name)
    for days in range(-3, 3):
        day = now.astimezone(UTC).date() + timedelta(days=days)
        begins = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
        end_day = day + timedelta(days=1) if end < start else day
        ends = datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)
        if begins <= now < ends:
            goes_at = now
            while goes_at < ends:
                goes_at += timedelta(hours=1)
            return goes_at + timedelta(minutes=5)
    return None
