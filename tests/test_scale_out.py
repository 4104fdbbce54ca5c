"""One run's work shared: several `send_reminders` processes on one window, a run in
parts over two real qclusters sharing Redis and PostgreSQL, one of them killed, and
`send_reminders --workers`. Mail goes to a real aiosmtpd relay that takes its time
with each message, as a relay does, so the work is bound by its latency."""

import json
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.utils import timezone
from django_q.brokers.redis_broker import Redis
from django_q.tasks import async_task

from reminders_app import jobs
from reminders_app.models import ReminderLog, ReminderPreference, ReminderRun
from reminders_app.plan import aware
from reminders_app.schedule import JOB_FUNC as JOB
from tests.factories import UserFactory, create_due_tasks
from tests.outcomes import assert_each_task_sent_exactly_once
from tests.processes import (
    child_env,
    message_lines,
    run_manage,
    run_many,
    start_manage,
    wait_for,
)
from tests.smtp import Relay, free_port
from tests.test_cluster import make_due

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EMAIL = "reminders_app.channels.EmailChannel"
CONCURRENCY = 4  # connections per process (or part)


@pytest.fixture
def relay():
    relay = Relay(delay=0.05).start()
    yield relay
    relay.stop()


def mail_env(relay, **env) -> dict[str, str]:
    return relay.env() | {
        "REMINDER_CHANNEL": EMAIL,
        "REMINDER_DELIVERY_CONCURRENCY": str(CONCURRENCY),
        **env,
    }


def sent_once(relay, task_ids) -> None:
    """Every task's reminder recorded sent once, and the relay got one mail each."""
    assert_each_task_sent_exactly_once(task_ids)
    mailed = Counter(relay.reminder_ids())
    assert set(mailed) == set(ReminderLog.objects.values_list("pk", flat=True))


def test_four_processes_on_one_window_share_it(now, tmp_path, relay):
    # GIVEN 640 due reminders and four processes that start selecting together
    task_ids = create_due_tasks(640, first_due=now + timedelta(hours=1))
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = child_env(
        **mail_env(relay, REMINDER_CHANNEL="tests.channels.EmailTogether"),
        REMINDER_TEST_BARRIER=str(barrier),
        REMINDER_TEST_PARTIES="4",
    )

    # WHEN they run side by side, with no setting telling them about each other
    results = run_many([(("send_reminders", "--now", now.isoformat(), "--json"), env)] * 4)

    # THEN each delivered a fair share (claims are pieces of a few times its pool,
    # not the whole window), and nothing went out twice
    assert [r.returncode for r in results] == [0] * 4, [r.stderr[-2000:] for r in results]
    shares = [json.loads(r.stdout)["sent"] for r in results]
    print(f"\nfour processes, one window: {shares}")
    assert sum(shares) == len(task_ids)
    assert min(shares) >= 0.12 * len(task_ids)
    sent_once(relay, task_ids)
    assert max(Counter(relay.reminder_ids()).values()) == 1


def redis_broker(url: str) -> Redis:
    """django-q2's Redis broker on `url` (this process's settings use the ORM)."""
    broker = Redis()
    broker.connection = redis.from_url(url)
    return broker


def finished_run():
    run = ReminderRun.objects.filter(parent__isnull=True).first()
    return run if run and run.finished_at else None


def parts_by_cluster(clusters) -> Counter:
    """How many parts each cluster ran: each part's run_started line is in the log of
    the cluster whose worker ran it."""
    part_ids = {
        str(pk)
        for pk in ReminderRun.objects.filter(parent__isnull=False).values_list("pk", flat=True)
    }
    counts = Counter()
    for log in sorted(clusters.logs.glob("cluster*.log")):
        for line in log.read_text().splitlines():
            if '"run_started"' in line and json.loads(line)["run_id"] in part_ids:
                counts[log.name] += 1
    return counts


