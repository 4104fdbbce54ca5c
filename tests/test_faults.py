"""Killed, cut off, stopped or unable to connect: real `send_reminders` processes,
and what the next run makes of what they left behind."""

import json
import signal
import time
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
CLAIM_TIMEOUT = 2  # seconds, for the rerun that takes over left claims


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


def finish_what_was_left(now, channel, *, handed_back: bool = False) -> None:
    """Rerun as an operator would, then once more after the claim timeout.

    The first rerun (default timeout, 600 s) sends what nobody claimed and leaves
    claims of the dead run alone: they might belong to a live run. The second takes
    them over once they are older than REMINDER_CLAIM_TIMEOUT_SECONDS. A run that
    lived to see its error (`handed_back`) may have released its claims: then the
    first rerun takes them at once.
    """
    rerun(now, channel)
    left = list(ReminderLog.objects.filter(status="claimed").values_list("pk", "claimed_at"))
    if channel == EVENT:
        assert left == []  # a transactional batch commits whole or not at all
    elif not left:
        # Released claims are anyone's at once; only a run that lived to see its
        # error can release them (it may also have lost the database for good).
        assert handed_back
    else:  # the dead run was delivering a committed batch
        newest = max(claimed_at for _, claimed_at in left)
        wait_for(
            lambda: time.time() > newest.timestamp() + CLAIM_TIMEOUT,
            what="the left claims to go stale",
        )
    second = rerun(now, channel, REMINDER_CLAIM_TIMEOUT_SECONDS=str(CLAIM_TIMEOUT))
    assert second["sent"] == len(left)
    assert set(
        ReminderLog.objects.filter(run_id=second["run_id"]).values_list("pk", flat=True)
    ) == {pk for pk, _ in left}


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
    finish_what_was_left(now, channel, handed_back=True)
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
