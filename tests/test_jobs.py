"""The reminder job: which tasks are reminded, once, and what is recorded."""

import logging
from datetime import timedelta

import pytest

from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog, ReminderRun
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)

H = timedelta(hours=1)
S = timedelta(seconds=1)


def sent_task_ids():
    return set(ReminderLog.objects.filter(status="sent").values_list("task_id", flat=True))


def test_window_edges_are_inclusive(now):
    at_start = TaskFactory(due_at=now)
    at_end = TaskFactory(due_at=now + 24 * H)
    TaskFactory(due_at=now - S)
    TaskFactory(due_at=now + 24 * H + S)

    summary = process_reminders(now=now)

    assert sent_task_ids() == {at_start.pk, at_end.pk}
    assert (summary["selected"], summary["sent"], summary["skipped"], summary["failed"]) == (
        2,
        2,
        0,
        0,
    )


def test_completed_and_undated_tasks_are_never_reminded(now):
    due = TaskFactory(due_at=now + H)
    TaskFactory(due_at=now + H, completed_at=now - H)
    TaskFactory(due_at=None)

    process_reminders(now=now)

    assert sent_task_ids() == {due.pk}


def test_window_hours_overrides_the_setting(now, settings):
    settings.REMINDER_WINDOW_HOURS = 24
    near = TaskFactory(due_at=now + 2 * H)
    TaskFactory(due_at=now + 5 * H)

    summary = process_reminders(now=now, window_hours=3)

    assert sent_task_ids() == {near.pk}
    assert summary["window_end"] == (now + 3 * H).isoformat()


def test_a_second_run_sends_nothing(now):
    TaskFactory.create_batch(3, due_at=now + H)

    first = process_reminders(now=now)
    second = process_reminders(now=now + timedelta(minutes=30))

    assert first["sent"] == 3
    assert (second["selected"], second["sent"]) == (0, 0)
    assert ReminderLog.objects.count() == 3


def test_a_rescheduled_task_is_reminded_again_and_keeps_its_old_row(now):
    task = TaskFactory(due_at=now + H)
    process_reminders(now=now)

    task.due_at = now + 3 * H
    task.save()
    summary = process_reminders(now=now + 2 * S)

    assert summary["sent"] == 1
    rows = list(
        ReminderLog.objects.filter(task=task).order_by("due_at").values_list("due_at", "status")
    )
    assert rows == [(now + H, "sent"), (now + 3 * H, "sent")]


def test_a_task_moved_back_to_a_reminded_due_date_is_not_reminded_twice(now):
    task = TaskFactory(due_at=now + H)
    process_reminders(now=now)
    task.due_at = now + 3 * H
    task.save()
    process_reminders(now=now)
    task.due_at = now + H
    task.save()

    summary = process_reminders(now=now)

    assert summary["sent"] == 0
    assert ReminderLog.objects.filter(task=task).count() == 2


def test_the_run_is_recorded_with_its_window_and_counts(now):
    TaskFactory.create_batch(2, due_at=now + H)

    summary = process_reminders(now=now, trigger="command")

    run = ReminderRun.objects.get()
    assert str(run.pk) == summary["run_id"]
    assert (run.trigger, run.status) == ("command", "succeeded")
    assert (run.window_start, run.window_end) == (now, now + 24 * H)
    assert (run.selected, run.sent, run.skipped, run.failed) == (2, 2, 0, 0)
    assert run.started_at <= run.finished_at
    assert set(ReminderLog.objects.values_list("run_id", flat=True)) == {run.pk}


def test_run_times_are_wall_clock_even_with_a_fixed_now(now):
    process_reminders(now=now)

    run = ReminderRun.objects.get()
    assert run.started_at > now + 200 * 24 * H  # the test clock is in March 2026


def test_dry_run_writes_nothing_and_lists_the_due_tasks(now):
    tasks = TaskFactory.create_batch(2, due_at=now + H)

    summary = process_reminders(now=now, dry_run=True)

    assert summary["run_id"] is None
    assert summary["selected"] == 2
    assert summary["task_ids"] == [t.pk for t in tasks]
    assert not ReminderLog.objects.exists()
    assert not ReminderRun.objects.exists()


def test_batches_cover_every_due_task(now, settings):
    settings.REMINDER_BATCH_SIZE = 3
    tasks = TaskFactory.create_batch(10, due_at=now + H)  # equal due dates: keyset on id

    summary = process_reminders(now=now)

    assert summary["sent"] == 10
    assert sent_task_ids() == {t.pk for t in tasks}


def test_a_reminder_log_line_carries_ids_and_no_task_content(now, caplog):
    task = TaskFactory(due_at=now + H, title="Secret merger", description="Call Bob at home")
    caplog.set_level(logging.INFO)

    summary = process_reminders(now=now)

    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "reminder_sent"]
    assert record.task_id == task.pk
    assert record.run_id == summary["run_id"]
    assert record.due_at == (now + H).isoformat()
    everything = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in (task.title, task.description, task.owner.email, task.owner.first_name):
        assert secret not in everything


def test_a_failing_delivery_is_recorded_and_the_others_are_sent(now, settings, caplog):
    settings.REMINDER_CHANNEL = "tests.channels.FailsForUndeliverable"
    ok = TaskFactory.create_batch(2, due_at=now + H)
    bad = TaskFactory(due_at=now + 2 * H, title="undeliverable board minutes")

    summary = process_reminders(now=now)

    assert (summary["sent"], summary["failed"]) == (2, 1)
    assert sent_task_ids() == {t.pk for t in ok}
    row = ReminderLog.objects.get(task=bad)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error == "RuntimeError"
    (line,) = [r for r in caplog.records if getattr(r, "event", "") == "reminder_failed"]
    assert (line.levelname, line.task_id, line.run_id) == ("ERROR", bad.pk, summary["run_id"])
    assert "board minutes" not in f"{line.getMessage()} {line.__dict__}"


def test_the_next_run_retries_a_failed_reminder(now, settings):
    settings.REMINDER_CHANNEL = "tests.channels.FailsOnce"
    task = TaskFactory(due_at=now + 2 * H)
    process_reminders(now=now)

    summary = process_reminders(now=now + timedelta(minutes=1))

    assert (summary["selected"], summary["sent"]) == (1, 1)
    row = ReminderLog.objects.get(task=task)
    assert (row.status, row.attempts, row.error) == ("sent", 2, "")


def test_a_run_never_reports_itself_abandoned(now, caplog):
    caplog.set_level(logging.INFO)

    process_reminders(now=now)

    assert not [r for r in caplog.records if getattr(r, "event", "") == "run_abandoned"]
    assert ReminderRun.objects.get().status == "succeeded"


def test_a_run_records_the_channel_it_delivered_through(now, settings):
    settings.REMINDER_CHANNEL = "reminders_app.channels.EventChannel"
    TaskFactory(due_at=now + H)

    summary = process_reminders(now=now, trigger="admin")

    run = ReminderRun.objects.get(pk=summary["run_id"])
    assert (run.channel, run.trigger) == ("reminders_app.channels.EventChannel", "admin")