def test_a_scheduled_run_in_parts_spreads_over_two_clusters(
    clusters, hourly_schedule, relay, redis_url
):
    # GIVEN two clusters of two workers sharing Redis and the database, and a run in
    # four parts due
    task_ids = create_due_tasks(400, first_due=timezone.now() + timedelta(hours=1))
    clusters.start(
        2,
        Q_CLUSTER_WORKERS="2",
        Q_CLUSTER_REDIS=redis_url,
        REMINDER_WORKERS="4",
        **mail_env(relay),
    )
    # Both clusters listen before the slot is due (a cluster still starting would
    # leave every part to the other), and one of them fires it within 30 s.
    clusters.wait_running(timeout=180)
    make_due(hourly_schedule)
    run = wait_for(finished_run, timeout=180, what=f"the scheduled run\n{clusters.output()}")
    spread = parts_by_cluster(clusters)
    clusters.stop()

    # THEN the schedule fired once: one run, whose parts ran in both clusters
    assert ReminderRun.objects.filter(parent__isnull=True).count() == 1
    parts = list(run.parts.all())
    print(f"\nparts per cluster: {dict(spread)}; run took {run.duration.total_seconds():.1f} s")
    assert len(parts) >= 3
    assert len(spread) == 2
    assert len({part.worker for part in parts}) >= 3
    # every task mailed once, and the run succeeded with the sum of its parts
    sent_once(relay, task_ids)
    assert max(Counter(relay.reminder_ids()).values()) == 1
    assert run.status == "succeeded"
    for name in ("selected", "sent", "skipped", "failed", "released", "suppressed"):
        assert getattr(run, name) == sum(getattr(part, name) for part in parts)
    assert run.sent == len(task_ids)


def test_a_cluster_killed_mid_run_leaves_its_work_to_the_other(clusters, relay, redis_url):
    task_ids = create_due_tasks(1200, first_due=timezone.now() + timedelta(hours=1))
    clusters.start(
        2,
        Q_CLUSTER_WORKERS="2",
        Q_CLUSTER_REDIS=redis_url,
        REMINDER_WORKERS="4",
        **mail_env(relay),
    )
    clusters.wait_running(timeout=180)
    # A run queued as the admin's Send now queues it, once both clusters listen.
    async_task(JOB, trigger="admin", broker=redis_broker(redis_url))
    wait_for(
        lambda: (
            len(set(parts_by_cluster(clusters))) == 2
            and ReminderLog.objects.filter(status="sent").count() >= 200
        ),
        timeout=60,
        what=f"both clusters at work\n{clusters.output()}",
    )

    # WHEN one cluster's host dies: every process of it at once
    in_flight_bound = parts_by_cluster(clusters)["cluster1.log"] * (2 * CONCURRENCY + 20)
    clusters.kill(1)
    killed = time.monotonic()

    # THEN the other takes its claims and its slices over at once
    wait_for(
        lambda: ReminderLog.objects.filter(status="sent").count() == len(task_ids),
        timeout=90,
        what=f"every reminder sent\n{clusters.output()}",
    )
    print(f"\nall sent {time.monotonic() - killed:.1f} s after the kill")
    run = wait_for(finished_run, timeout=30, what="the run to end")
    clusters.stop()
    assert_each_task_sent_exactly_once(task_ids)
    assert run.status == "succeeded"
    assert run.parts.filter(status="abandoned").exists()
    # at most what the dead cluster had in flight (or answered and not yet recorded)
    # went out twice
    twice = sum(n - 1 for n in Counter(relay.reminder_ids()).values())
    assert twice <= in_flight_bound


