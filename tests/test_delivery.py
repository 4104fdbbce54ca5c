"""reminders_app.delivery: each answer recorded within a quarter second, so a run
killed mid-delivery re-sends only what was in flight and that quarter second's worth
(docs/email.md). Real `send_reminders` processes, a real SMTP server."""

import math
import signal
from collections import Counter
from datetime import timedelta

import pytest

from reminders_app.delivery import FLUSH_EVERY
from reminders_app.models import ReminderLog
from tests.factories import create_due_tasks
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
