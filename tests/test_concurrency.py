"""Runs at the same time, as separate processes on PostgreSQL: the unique
constraint decides every race, so each task is reminded once."""

import json
import time
from collections import Counter
from datetime import timedelta

import pytest

from reminders_app.models import ReminderLog, ReminderRun
from tests.factories import create_due_tasks
from tests.outcomes import assert_each_task_sent_exactly_once
from tests.processes import child_env, finish, run_manage, run_many, start_manage, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RUNS = 4


def send(now):
    return ("send_reminders", "--now", now.isoformat(), "--json")


@pytest.mark.parametrize(
    ("channel", "tasks"),
    [("tests.channels.EventTogether", 4000), ("tests.channels.ExternalTogether", 2000)],
)
def test_runs_started_at_the_same_moment_remind_each_task_once(now, tmp_path, channel, tasks):
    task_ids = create_due_tasks(tasks, first_due=now + timedelta(hours=1))
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    deliveries = tmp_path / "deliveries"
    env = child_env(
        REMINDER_CHANNEL=channel,
        REMINDER_BATCH_SIZE="250",
        REMINDER_TEST_BARRIER=str(barrier),
        REMINDER_TEST_PARTIES=str(RUNS),
        REMINDER_TEST_DELIVERIES=str(deliveries),
    )

    results = run_many([(send(now), env)] * RUNS)

    assert [r.returncode for r in results] == [0] * RUNS, [r.stderr for r in results]
    summaries = [json.loads(r.stdout) for r in results]
    assert sum(s["sent"] for s in summaries) == len(task_ids)
    for s in summaries:
        assert s["selected"] == s["sent"] + s["skipped"] + s["failed"]
        run = ReminderRun.objects.get(pk=s["run_id"])
        assert (run.status, run.sent) == ("succeeded", s["sent"])
        assert ReminderLog.objects.filter(run=run).count() == s["sent"]
    assert_each_task_sent_exactly_once(task_ids)
    if deliveries.exists():  # the external channel delivered each reminder once
        assert Counter(deliveries.read_text().split()) == Counter(map(str, task_ids))


def test_claims_of_a_run_that_is_still_delivering_are_not_taken_over(now, tmp_path):
    # GIVEN a slow run whose work lasts longer than the claim timeout
    task_ids = create_due_tasks(200, first_due=now + timedelta(hours=1))
    deliveries = tmp_path / "deliveries"
    env = child_env(
        REMINDER_CHANNEL="tests.channels.External",
        REMINDER_BATCH_SIZE="5",
        REMINDER_CLAIM_TIMEOUT_SECONDS="1",
        REMINDER_TEST_DELIVERIES=str(deliveries),
    )
    slow = start_manage(*send(now), env=child_env(**env, REMINDER_TEST_DELAY="0.02"))
    wait_for(
        lambda: slow.poll() is not None or ReminderLog.objects.filter(status="sent").exists(),
        what="the slow run's first reminder",
    )
    started = ReminderRun.objects.get().started_at.timestamp()
    wait_for(lambda: time.time() > started + 1.5, what="the slow run to outlive the timeout")
    assert slow.poll() is None

    # WHEN a second run starts while the first is still delivering
    second = run_manage(*send(now), env=env)
    first = finish(slow)

    # THEN each reminder was delivered once, by the run that claimed it
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert Counter(deliveries.read_text().split()) == Counter(map(str, task_ids))
    summaries = [json.loads(r.stdout) for r in (first, second)]
    assert sum(s["sent"] for s in summaries) == len(task_ids)
    assert_each_task_sent_exactly_once(task_ids)
