"""`manage.py reminders_status`: is the hourly job alive? Exit 0 when it is."""

import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog, ReminderRun
from tests.factories import TaskFactory
from tests.processes import claims_held, run_manage, start_manage, wait_for
from tests.smtp import free_port, send_mail_to

pytestmark = pytest.mark.django_db(transaction=True)

H = timedelta(hours=1)


def status(*args) -> tuple[int, str, str]:
    """Run the command in-process: (exit status, stdout, error message)."""
    out = StringIO()
    try:
        call_command("reminders_status", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), ""


@pytest.fixture
def healthy(hourly_schedule):
    """A live schedule and a run that just succeeded."""
    TaskFactory(due_at=timezone.now() + H)
    return process_reminders(scheduled_for=timezone.now() - timedelta(seconds=5))


def test_healthy_exits_0_and_shows_the_last_run(healthy):
    code, out, _ = status()

    assert code == 0
    assert out.splitlines()[0] == "status: healthy"
    assert f"last finished run: run {healthy['run_id']} (schedule) succeeded" in out
    assert "selected 1, sent 1, skipped 0, failed 0" in out
    assert "in progress: none" in out
    assert "reminders failed for good: 0" in out


def test_json_is_one_object_with_the_facts(healthy):
    code, out, _ = status("--json")

    facts = json.loads(out)
    assert code == 0
    assert set(facts) == {
        "status",
        "healthy",
        "problems",
        "checked_at",
        "schedule",
        "last_finished",
        "last_succeeded",
        "in_progress",
        "failed_reminders",
    }
    assert (facts["healthy"], facts["problems"], facts["in_progress"]) == (True, [], [])
    last = facts["last_finished"]
    assert last["run_id"] == healthy["run_id"]
    assert (last["status"], last["trigger"], last["sent"]) == ("succeeded", "schedule", 1)
    assert last["lag_seconds"] >= 5
    assert facts["schedule"]["paused"] is False


def test_stale_when_no_run_succeeded_within_two_intervals(healthy, hourly_schedule):
    later = timezone.now() + 2 * H + timedelta(minutes=1)
    hourly_schedule.next_run = later + H  # the schedule itself is not overdue
    hourly_schedule.save()

    with time_machine.travel(later):
        code, out, error = status()

    assert code == 1
    assert out.splitlines()[0] == "status: UNHEALTHY"
    assert "no run has succeeded since" in error


def test_a_failed_run_after_the_last_success_is_shown_and_unhealthy(healthy, hourly_schedule):
    later = timezone.now() + 2 * H + timedelta(minutes=1)
    hourly_schedule.next_run = later + H
    hourly_schedule.save()
    failed = ReminderRun.objects.create(
        status=ReminderRun.Status.FAILED,
        error="OperationalError",
        started_at=later - timedelta(seconds=2),
        finished_at=later - timedelta(seconds=1),
        window_start=later,
        window_end=later + 24 * H,
    )

    with time_machine.travel(later):
        code, out, error = status()

    assert code == 1
    assert f"last finished run: run {failed.pk} (schedule) failed (OperationalError)" in out
    assert f"last successful run: run {healthy['run_id']}" in out
    assert "no run has succeeded since" in error


def test_unhealthy_at_once_when_the_last_run_failed_on_an_outage(healthy, settings):
    settings.REMINDER_CHANNEL = "reminders_app.channels.EmailChannel"
    send_mail_to(settings, free_port())  # nobody there
    TaskFactory(due_at=timezone.now() + 2 * H)
    process_reminders()

    code, out, error = status()

    assert code == 1
    assert "the last run failed (outage)" in error


def test_unhealthy_when_most_deliveries_of_the_last_run_failed(healthy, settings):
    settings.REMINDER_CHANNEL = "tests.channels.FailsForUndeliverable"
    TaskFactory.create_batch(2, due_at=timezone.now() + 2 * H, title="undeliverable memo")
    TaskFactory(due_at=timezone.now() + 2 * H, title="fine")
    process_reminders()

    code, out, error = status()

    assert code == 1
    assert "most deliveries of the last run failed (2 failed, 1 sent)" in error


def test_unhealthy_when_the_schedule_is_missing(healthy, hourly_schedule):
    hourly_schedule.delete()

    code, out, error = status()

    assert code == 1
    assert "schedule: missing" in out
    assert "'send-due-reminders' is missing" in error


def test_unhealthy_when_the_schedule_is_paused(healthy, hourly_schedule):
    hourly_schedule.repeats = 0
    hourly_schedule.save()

    code, _, error = status()

    assert code == 1
    assert "paused (repeats = 0)" in error


def test_unhealthy_when_no_cluster_picks_up_the_due_schedule(healthy, hourly_schedule):
    hourly_schedule.next_run = timezone.now() - timedelta(minutes=10)
    hourly_schedule.save()

    code, _, error = status()

    assert code == 1
    assert "no cluster has run it" in error


def test_starting_before_the_first_slot_exits_0(hourly_schedule):
    code, out, error = status()

    assert (code, error) == (0, "")
    assert out.splitlines()[0] == "status: starting"
    assert "last finished run: none" in out


def test_unhealthy_when_the_first_slot_passed_without_a_run(hourly_schedule):
    hourly_schedule.next_run = timezone.now() - timedelta(minutes=10)
    hourly_schedule.save()

    code, out, error = status()

    assert code == 1
    assert out.splitlines()[0] == "status: UNHEALTHY"
    assert "no cluster has run it" in error


def test_reminders_that_failed_for_good_are_counted(healthy, settings):
    log = ReminderLog.objects.get()
    log.status, log.attempts = ReminderLog.Status.FAILED, settings.REMINDER_MAX_ATTEMPTS
    log.save()

    _, out, _ = status("--json")

    assert json.loads(out)["failed_reminders"] == 1


@pytest.mark.postgres
def test_a_run_in_progress_is_shown_and_the_exit_status_is_real(healthy):
    TaskFactory(due_at=timezone.now() + H)

    with claims_held():
        by_hand = start_manage("send_reminders")
        wait_for(
            lambda: ReminderRun.objects.filter(status="running").exists(),
            what="the run by hand to start",
        )
        result = run_manage("reminders_status", "--json")
    by_hand.communicate(timeout=60)

    facts = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    (in_progress,) = facts["in_progress"]
    assert (in_progress["trigger"], in_progress["pid"]) == ("command", by_hand.pid)


@pytest.mark.postgres
def test_unhealthy_exits_1_with_one_line(hourly_schedule):
    hourly_schedule.repeats = 0
    hourly_schedule.save()

    result = run_manage("reminders_status")

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "CommandError: unhealthy: the schedule 'send-due-reminders' is paused (repeats = 0); "
        "no run has succeeded yet",
    ]
