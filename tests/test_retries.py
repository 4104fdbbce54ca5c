"""Delivery failures: recorded without task content, retried with growing waits,
given up after REMINDER_MAX_ATTEMPTS, and never in the way of other reminders."""

import json
import logging
from datetime import timedelta

import pytest

from reminders_app.health import check_health
from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog
from tests.factories import TaskFactory
from tests.processes import child_env, message_lines, run_manage

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)
ALWAYS_FAILS = "tests.channels.AlwaysFails"
EVENT = "reminders_app.channels.EventChannel"


def secrets_of(task) -> list[str]:
    return [task.title, task.description, task.owner.email, task.owner.last_name]


def row_for(task) -> ReminderLog:
    return ReminderLog.objects.get(task=task, due_at=task.due_at)


@pytest.mark.parametrize(
    "channel", ["tests.channels.FailsOnce", "tests.channels.FailsOnceExternal"]
)
def test_a_delivery_that_fails_once_is_recorded_and_sent_by_the_next_run(now, settings, channel):
    settings.REMINDER_CHANNEL = channel
    tasks = TaskFactory.create_batch(3, due_at=now + H)

    first = process_reminders(now=now)

    assert (first["selected"], first["sent"], first["failed"]) == (3, 0, 3)
    for task in tasks:
        row = row_for(task)
        assert (row.status, row.attempts, row.sent_at) == ("failed", 1, None)
        assert row.error == "RuntimeError"  # the type only: the message quotes the title
        assert row.next_attempt_at == now  # the next run may retry a first failure

    settings.TEST_SERVICE_DOWN = False
    second = process_reminders(now=now + M)

    assert (second["selected"], second["sent"], second["failed"]) == (3, 3, 0)
    for task in tasks:
        row = row_for(task)
        assert (row.status, row.attempts, row.error) == ("sent", 2, "")
        assert str(row.run_id) == second["run_id"]
    assert process_reminders(now=now + 2 * M)["selected"] == 0


def test_retries_wait_longer_each_time_then_the_reminder_stays_failed(now, settings):
    settings.REMINDER_CHANNEL = ALWAYS_FAILS
    settings.REMINDER_MAX_ATTEMPTS = 4
    task = TaskFactory(due_at=now + 12 * H)
    clock, waits = now, []

    for attempt in range(1, 5):
        assert process_reminders(now=clock)["failed"] == 1
        row = row_for(task)
        assert (row.status, row.attempts) == ("failed", attempt)
        if attempt == 4:
            break
        waits.append(row.next_attempt_at - clock)
        if waits[-1]:  # not retried a second before its time
            early = process_reminders(now=row.next_attempt_at - S)
            assert early["selected"] == 0
            assert row_for(task).attempts == attempt
        clock = row.next_attempt_at + M

    assert waits[0] >= timedelta(0)
    assert timedelta(0) < waits[1] and waits[2] == 2 * waits[1]  # exponential
    row = row_for(task)
    assert row.next_attempt_at is None
    # Given up: later runs, even with a working channel, leave it failed.
    settings.REMINDER_CHANNEL = EVENT
    for later in (clock + H, task.due_at - M):
        assert process_reminders(now=later)["selected"] == 0
    assert (row_for(task).status, row_for(task).attempts) == ("failed", 4)
    assert check_health().failed_reminders == 1


def test_a_failed_reminder_is_not_retried_once_its_task_is_completed_or_moved(now, settings):
    settings.REMINDER_CHANNEL = ALWAYS_FAILS
    done, moved = TaskFactory.create_batch(2, due_at=now + H)
    assert process_reminders(now=now)["failed"] == 2

    done.completed_at = now
    done.save()
    moved.due_at = now + 5 * H
    moved.save()
    settings.REMINDER_CHANNEL = EVENT
    summary = process_reminders(now=now + M)

    assert (summary["selected"], summary["sent"]) == (1, 1)
    rows = ReminderLog.objects.order_by("task_id", "due_at").values_list(
        "task_id", "due_at", "status", "attempts"
    )
    assert list(rows) == [
        (done.pk, now + H, "failed", 1),
        (moved.pk, now + H, "failed", 1),  # the old due date is not retried
        (moved.pk, now + 5 * H, "sent", 1),
    ]


