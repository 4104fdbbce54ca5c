"""Real `manage.py qcluster` processes run the hourly schedule: every task is
reminded once, however many clusters, hand runs and redeliveries overlap.

Each cluster starts with Q_CLUSTER_GUARD_CYCLE=30, so django-q2 calls its scheduler
on its first guard cycle instead of 30 s after start, and polls the ORM queue every
0.1 s. The clusters' output goes to files, shown when a test fails.
"""

import json
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Failure, OrmQ, Schedule, Success
from django_q.scheduler import scheduler
from django_q.tasks import async_task

from reminders_app.models import ReminderLog, ReminderRun
from reminders_app.schedule import INTERVAL, SCHEDULE_NAME
from tests.factories import TaskFactory, UserFactory
from tests.processes import claims_held, run_manage, start_manage, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def due_tasks(count: int) -> set[int]:
    owner = UserFactory()
    due = timezone.now() + timedelta(hours=2)
    return {task.pk for task in TaskFactory.create_batch(count, owner=owner, due_at=due)}


def make_due(schedule: Schedule):
    """Put the schedule's next run on the slot that began this hour: it is due now."""
    schedule.next_run = timezone.now().replace(minute=0, second=0, microsecond=0)
    schedule.save()
    return schedule.next_run


def reminders_per_task() -> Counter:
    return Counter(ReminderLog.objects.filter(status="sent").values_list("task_id", flat=True))


def running(**filters) -> int:
    return ReminderRun.objects.filter(status="running", **filters).count()


def settled(count: int):
    """The scheduled runs once `count` have finished and the broker holds no message."""
    runs = list(ReminderRun.objects.filter(trigger="schedule").order_by("started_at"))
    done = len(runs) == count and all(run.finished_at for run in runs)
    return runs if done and not OrmQ.objects.exists() else None


def assert_counts_add_up(run: ReminderRun) -> None:
    assert run.status == "succeeded"
    assert run.selected == run.sent + run.skipped + run.failed


def test_two_clusters_run_a_due_schedule_once(clusters, hourly_schedule):
    tasks = due_tasks(50)
    slot = make_due(hourly_schedule)
    started = time.monotonic()

    clusters.start(2)
    (run,) = wait_for(lambda: settled(1), what=f"the scheduled run\n{clusters.output()}")
    print(f"\ntwo clusters: the due run was done {time.monotonic() - started:.1f} s after start")
    clusters.stop()

    assert reminders_per_task() == dict.fromkeys(tasks, 1)
    assert run.trigger == "schedule"
    assert run.scheduled_for == slot
    assert run.lag == run.started_at - slot
    assert run.lag > timedelta(0)
    assert (run.selected, run.sent) == (50, 50)
    assert_counts_add_up(run)
    assert Success.objects.filter(group=SCHEDULE_NAME).count() == 1
    hourly_schedule.refresh_from_db()
    assert hourly_schedule.next_run > timezone.now()
    assert hourly_schedule.next_run - slot <= 2 * INTERVAL
    assert hourly_schedule.next_run.minute == 0


def test_the_schedule_firing_during_a_run_by_hand_reminds_each_task_once(clusters, hourly_schedule):
    tasks = due_tasks(300)
    make_due(hourly_schedule)

    with claims_held():
        by_hand = start_manage("send_reminders")
        clusters.start(2)
        wait_for(
            lambda: running(trigger="command") == 1 and running(trigger="schedule") == 1,
            what=f"both runs to start\n{clusters.output()}",
        )
    stdout, stderr = by_hand.communicate(timeout=60)
    (scheduled,) = wait_for(lambda: settled(1), what=f"the scheduled run\n{clusters.output()}")
    clusters.stop()

    assert by_hand.returncode == 0, stderr
    command = ReminderRun.objects.get(trigger="command")
    assert reminders_per_task() == dict.fromkeys(tasks, 1)
    assert command.sent + scheduled.sent == 300
    assert command.started_at < scheduled.finished_at
    assert scheduled.started_at < command.finished_at
    for run in (command, scheduled):
        assert_counts_add_up(run)


