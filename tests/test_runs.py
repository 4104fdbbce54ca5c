"""A run's life: what is recorded when it is cut short, and how dead runs are found."""

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from reminders_app.health import check_health
from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog, ReminderRun
from tests.channels import CutShortAfterTwo
from tests.factories import ReminderRunFactory, TaskFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_deliveries_made_before_a_cut_are_recorded_as_sent(now, settings):
    settings.REMINDER_CHANNEL = "tests.channels.CutShortAfterTwo"
    CutShortAfterTwo.delivered = 0
    TaskFactory.create_batch(4, due_at=now + timedelta(hours=1))

    with pytest.raises(SystemExit):
        process_reminders(now=now)

    statuses = sorted(ReminderLog.objects.values_list("status", flat=True))
    assert statuses == ["claimed", "claimed", "sent", "sent"]
    run = ReminderRun.objects.get()
    assert (run.status, run.sent) == ("failed", 2)


def test_a_run_whose_process_is_gone_is_reported_abandoned_and_recorded_so_by_the_next_run(now):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = ReminderRunFactory(
        status="running",
        finished_at=None,
        heartbeat_at=timezone.now(),  # fresh: only the missing process gives it away
        hostname=socket.gethostname(),
        pid=int(gone.stdout),
    )

    health = check_health()

    assert health.last_finished.pk == dead.pk
    assert health.last_finished.status == "abandoned"
    assert health.in_progress == []
    dead.refresh_from_db()
    assert dead.status == "running"  # a health check only reads

    process_reminders(now=now)

    dead.refresh_from_db()
    assert dead.status == "abandoned"
