"""Time: every comparison is between aware datetimes in UTC, whatever TIME_ZONE
says and however `--now` is written."""

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from reminders_app.models import ReminderLog, ReminderRun
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
S = timedelta(seconds=1)


def send_reminders(*args) -> dict:
    out = StringIO()
    call_command("send_reminders", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize(
    ("local_now", "clock"),
    [
        # New York springs forward at 2026-03-08 02:00 EST (07:00 UTC): the window
        # runs from 01:30 EST to 02:30 EDT the next day, 24 real hours.
        ("2026-03-08T01:30:00-05:00", datetime(2026, 3, 8, 6, 30, tzinfo=UTC)),
        # ...and falls back at 2026-11-01 02:00 EDT (06:00 UTC).
        ("2026-11-01T01:30:00-04:00", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_a_window_across_a_dst_change_is_24_hours_with_both_edges(settings, local_now, clock):
    settings.TIME_ZONE = "America/New_York"
    at_start = TaskFactory(due_at=clock)
    at_end = TaskFactory(due_at=clock + 24 * H)
    TaskFactory(due_at=clock - S)
    TaskFactory(due_at=clock + 24 * H + S)

    summary = send_reminders("--now", local_now)

    assert (summary["window_start"], summary["window_end"]) == (
        clock.isoformat(),
        (clock + 24 * H).isoformat(),
    )
    assert set(ReminderLog.objects.values_list("task_id", flat=True)) == {at_start.pk, at_end.pk}
    run = ReminderRun.objects.get()
    assert (run.window_start, run.window_end) == (clock, clock + 24 * H)


def test_now_without_an_offset_is_read_as_utc_not_as_time_zone(settings, now):
    settings.TIME_ZONE = "America/New_York"
    due = TaskFactory(due_at=now + 24 * H)  # the window's last instant
    naive = now.replace(tzinfo=None).isoformat()
    new_york = now.astimezone(ZoneInfo("America/New_York")).isoformat()

    windows = [
        send_reminders("--now", spelled, "--dry-run")
        for spelled in (naive, now.isoformat(), naive + "Z", new_york)
    ]

    for summary in windows:
        assert (summary["window_start"], summary["window_end"]) == (
            now.isoformat(),
            (now + 24 * H).isoformat(),
        )
        assert summary["task_ids"] == [due.pk]