def test_one_undeliverable_task_never_holds_up_the_others(now, settings, caplog):
    settings.REMINDER_CHANNEL = "tests.channels.FailsForUndeliverable"
    settings.REMINDER_BATCH_SIZE = 2
    caplog.set_level(logging.INFO)
    poison = TaskFactory(
        due_at=now + H,
        title="undeliverable: dinner with Dana",
        description="Room 12, 8pm",
        owner__last_name="Quackenbush",
    )
    others = TaskFactory.create_batch(5, due_at=now + 2 * H)

    first = process_reminders(now=now)
    later = TaskFactory.create_batch(2, due_at=now + 3 * H)
    settings.TEST_SERVICE_DOWN = False
    second = process_reminders(now=now + M)

    assert (first["sent"], first["failed"]) == (5, 1)
    assert (second["selected"], second["sent"], second["failed"]) == (3, 2, 1)
    sent = set(ReminderLog.objects.filter(status="sent").values_list("task_id", flat=True))
    assert sent == {t.pk for t in others + later}
    assert row_for(poison).attempts == 2
    failures = [r for r in caplog.records if getattr(r, "event", "") == "reminder_failed"]
    assert [(r.levelname, r.task_id, r.error) for r in failures] == [
        ("ERROR", poison.pk, "RuntimeError")
    ] * 2
    assert [r.run_id for r in failures] == [first["run_id"], second["run_id"]]
    everything = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in secrets_of(poison):
        assert secret not in everything
    assert "dinner" not in row_for(poison).error


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_deliveries_all_fail_reports_them_in_one_line_and_logs_no_content(now):
    tasks = TaskFactory.create_batch(
        3, due_at=now + H, title="Secret merger with Initech", owner__last_name="Quackenbush"
    )

    result = run_manage(
        "send_reminders",
        "--now",
        now.isoformat(),
        "--json",
        env=child_env(REMINDER_CHANNEL=ALWAYS_FAILS),
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (message,) = message_lines(result.stderr)
    assert "3 reminders failed" in message
    summary = json.loads(result.stdout)
    assert (summary["sent"], summary["failed"]) == (0, 3)
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    failed = [line for line in lines if line.get("event") == "reminder_failed"]
    assert sorted(line["task_id"] for line in failed) == sorted(t.pk for t in tasks)
    assert {line["run_id"] for line in failed} == {summary["run_id"]}
    assert all(line["level"] == "ERROR" and line["timestamp"] for line in failed)
    for secret in secrets_of(tasks[0]) + [t.owner.email for t in tasks]:
        assert secret not in result.stderr + result.stdout


def test_a_transactional_channel_that_cannot_reach_its_service_hands_the_claim_back(now, settings):
    """RelayUnavailable means the same for every channel: released, no attempt spent,
    taken by the next run at once (not failed, as if the reminder were at fault)."""
    settings.REMINDER_CHANNEL = "tests.channels.UnreachableWhileDown"
    settings.TEST_SERVICE_DOWN = True
    task = TaskFactory(due_at=now + H)

    first = process_reminders(now=now)

    assert (first["released"], first["failed"], first["sent"]) == (1, 0, 0)
    row = row_for(task)
    assert (row.status, row.attempts, row.sent_at, row.error) == ("claimed", 0, None, "")

    settings.TEST_SERVICE_DOWN = False
    second = process_reminders(now=now + M)

    assert (second["sent"], second["failed"]) == (1, 0)
    assert (row_for(task).status, row_for(task).attempts) == ("sent", 1)