def test_send_reminders_workers_runs_one_run_in_parts_in_processes(now):
    task_ids = create_due_tasks(4000, first_due=now + timedelta(hours=1))

    result = run_manage("send_reminders", "--now", now.isoformat(), "--workers", "4", "--json")

    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    run = ReminderRun.objects.get(parent__isnull=True)
    parts = list(run.parts.all())
    assert (summary["run_id"], summary["status"], summary["sent"]) == (
        str(run.pk),
        "succeeded",
        len(task_ids),
    )
    assert len(parts) == 4 and len({part.worker for part in parts}) == 4
    assert all(part.sent > 0 for part in parts)
    assert_each_task_sent_exactly_once(task_ids)


def test_a_part_that_never_starts_has_its_slice_shared_by_the_others(
    now, settings, monkeypatch, tmp_path
):
    # a run in four parts whose fourth part is lost (the broker dropped it): parts
    # 1 and 2 in processes of their own, part 0 here
    relay = Relay(delay=0.1).start()
    settings.REMINDER_CHANNEL = EMAIL
    settings.REMINDER_DELIVERY_CONCURRENCY = CONCURRENCY
    relay.use(settings)
    monkeypatch.setattr(jobs, "PROCESS_START_GRACE", 3)
    task_ids = create_due_tasks(960, first_due=now + timedelta(hours=1))
    started, lost = [], []

    def launch(**part):
        if part["part"] == 3:
            lost.append(part)
            return
        started.append(
            start_manage(
                *("send_reminders", "--part", json.dumps(part)),
                env=child_env(**mail_env(relay)),
                stdout=subprocess.DEVNULL,
                stderr=(tmp_path / f"part{part['part']}.log").open("w"),
            )
        )

    try:
        # WHEN the run goes on without it
        summary = jobs.process_reminders(now=now, workers=4, launch=launch)
        for child in started:
            assert child.wait(timeout=120) == 0, child.stderr.name
    finally:
        relay.stop()

    # THEN the slice it never started was walked in sub-slices by more than one of
    # the parts that did, each task mailed once, and the run succeeded
    ((start, end),) = [tuple(map(aware, window)) for window in lost[0]["slices"][3:]]
    takers = set(
        ReminderLog.objects.filter(due_at__range=(start, end)).values_list("run_id", flat=True)
    )
    run = ReminderRun.objects.get(parent__isnull=True)
    parts = run.parts.all()
    workers = {part.worker for part in parts if part.pk in takers}
    assert len(workers) >= 2
    assert not parts.filter(window_start=start, window_end=end).exists()
    sent_once(relay, task_ids)
    run.refresh_from_db()
    assert (run.status, run.sent) == ("succeeded", len(task_ids))
    assert summary.status == "succeeded"


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_a_bad_number_of_workers_is_one_line_and_exit_2(value):
    result = run_manage("send_reminders", "--workers", value)

    assert result.returncode == 2
    (line,) = message_lines(result.stderr)
    assert "--workers" in line
    assert not ReminderRun.objects.exists()


@pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed")
def test_a_cluster_whose_redis_is_away_says_so_once_and_carries_on(clusters, redis_url):
    port = free_port()
    clusters.start(1, Q_CLUSTER_REDIS=f"redis://127.0.0.1:{port}/0")
    log = clusters.logs / "cluster0.log"
    wait_for(lambda: '"redis_unreachable"' in log.read_text(), what="the cluster to say so")
    time.sleep(6)  # more than one retry
    assert log.read_text().count('"event":"redis_unreachable"') == 1
    assert "Traceback" not in log.read_text()

    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: '"redis_reachable"' in log.read_text(), what="the cluster to reconnect")
        clusters.stop()
    finally:
        server.terminate()
        server.wait()


def digest_readers(count: int, *, now, tasks_each: int) -> dict[str, list[int]]:
    """`count` people who asked for a digest, each with tasks due across the whole
    window (so across every part's slice); their tasks' ids by address."""
    readers = {}
    for number in range(count):
        person = UserFactory(email=f"reader{number}@example.com")
        ReminderPreference.objects.create(user=person, digest=True)
        readers[person.email] = create_due_tasks(
            tasks_each,
            first_due=now + timedelta(minutes=30 + number),
            spacing=timedelta(hours=23) / tasks_each,
            owner=person,
        )
    return readers


