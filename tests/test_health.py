"""reminders_app.health: the worker's health is read, never written."""

import socket
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reminders_app import runs
from reminders_app.health import check_health
from reminders_app.viewers import add_to_reminder_viewers
from tests.factories import ReminderLogFactory, ReminderRunFactory, UserFactory
from tests.queries import writes

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_run():
    """A run still marked running whose process is gone."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return ReminderRunFactory(
        status="running",
        finished_at=None,
        heartbeat_at=timezone.now(),
        hostname=socket.gethostname(),
        pid=int(gone.stdout),
    )


def test_a_health_check_reports_a_dead_run_abandoned_and_writes_nothing(dead_run):
    with CaptureQueriesContext(connection) as captured:
        health = check_health()

    assert writes(captured) == []
    assert (health.last_finished.pk, health.last_finished.status) == (dead_run.pk, "abandoned")
    dead_run.refresh_from_db()
    assert dead_run.status == "running"


def test_admin_pages_write_nothing(client, dead_run):
    reminder = ReminderLogFactory(run=dead_run)
    viewer = UserFactory(username="viewer")
    add_to_reminder_viewers(viewer)
    client.force_login(viewer)
    pages = [
        reverse("admin:index"),
        reverse("admin:reminders_app_reminderlog_changelist"),
        reverse("admin:reminders_app_reminderlog_changelist") + "?retry=given_up",
        reverse("admin:reminders_app_reminderlog_change", args=[reminder.pk]),
        reverse("admin:reminders_app_reminderrun_changelist"),
        reverse("admin:reminders_app_reminderrun_change", args=[dead_run.pk]),
        reverse("admin:tasks_app_task_changelist") + "?due=window",
        reverse("admin:tasks_app_task_change", args=[reminder.task_id]),
    ]

    for page in pages:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(page)
        assert response.status_code == 200, page
        # The session is saved once when it changes; nothing else is written.
        assert [sql for sql in writes(captured) if "django_session" not in sql] == [], page
    dead_run.refresh_from_db()
    assert dead_run.status == "running"


def test_abandon_dead_runs_records_them(dead_run):
    now = timezone.now()
    # Alive as a run is: this process, holding its lock on PostgreSQL.
    alive = runs.start_run(trigger="command", window_start=now, window_end=now, scheduled_for=None)
    out = StringIO()

    call_command("abandon_dead_runs", stdout=out)

    dead_run.refresh_from_db()
    alive.refresh_from_db()
    assert (dead_run.status, alive.status) == ("abandoned", "running")
    assert out.getvalue().strip() == "runs recorded abandoned: 1"
    runs.finish_run(alive, status="succeeded")


def test_failed_for_good_counts_only_reminders_no_run_will_retry(settings, client):
    settings.REMINDER_MAX_ATTEMPTS = 3
    now = timezone.now()
    out_of_attempts = ReminderLogFactory(status="failed", attempts=3, next_attempt_at=None)
    permanent = ReminderLogFactory(status="failed", attempts=1, next_attempt_at=None)
    ReminderLogFactory(status="failed", attempts=1, next_attempt_at=now)  # will be retried
    ReminderLogFactory(status="sent")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    listed = (
        client.get(reverse("admin:reminders_app_reminderlog_changelist") + "?retry=given_up")
        .context["cl"]
        .result_list
    )

    assert check_health().failed_reminders == 2
    assert {r.pk for r in listed} == {out_of_attempts.pk, permanent.pk}