def test_a_job_redelivered_while_it_runs_reminds_each_task_once(clusters, hourly_schedule):
    tasks = due_tasks(300)
    slot = make_due(hourly_schedule)
    scheduler(broker=get_broker())  # queues the slot's run, as a cluster's scheduler does

    with claims_held():
        clusters.start(2)
        wait_for(lambda: running(trigger="schedule") == 1, what="the first delivery to start")
        # The broker hands a message out again once its lock, set to `retry` seconds
        # ahead when it was taken, has passed without an acknowledgement.
        assert OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=1)) == 1
        wait_for(lambda: running(trigger="schedule") == 2, what="the redelivery to start")
    first, second = wait_for(lambda: settled(2), what=f"both runs\n{clusters.output()}")
    clusters.stop()

    assert reminders_per_task() == dict.fromkeys(tasks, 1)
    assert first.sent + second.sent == 300
    assert first.scheduled_for == second.scheduled_for == slot
    for run in (first, second):
        assert_counts_add_up(run)


def test_qinfo_sees_every_running_cluster(clusters):
    """Cluster statistics live in the database cache, so another process sees them
    (with the default guard cycle: a statistic expires 3 s after it was saved)."""
    clusters.start(2, Q_CLUSTER_GUARD_CYCLE="0.5")

    def cluster_ids():
        lines = run_manage("qinfo", "--ids").stdout.splitlines()
        return lines if len(lines) == 2 and "No clusters" not in lines[0] else None

    assert len(set(wait_for(cluster_ids, what=f"two clusters in qinfo\n{clusters.output()}"))) == 2


def test_a_cluster_refuses_functions_that_are_not_allowed_and_keeps_sending(
    clusters, hourly_schedule, tmp_path_factory
):
    """Rows written straight into the tables, one before the cluster starts (it starts
    all the same) and the others while it runs: schedules of os.system and
    subprocess.call (one asking to run in-process), one of the reminder job with a
    window of years, and a queued task of os.system. None runs; each is one ERROR line
    naming it by id, never its arguments or name; the reminder job due with them runs
    as usual."""
    markers = tmp_path_factory.mktemp("markers")
    tasks = due_tasks(5)
    due = timezone.now() - timedelta(minutes=1)
    Schedule.objects.create(
        name="rogue-early",
        func="os.system",
        args=repr(f"touch {markers / 'early'}"),
        schedule_type=Schedule.HOURLY,
        next_run=due,
    )
    clusters.start(1)
    wait_for(lambda: "running." in clusters.output(), what=f"the cluster\n{clusters.output()}")
    rogue = {
        "rogue-system": {"func": "os.system", "args": repr(f"touch {markers / 'system'}")},
        "rogue-call": {
            "func": "subprocess.call",
            "args": repr((["touch", str(markers / "call")],)),
            "kwargs": "q_options={'sync': True}",
        },
        "rogue-job": {"func": "reminders_app.jobs.process_reminders", "kwargs": "window_hours=8e5"},
    }
    for name, fields in rogue.items():
        Schedule.objects.create(name=name, schedule_type=Schedule.HOURLY, next_run=due, **fields)
    make_due(hourly_schedule)

    scheduler(broker=get_broker())  # what the cluster's scheduler does on its next tick
    async_task("os.system", f"touch {markers / 'queued'}", task_name="rogue-queued")

    wait_for(
        lambda: settled(1) and Failure.objects.count() == 5,
        what=f"the run and five refusals\n{clusters.output()}",
    )
    clusters.stop()

    assert list(markers.iterdir()) == []
    assert reminders_per_task() == dict.fromkeys(tasks, 1)
    failures = {f.group or f.name: f for f in Failure.objects.all()}
    assert set(failures) == {
        "rogue-early",
        "rogue-system",
        "rogue-call",
        "rogue-queued",
        "rogue-job",
    }
    for name, failure in failures.items():
        refused = "refused: only the schedule 'send-due-reminders' runs the reminder job"
        if name != "rogue-job":
            refused = f"refused: {failure.func!r} is not a function"
        assert failure.result.startswith(refused)
        assert (failure.args, failure.kwargs) == ((), {})
    assert not ReminderRun.objects.exclude(window_end__lt=timezone.now() + INTERVAL * 25)
    log = "\n".join(path.read_text() for path in clusters.logs.iterdir())
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    refused = [line for line in lines if line.get("event") == "task_refused"]
    schedules = dict(Schedule.objects.values_list("name", "pk"))
    assert sorted(line["schedule_id"] or 0 for line in refused) == sorted(
        [schedules[name] for name in ("rogue-early", "rogue-system", "rogue-call", "rogue-job")]
        + [0]  # the queued task: no schedule
    )
    assert all(line["level"] == "ERROR" for line in refused)
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert not [line for line in errors if "touch" in str(line) or "Traceback" in str(line)]
    assert not [line for line in refused if "rogue" in str(line)]
