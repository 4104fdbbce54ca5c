"""The job's selection against a brute-force oracle, over random task sets,
reminder histories, clocks and windows (hypothesis)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog, ReminderPreference, ReminderRun
from tasks_app.models import Task
from tests.quiet_oracle import SPANS, holds_from, woke_since

pytestmark = pytest.mark.django_db

BASE = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MAX_ATTEMPTS = 3
CLAIM_TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class Spec:
    """One task and the reminder row it already has, if any."""

    due: object  # None, ("start" | "end", seconds off the edge), or minutes from now
    completed: bool
    row: str  # "none", "sent", "sent-old-due-date", "failed", "claimed"
    attempts: int
    retry_in: int  # minutes from now to a failed row's next attempt
    claim_is_stale: bool


specs = st.builds(
    Spec,
    due=st.one_of(
        st.none(),
        st.tuples(st.sampled_from(["start", "end"]), st.sampled_from([-1, 0, 1])),
        st.integers(min_value=-180, max_value=50 * 60),
        # Just past due: what quiet hours that ended lately held back is due now.
        st.integers(min_value=-90, max_value=-1),
    ),
    completed=st.booleans(),
    row=st.sampled_from(["none", "sent", "sent-old-due-date", "failed", "claimed"]),
    attempts=st.integers(min_value=1, max_value=MAX_ATTEMPTS),
    retry_in=st.integers(min_value=-120, max_value=120),
    claim_is_stale=st.booleans(),
)


def due_date(due, *, now, end):
    if due is None:
        return None
    if isinstance(due, tuple):
        edge, seconds = due
        return (now if edge == "start" else end) + timedelta(seconds=seconds)
    return now + timedelta(minutes=due)


def clear() -> None:
    """Each example starts from empty tables: the job commits each batch durably, so
    an example cannot run inside a transaction that is rolled back."""
    ReminderLog.objects.all().delete()
    ReminderRun.objects.all().delete()
    Task.objects.all().delete()
    get_user_model().objects.all().delete()


def build(specs_, *, now, end, zone="", quiet=None) -> None:
    """Write the tasks and their reminder rows as earlier runs would have left them;
    the owner in `zone` with the quiet hours `quiet` (start, end), if any."""
    owner = get_user_model().objects.create(username="owner")
    if zone or quiet:
        start, stop = quiet or (None, None)
        ReminderPreference.objects.create(
            user=owner, time_zone=zone, quiet_start=start, quiet_end=stop
        )
    earlier = ReminderRun.objects.create(
        window_start=now, window_end=end, status=ReminderRun.Status.SUCCEEDED
    )
    wall = timezone.now()
    for spec in specs_:
        due = due_date(spec.due, now=now, end=end)
        task = Task.objects.create(
            title="t",
            owner=owner,
            due_at=due,
            completed_at=now - timedelta(hours=1) if spec.completed else None,
        )
        row = spec.row if due is not None or spec.row == "sent-old-due-date" else "none"
        if row == "none":
            continue
        row_due = (due or now) - timedelta(days=2) if row == "sent-old-due-date" else due
        status = "sent" if row.startswith("sent") else row
        given_up = status == "failed" and spec.attempts >= MAX_ATTEMPTS
        ReminderLog.objects.create(
            task=task,
            recipient=owner,
            due_at=row_due,
            status=status,
            run=earlier,
            attempts=spec.attempts if status != "claimed" else 0,
            next_attempt_at=(
                now + timedelta(minutes=spec.retry_in)
                if status == "failed" and not given_up
                else None
            ),
            claimed_at=wall - CLAIM_TIMEOUT - timedelta(minutes=1) if spec.claim_is_stale else wall,
        )


def oracle(*, now, end, held_from=None, woke=None) -> list[int]:
    """docs/architecture.md's due tasks, with issue 5's retry and takeover rules, by brute force:
    open, dated, now <= due_at <= end, and no row for (task, due_at) unless it is a
    failure due a retry or a claim older than the claim timeout; and of those, due
    before `held_from` (the owner's quiet hours), if given. With `woke` (when the
    owner's last quiet hours ended), also those due since then, past due: their
    quiet hours held them."""
    rows = {(r.task_id, r.due_at): r for r in ReminderLog.objects.all()}
    stale_before = timezone.now() - CLAIM_TIMEOUT
    due = []
    for task in Task.objects.all():
        if task.completed_at is not None or task.due_at is None:
            continue
        held_back = woke is not None and woke <= task.due_at < now
        if not (now <= task.due_at <= end or held_back):
            continue
        row = rows.get((task.pk, task.due_at))
        if row is None:
            due.append(task)
        elif row.status == "failed":
            if row.attempts < MAX_ATTEMPTS and row.next_attempt_at <= now:
                due.append(task)
        elif row.status == "claimed" and row.claimed_at < stale_before:
            due.append(task)
    due = [t for t in due if held_from is None or t.due_at < held_from]
    return [t.pk for t in sorted(due, key=lambda t: (t.due_at, t.pk))]


@hypothesis_settings(max_examples=40, deadline=None)
@given(
    specs_=st.lists(specs, max_size=12),
    # A clock at any hour of a month (shrinking to midnight UTC, not to noon): runs
    # inside and outside people's quiet hours, across Europe's change to summer time.
    days=st.integers(min_value=0, max_value=30),
    hour=st.integers(min_value=0, max_value=23),
    seconds=st.integers(min_value=0, max_value=3599),
    micros=st.integers(min_value=0, max_value=999_999),
    window_hours=st.one_of(st.sampled_from([1, 24]), st.floats(min_value=0.01, max_value=48)),
    batch_size=st.sampled_from([1, 2, 5, 2000]),
    zone=st.sampled_from(["", "Europe/Paris", "America/New_York", "Pacific/Kiritimati"]),
    quiet=st.sampled_from(SPANS),
)
def test_the_job_reminds_exactly_the_tasks_the_oracle_finds(
    specs_, days, hour, seconds, micros, window_hours, batch_size, zone, quiet
):
    now = BASE.replace(hour=0) + timedelta(
        days=days, hours=hour, seconds=seconds, microseconds=micros
    )
    end = now + timedelta(hours=window_hours)
    with override_settings(
        REMINDER_BATCH_SIZE=batch_size,
        REMINDER_MAX_ATTEMPTS=MAX_ATTEMPTS,
        REMINDER_CLAIM_TIMEOUT_SECONDS=int(CLAIM_TIMEOUT.total_seconds()),
    ):
        clear()
        build(specs_, now=now, end=end, zone=zone, quiet=quiet)
        held_from = holds_from(now, zone, quiet)
        woke = woke_since(now, zone, quiet)
        expected = oracle(now=now, end=end, held_from=held_from, woke=woke)
        held = [pk for pk in oracle(now=now, end=end) if pk not in expected]
        untouched = list(ReminderLog.objects.exclude(task__in=expected).values())

        dry = process_reminders(now=now, window_hours=window_hours, dry_run=True)
        real = process_reminders(now=now, window_hours=window_hours)

        assert dry["task_ids"] == expected
        assert [r["task_id"] for r in dry["held"]] == held
        assert (real["selected"], real["sent"], real["skipped"]) == (
            len(expected),
            len(expected),
            0,
        )
        sent_now = ReminderLog.objects.filter(run_id=real["run_id"], status="sent")
        assert sorted(sent_now.values_list("task_id", flat=True)) == sorted(expected)
        assert list(ReminderLog.objects.exclude(task__in=expected).values()) == untouched
