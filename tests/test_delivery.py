"""reminders_app.delivery: each answer recorded within a quarter second, so a run
killed mid-delivery re-sends only what was in flight and that quarter second's worth
(docs/email.md). Real `send_reminders` processes, a real SMTP server."""

import json
import math
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest

from reminders_app.delivery import FLUSH_EVERY
from reminders_app.models import ReminderLog, ReminderPreference
from tests.factories import UserFactory, create_due_tasks
from tests.processes import child_env, finish, run_manage, start_manage, wait_for
from tests.smtp import Relay

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CONCURRENCY = 4
DELAY = 0.01  # seconds the relay takes per message


def test_a_run_killed_mid_delivery_resends_at_most_the_stated_window(now):
    relay = Relay(delay=DELAY).start()
    task_ids = create_due_tasks(400, first_due=now + timedelta(hours=1))
    env = child_env(
        **relay.env(),
        REMINDER_CHANNEL="reminders_app.channels.EmailChannel",
        REMINDER_DELIVERY_CONCURRENCY=str(CONCURRENCY),
    )
    send = ("send_reminders", "--now", now.isoformat(), "--json")
    try:
        killed = start_manage(*send, env=env)
        wait_for(
            lambda: killed.poll() is not None or len(relay.received()) >= 100,
            what="a hundred messages",
        )
        killed.send_signal(signal.SIGKILL)
        assert finish(killed).returncode == -signal.SIGKILL
        recorded = ReminderLog.objects.filter(status="sent").count()
        received_by_then = len(relay.received())
        # PostgreSQL knows the killed run is gone: the rerun takes its claims at once.
        rerun = run_manage(*send, env=env)
    finally:
        relay.stop()

    assert rerun.returncode == 0, rerun.stderr
    per_task = Counter(int(m["X-Reminder-ID"]) for m in relay.received())
    sent_rows = ReminderLog.objects.filter(status="sent")
    assert sorted(sent_rows.values_list("task_id", flat=True)) == sorted(task_ids)
    assert set(per_task) == set(sent_rows.values_list("pk", flat=True))
    duplicates = sum(n - 1 for n in per_task.values())
    # In flight (twice the pool) plus a quarter second's worth at the relay's pace.
    window = 2 * CONCURRENCY + math.ceil(FLUSH_EVERY * CONCURRENCY / DELAY)
    assert duplicates <= window
    assert received_by_then - recorded <= window
    print(f"\nkilled after {received_by_then} messages, {recorded} recorded: {duplicates} resent")


def test_a_run_killed_during_a_digest_leaves_it_to_the_next_with_the_same_message_id(now):
    """A digest is one SMTP transaction for all its rows: killed while the relay takes
    it, the rows stay claimed by a dead run, neither sent nor lost, and the next run
    takes them over at once and sends the digest again, with the same Message-ID."""
    relay = Relay(delay=1.5).start()
    reader = UserFactory(email="ada@example.com")
    ReminderPreference.objects.create(user=reader, digest=True)
    task_ids = create_due_tasks(5, first_due=now + timedelta(hours=1), owner=reader)
    env = child_env(**relay.env(), REMINDER_CHANNEL="reminders_app.channels.EmailChannel")
    send = ("send_reminders", "--now", now.isoformat(), "--json")
    try:
        killed = start_manage(*send, env=env)
        wait_for(
            lambda: (
                killed.poll() is not None
                or ReminderLog.objects.filter(status="claimed").count() == 5
            ),
            what="the digest claimed",
        )
        time.sleep(0.5)  # the mail is with the relay
        killed.send_signal(signal.SIGKILL)
        assert finish(killed).returncode == -signal.SIGKILL
        left = set(ReminderLog.objects.values_list("status", flat=True))
        rerun = run_manage(*send, env=env)
    finally:
        relay.stop()

    assert left == {"claimed"}
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["sent"] == 5
    received = relay.received()
    assert 1 <= len(received) <= 2  # the one the kill cut short may have arrived too
    assert {m["Message-ID"] for m in received} == set(
        ReminderLog.objects.values_list("message_id", flat=True)
    )
    assert sorted(ReminderLog.objects.filter(status="sent").values_list("task_id", flat=True)) == (
        sorted(task_ids)
    )
    assert all(m["Subject"].startswith("5 tasks due: Task 0") for m in received)