def one_digest_each(relay, readers) -> None:
    """Each reader got every task of theirs in one digest (Message-IDs: duplicates of
    one digest share it), and their rows record it."""
    for address, task_ids in readers.items():
        mails = [m for m in relay.received() if m["To"] == address]
        ids = {m["Message-ID"] for m in mails}
        rows = ReminderLog.objects.filter(task_id__in=task_ids)
        assert len(ids) == 1, (address, [m["Subject"] for m in mails])
        assert set(rows.values_list("status", "message_id")) == {("sent", ids.pop())}
        assert mails[0]["Subject"].startswith(f"{len(task_ids)} tasks due: ")


def test_send_reminders_workers_sends_one_digest_per_person(now, relay):
    # GIVEN readers whose tasks fall in every part's slice, among 200 single reminders
    readers = digest_readers(12, now=now, tasks_each=4)
    singles = create_due_tasks(
        200, first_due=now + timedelta(hours=1), spacing=timedelta(minutes=6)
    )

    # WHEN one run in four parts sends them
    result = run_manage(
        "send_reminders",
        "--now",
        now.isoformat(),
        "--workers",
        "4",
        "--json",
        env=child_env(**mail_env(relay)),
    )

    # THEN each reader got one mail listing all theirs, everyone else one per task
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["sent"]) == ("succeeded", 200 + 12 * 4)
    assert len(relay.received()) == 200 + 12
    one_digest_each(relay, readers)
    assert ReminderLog.objects.filter(task_id__in=singles, status="sent").count() == 200


def test_a_part_killed_during_its_digests_leaves_them_to_the_other(now, settings, tmp_path):
    # GIVEN a run in two parts, this process one and a child process the other, and
    # readers enough to keep both at their digests for a while
    # (this part with one connection: alone, it would take 8 s, so the child, which
    # takes a second or two to start, still finds digests to claim)
    relay = Relay(delay=0.2).start()
    settings.REMINDER_CHANNEL = EMAIL
    settings.REMINDER_DELIVERY_CONCURRENCY = 1
    relay.use(settings)
    readers = digest_readers(40, now=now, tasks_each=3)
    children, killed = [], []

    def launch(**part):
        children.append(
            start_manage(
                *("send_reminders", "--part", json.dumps(part)),
                env=child_env(**mail_env(relay, REMINDER_DELIVERY_CONCURRENCY="2")),
                stdout=subprocess.DEVNULL,
                stderr=(tmp_path / "part.log").open("w"),
            )
        )

    def kill_the_child_at_its_digests():
        # WHEN the child's process dies while it holds digests it claimed
        wait_for(lambda: children, what="the child part")
        (child,) = children
        wait_for(
            lambda: ReminderLog.objects.filter(
                status="claimed", run__worker__endswith=f":{child.pid}"
            ).exists(),
            what="the child's digests",
        )
        child.kill()
        killed.append(child.wait())
        connection.close()

    killer = threading.Thread(target=kill_the_child_at_its_digests)
    killer.start()
    try:
        summary = jobs.process_reminders(now=now, workers=2, launch=launch)
    finally:
        killer.join()
        relay.stop()

    # THEN this part takes its claims over in the same run: every reader's tasks in
    # one digest (sent twice at most, with the same Message-ID, if the kill cut it
    # short at the relay), and the run succeeded with all of them
    run = ReminderRun.objects.get(parent__isnull=True)
    assert killed == [-signal.SIGKILL]
    assert run.parts.filter(status="abandoned").count() == 1
    assert (run.status, run.sent) == ("succeeded", 120)
    assert summary.status == "succeeded"
    one_digest_each(relay, readers)
    assert len(relay.received()) <= 40 + 2 * 2  # at most the child's pool in flight again
