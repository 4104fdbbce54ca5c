"""`manage.py send_reminders`: output, exit status and one-line errors."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command

from reminders_app.models import ReminderLog, ReminderRun
from tests.factories import TaskFactory

SUMMARY_KEYS = {"run_id", "selected", "sent", "skipped", "failed"}


@pytest.mark.django_db(transaction=True)
def test_json_prints_one_object_with_every_key(now, capsys):
    TaskFactory.create_batch(2, due_at=now + timedelta(hours=1))
    call_command("send_reminders", "--json", f"--now={now.isoformat()}")

    out = capsys.readouterr().out
    summary = json.loads(out)
    assert SUMMARY_KEYS | {"window_start", "window_end", "dry_run"} <= summary.keys()
    assert (summary["sent"], summary["dry_run"]) == (2, False)
    assert summary["window_start"] == now.isoformat()
    assert summary["run_id"] == str(ReminderRun.objects.get().pk)


@pytest.mark.django_db(transaction=True)
def test_now_without_an_offset_is_read_as_utc(now, capsys):
    call_command("send_reminders", "--json", "--now=2026-03-10T12:00:00", "--window-hours=1.5")

    summary = json.loads(capsys.readouterr().out)
    assert summary["window_start"] == "2026-03-10T12:00:00+00:00"
    assert summary["window_end"] == "2026-03-10T13:30:00+00:00"


@pytest.mark.django_db(transaction=True)
def test_dry_run_lists_task_ids_and_records_nothing(now, capsys):
    task = TaskFactory(due_at=now + timedelta(hours=1))
    call_command("send_reminders", "--dry-run", f"--now={now.isoformat()}")

    out = capsys.readouterr().out
    assert (
        f"would remind user {task.owner_id} of task {task.pk}, due {task.due_at.isoformat()}" in out
    )
    assert not ReminderLog.objects.exists() and not ReminderRun.objects.exists()
