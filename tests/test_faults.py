"""Killed, cut off, stopped or unable to connect: real `send_reminders` processes,
and what the next run makes of what they left behind."""

import json
import signal
from datetime import timedelta

import pytest
from django.db import connection

from reminders_app.models import ReminderLog, ReminderRun
from tests.factories import create_due_tasks
from tests.outcomes import assert_each_task_sent_exactly_once
from tests.processes import child_env, finish, message_lines, run_manage, start_manage, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BATCH = 200
EVENT = "reminders_app.channels.EventChannel"
EXTERNAL = "tests.channels.External"  # claims committed before delivery, like email
# How many tasks each channel gets: the default channel is fast, the external one
# is slowed down in the run that gets killed.
TASKS = {EVENT: 20_000, EXTERNAL: 5_000}


def send(now, *extra):
    return ("send_reminders", "--now", now.isoformat(), "--json", *extra)


def seed(now, channel) -> list[int]:
    return create_due_tasks(TASKS[channel], first_due=now + timedelta(hours=1))


def start_doomed_run(now, channel):
    """A run with small batches, once it has committed a reminder (and, with the
    external channel, while it delivers a batch whose claims it has committed)."""
    proc = start_manage(
        *send(now),
        env=child_env(
            REMINDER_CHANNEL=channel, REMINDER_BATCH_SIZE=str(BATCH), REMINDER_TEST_DELAY="0.002"
        ),
    )
    wanted = {"sent"} if channel == EVENT else {"sent", "claimed"}
    wait_for(
        lambda: (
            proc.poll() is not None
            or set(ReminderLog.objects.values_list("status", flat=True).distinct()) >= wanted
        ),
        what="the first committed reminder",
    )
    assert proc.poll() is None, finish(proc).stderr
    return proc


def rerun(now, channel, **env):
    result = run_manage(*send(now), env=child_env(REMINDER_CHANNEL=channel, **env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def finish_what_was_left(now, channel) -> None:
    """Rerun as an operator would. PostgreSQL tells at once that the first run died
    (its advisory lock went with its connection), so the rerun records it abandoned
    and takes over every claim it left, without waiting for
    REMINDER_CLAIM_TIMEOUT_SECONDS (600 s)."""
    left = set(ReminderLog.objects.filter(status="claimed").values_list("pk", flat=True))
    if channel == EVENT:
        assert left == set()  # a transactional batch commits whole or not at all
    summary = rerun(now, channel)
    assert not ReminderLog.objects.filter(status="claimed").exists()
    taken_over = ReminderLog.objects.filter(run_id=summary["run_id"], status="sent")
    assert left <= set(taken_over.values_list("pk", flat=True))


@pytest.mark.parametrize("channel", [EVENT, EXTERNAL])
def test_a_run_killed_after_its_first_reminder_loses_and_repeats_nothing(now, channel):
    task_ids = seed(now, channel)
    killed = start_doomed_run(now, channel)

    killed.send_signal(signal.SIGKILL)
    assert finish(killed).returncode == -signal.SIGKILL

    committed = ReminderLog.objects.filter(status="sent").count()
    assert 0 < committed < len(task_ids)
    dead = ReminderRun.objects.get()
    assert dead.status == "running"  # nobody has looked yet
    if channel == EXTERNAL:  # it was delivering a batch whose claims it had committed
        assert ReminderLog.objects.filter(status="claimed").exists()
    finish_what_was_left(now, channel)
    dead.refresh_from_db()
    assert dead.status == "abandoned"
    assert_each_task_sent_exactly_once(task_ids)


@pytest.mark.parametrize("channel", [EVENT, EXTERNAL])
def test_a_run_whose_connection_is_cut_stops_with_one_line_and_keeps_its_work(now, channel):
    task_ids = seed(now, channel)
    cut = start_doomed_run(now, channel)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        assert cursor.fetchall() == [(True,)]
    result = finish(cut)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (message,) = message_lines(result.stderr)
    assert "database error at 127.0.0.1" in message
    committed = ReminderLog.objects.filter(status="sent").count()
    assert 0 < committed < len(task_ids)
    finish_what_was_left(now, channel)
    assert ReminderRun.objects.order_by("started_at").first().status in {"failed", "abandoned"}
    assert_each_task_sent_exactly_once(task_ids)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_stop_signal_ends_the_current_batch_and_records_the_run_interrupted(now, signum):
    task_ids = seed(now, EVENT)
    stopped = start_doomed_run(now, EVENT)

    stopped.send_signal(signum)
    result = finish(stopped, timeout=30)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (message,) = message_lines(result.stderr)
    assert "interrupted" in message
    summary = json.loads(result.stdout)
    run = ReminderRun.objects.get()
    assert (summary["status"], run.status) == ("interrupted", "interrupted")
    committed = ReminderLog.objects.filter(status="sent").count()
    assert 0 < committed < len(task_ids)
    assert committed % BATCH == 0  # whole batches only
    assert summary["sent"] == run.sent == committed
    assert not ReminderLog.objects.exclude(status="sent").exists()

    assert rerun(now, EVENT)["sent"] == len(task_ids) - committed
    assert_each_task_sent_exactly_once(task_ids)


def test_a_stop_signal_mid_delivery_hands_the_undelivered_claims_to_the_next_run(now):
    # An outside channel with slow deliveries: one batch would take 10 s to deliver.
    task_ids = seed(now, EXTERNAL)
    env = child_env(
        REMINDER_CHANNEL=EXTERNAL, REMINDER_BATCH_SIZE="1000", REMINDER_TEST_DELAY="0.01"
    )
    stopped = start_manage(*send(now), env=env)
    wait_for(
        lambda: stopped.poll() is not None or ReminderLog.objects.filter(status="claimed").exists(),
        what="the first committed claims",
    )

    stopped.send_signal(signal.SIGTERM)
    result = finish(stopped, timeout=5)  # mid-batch, not after the rest of it

    assert result.returncode == 1
    (message,) = message_lines(result.stderr)
    assert "interrupted" in message
    left = ReminderLog.objects.filter(status="claimed").count()
    assert left > 0
    # What it claimed and did not deliver is counted released, not skipped.
    summary = json.loads(result.stdout)
    run = ReminderRun.objects.get(pk=summary["run_id"])
    for counts in (summary, vars(run)):
        assert counts["released"] == left
        assert counts["selected"] == counts["sent"] + counts["skipped"] + counts["released"]
    # The next run, with the default ten-minute claim timeout, takes them at once.
    assert (
        rerun(now, EXTERNAL)["sent"]
        == len(task_ids)
        - ReminderLog.objects.filter(run__status="interrupted", status="sent").count()
    )
    assert_each_task_sent_exactly_once(task_ids)
