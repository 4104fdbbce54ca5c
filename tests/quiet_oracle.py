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


def spans(now: datetime, zone_name: str, span):
    """The person's quiet spans (begins, ends) in UTC around `now`."""
    if span is None or span[0] == span[1]:
        return []
    start, end = span
    zone = zone_of(zone_name)
    found = []
    for days in range(-3, 3):
        day = now.astimezone(UTC).date() + timedelta(days=days)
        begins = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
        end_day = day + timedelta(days=1) if end < start else day
        found.append((begins, datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)))
    return found


def holds_from(now: datetime, zone_name: str, span) -> datetime | None:
    """From when a person's reminders are held at `now`: the end of the quiet hours
    `now` lies in (a night's span runs from its start's instant to its end's, each
    local time read with zoneinfo's first reading); None outside them."""
    for begins, ends in spans(now, zone_name, span):
        if begins <= now < ends:
            return ends
    return None


def woke_since(now: datetime, zone_name: str, span) -> datetime | None:
    """When the person's last quiet hours ended, if within a day of `now` and `now`
    is outside them: their reminders due since then without a row are due too."""
    if holds_from(now, zone_name, span) is not None:
        return None
    ended = [ends for _, ends in spans(now, zone_name, span) if ends <= now]
    if not ended or now - max(ended) > timedelta(days=1):
        return None
    return max(ended)
