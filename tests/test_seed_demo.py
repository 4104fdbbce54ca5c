"""`manage.py seed_demo`: demo data for `make demo`, never in production."""

import re
from datetime import timedelta
from itertools import pairwise

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from reminders_app.jobs import process_reminders
from reminders_app.mailer import mail_settings
from reminders_app.models import ReminderLog, ReminderRun
from reminders_app.viewers import REMINDER_VIEWERS
from tasks_app.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _debug(settings):
    settings.DEBUG = True  # the test runner turns it off; `make demo` runs with it on


def test_demo_user_is_a_staff_reminder_viewer_with_the_readme_password():
    call_command("seed_demo")

    user = get_user_model().objects.get(username="demo")
    assert user.is_staff and not user.is_superuser
    assert user.check_password("demo-reminders")
    assert user.groups.filter(name=REMINDER_VIEWERS).exists()


def test_the_demo_user_sees_a_users_page_with_their_preference(client):
    call_command("seed_demo")
    demo = get_user_model().objects.get(username="demo")
    client.force_login(demo)

    users = client.get(reverse("admin:auth_user_changelist"))
    page = client.get(reverse("admin:auth_user_change", args=[demo.pk]))

    assert users.status_code == 200 and page.status_code == 200
    assert "Reminder preference:" in page.text and "Europe/Paris, mail on" in page.text
    # view only: nothing to save, no way to change people or make anyone a superuser
    assert 'name="_save"' not in page.text
    assert not demo.has_perm("auth.change_user")


def test_demo_tasks_mix_due_completed_and_undated_and_a_rerun_adds_nothing():
    call_command("seed_demo")
    call_command("seed_demo")

    tasks = Task.objects.filter(due_at__gt=timezone.now())
    # upcoming, the digest reader's, the past week's, the history's
    assert Task.objects.count() == 24 + 4 + 33 + 3
    assert tasks.filter(completed_at__isnull=False).exists()
    assert Task.objects.filter(due_at__isnull=True).exists()
    first, second = process_reminders(), process_reminders()
    assert first["sent"] > 0 and second["sent"] == 0


def test_refused_when_debug_is_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DJANGO_DEBUG is false") as refused:
        call_command("seed_demo")

    assert refused.value.returncode == 2
    assert not get_user_model().objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_demo_history_is_a_week_of_hourly_runs_that_shows_every_state(client):
    """Every outcome, in runs not all stamped with the moment of seeding: each run
    started a few seconds after its slot, each reminder went out before its task was
    due, and the admin's charts read like a week."""
    started = timezone.now()
    call_command("seed_demo")

    assert Task.objects.overdue(timezone.now()).count() >= 1
    # Each reminder is for its task's owner: the failed one's has no address, the
    # suppressed one's opted out, the sent ones are the demo user's.
    reminders = set(ReminderLog.objects.values_list("status", "recipient__username"))
    assert reminders == {
        ("failed", "demo-no-address"),
        ("sent", "demo"),
        ("suppressed", "demo-opted-out"),
    }
    statuses = list(ReminderLog.objects.values_list("status", flat=True))
    assert (statuses.count("failed"), statuses.count("suppressed")) == (1, 1)
    assert ReminderLog.objects.get(status="failed").error == "permanent: no address"

    runs = list(ReminderRun.objects.order_by("started_at"))
    assert len(runs) == 7 * 24
    assert {run.trigger for run in runs} == {"schedule"}
    slots = [run.scheduled_for for run in runs]
    assert slots[-1] == started.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    assert all(later - earlier == timedelta(hours=1) for earlier, later in pairwise(slots))
    for run in runs:
        assert run.started_at - run.scheduled_for == run.lag
        assert timedelta(seconds=1) < run.lag < timedelta(seconds=10)
        assert run.started_at < run.finished_at < run.started_at + timedelta(seconds=30)
    for reminder in ReminderLog.objects.select_related("run"):
        assert reminder.run.started_at <= reminder.claimed_at <= reminder.run.finished_at
        assert reminder.sent_at is None or reminder.sent_at < reminder.due_at
    client.force_login(get_user_model().objects.get(username="demo"))
    home = client.get(reverse("admin:index")).text
    labels = re.findall(r'text-anchor="middle" fill="#333333">([^<]+)</text>', home)  # x axes
    assert "Lag of the last 48 runs (seconds, UTC)" in home
    assert len({label for label in labels if re.fullmatch(r"[A-Z][a-z]{2} \d{2}", label)}) >= 6
    assert not [label for label in labels if re.search(r"\d\.\d{3}$", label)]  # no ms


@pytest.mark.django_db(transaction=True)
def test_the_demo_mails_one_reader_a_digest_and_holds_the_rest_for_their_quiet_hours(settings):
    call_command("seed_demo")
    settings.REMINDER_CHANNEL = "reminders_app.channels.EmailChannel"
    settings.REMINDER_DELIVERY_CONCURRENCY = 1
    for name, value in mail_settings("django.core.mail.backends.locmem.EmailBackend").items():
        setattr(settings, name, value)

    dry = process_reminders(dry_run=True)
    process_reminders()

    by_address = {}
    for message in mail.outbox:
        by_address.setdefault(message.to[0], []).append(message.subject)
    # The digest reader: the two tasks due before their quiet hours end, in one mail;
    # the two due later held. The demo user: one mail per task.
    (digest,) = by_address["digest@example.com"]
    assert digest.startswith("2 tasks due: Sign the lease renewal, ")
    assert digest.endswith(", and 1 more")
    assert len(by_address["demo@example.com"]) > 1
    held = Task.objects.filter(pk__in=[row["task_id"] for row in dry["held"]])
    assert sorted(held.values_list("title", flat=True)) == [
        "Confirm the caterer",
        "Send the holiday schedule",
    ]
