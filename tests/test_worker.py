"""The project's cluster (tasksite/worker/cluster.py) with real `manage.py qcluster`
processes: workers SIGKILLed (as the OOM killer does) never stop queued or scheduled
work, and SIGTERM stops the cluster within 30 s whatever it is doing, a reminder
job included, which the next cluster finishes."""

import os
import re
import signal
import subprocess
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import OrmQ
from django_q.scheduler import scheduler
from django_q.tasks import async_task

from reminders_app.models import ReminderLog, ReminderRun
from reminders_app.schedule import JOB_FUNC
from tests.factories import TaskFactory, UserFactory
from tests.processes import wait_for
from tests.smtp import Relay

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# The guard looks at the workers every second, reincarnating the dead.
FAST_GUARD = {"Q_CLUSTER_GUARD_CYCLE": "1", "Q_CLUSTER_WORKERS": "2"}
STOP_WITHIN = 30  # seconds


def workers(clusters) -> list[int]:
    """The process ids of the cluster's workers alive now (each logs `ready for work
    at <pid>` as it starts)."""
    pids = {int(pid) for pid in re.findall(r"ready for work at (\d+)", clusters.output())}
    return sorted(pid for pid in pids if alive(pid))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a killed child not yet reaped is a zombie
        return stat.read().split(") ")[-1][:1] != "Z"


def kill(pids: list[int]) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not any(alive(pid) for pid in pids), timeout=10, what="the kills")


def runs(**filters) -> int:
    return ReminderRun.objects.filter(parent__isnull=True, **filters).count()


def queue_a_run_and_wait(clusters, *, within: float = 60) -> None:
    """Queue one run of the job (as Send now does) and wait until a worker ran it."""
    before = runs(trigger="admin", status="succeeded")
    async_task(JOB_FUNC, trigger="admin")
    wait_for(
        lambda: runs(trigger="admin", status="succeeded") > before,
        timeout=within,
        what=f"the queued run\n{clusters.output()}",
    )


def sigterm(clusters) -> tuple[int, float]:
    """SIGTERM the cluster's main process; its exit status and how long it took."""
    proc, log = clusters.running.pop()
    started = time.monotonic()
    proc.terminate()
    try:
        status = proc.wait(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:  # still running: take it down, and fail below
        os.killpg(proc.pid, signal.SIGKILL)
        status = proc.wait()
    log.close()
    return status, time.monotonic() - started


def test_killed_workers_never_stop_queued_or_scheduled_work(clusters, hourly_schedule):
    """django-q2 1.11 alone: after the kills, nothing runs again and SIGTERM hangs."""
    TaskFactory(due_at=timezone.now() + timedelta(hours=2))
    started = time.monotonic()
    clusters.start(1, **FAST_GUARD)
    clusters.wait_running()
    queue_a_run_and_wait(clusters)  # the control: a worker runs it
    first, second = wait_for(lambda: len(workers(clusters)) == 2 and workers(clusters), what="2")

    kill([first])
    queue_a_run_and_wait(clusters)
    kill(workers(clusters))  # every worker, those reincarnated included
    queue_a_run_and_wait(clusters)

    # The slot due now, queued as the cluster's scheduler does on its next tick.
    hourly_schedule.next_run = timezone.now().replace(minute=0, second=0, microsecond=0)
    hourly_schedule.save()
    kill(workers(clusters))
    scheduler(broker=get_broker())
    wait_for(
        lambda: runs(trigger="schedule", status="succeeded"),
        what=f"the scheduled run\n{clusters.output()}",
    )
    assert time.monotonic() - started < 60

    kill(workers(clusters))  # and stop it just after
    status, took = sigterm(clusters)
    assert (status, took < STOP_WITHIN) == (0, True), clusters.output()
    assert "Traceback" not in clusters.output()


def test_sigterm_stops_a_running_job_and_the_next_cluster_finishes_it(clusters, hourly_schedule):
    """A deploy mid-run: the run stops after the mail in flight, `interrupted`, its
    claims handed back; a restarted cluster sends the rest at once, each mail once."""
    relay = Relay(delay=0.05).start()
    try:
        owner = UserFactory()
        due = timezone.now() + timedelta(hours=2)
        TaskFactory.create_batch(60, owner=owner, due_at=due)
        mail = {
            "REMINDER_CHANNEL": "reminders_app.channels.EmailChannel",
            "REMINDER_DELIVERY_CONCURRENCY": "2",
            **relay.env(),
        }
        hourly_schedule.next_run = slot = timezone.now().replace(minute=0, second=0, microsecond=0)
        hourly_schedule.save()
        scheduler(broker=get_broker())  # queues the slot's run, as the cluster's scheduler does
        clusters.start(1, **mail)
        wait_for(lambda: len(relay.received()) >= 10, what=f"mail\n{clusters.output()}")

        status, took = sigterm(clusters)
        assert (status, took < STOP_WITHIN) == (0, True), clusters.output()
        (stopped,) = ReminderRun.objects.all()
        assert stopped.status == "interrupted"
        assert 10 <= stopped.sent < 60
        assert stopped.selected == stopped.sent + stopped.released
        (continuation,) = OrmQ.objects.all()
        assert continuation.func() == JOB_FUNC

        clusters.start(1, **mail)  # the restarted worker
        wait_for(
            lambda: ReminderLog.objects.filter(status="sent").count() == 60,
            what=f"the rest\n{clusters.output()}",
        )
        clusters.stop()
    finally:
        relay.stop()

    # Each reminder mailed once: the run stopped after the mail in flight.
    sent = ReminderLog.objects.values_list("pk", flat=True)
    assert len(sent) == 60
    assert Counter(relay.reminder_ids()) == dict.fromkeys(sent, 1)
    rest = ReminderRun.objects.exclude(pk=stopped.pk).get()
    assert (rest.trigger, rest.scheduled_for, rest.status) == ("schedule", slot, "succeeded")


def test_sigterm_to_every_process_of_an_idle_cluster_stops_it(clusters):
    """As systemd's default KillMode (control-group) does: django-q2 1.11 hung, setting
    an event its dead sentinel could never acknowledge."""
    clusters.start(1)
    clusters.wait_running()
    proc, log = clusters.running.pop()
    started = time.monotonic()

    os.killpg(proc.pid, signal.SIGTERM)

    try:
        status = proc.wait(timeout=STOP_WITHIN)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of it
        log.close()
    assert status == 0
    assert time.monotonic() - started < STOP_WITHIN


def test_the_worker_puts_a_schedule_moved_off_minute_0_back_as_it_starts(clusters, hourly_schedule):
    moved = timezone.now().replace(minute=35, second=0, microsecond=0) + timedelta(hours=1)
    hourly_schedule.next_run = moved
    hourly_schedule.repeats = 0  # paused: it stays so
    hourly_schedule.save()

    clusters.start(1)
    clusters.wait_running()

    hourly_schedule.refresh_from_db()
    assert hourly_schedule.next_run == moved.replace(minute=0) + timedelta(hours=1)
    assert hourly_schedule.repeats == 0
    assert '"event":"schedule_restored"' in clusters.output()
