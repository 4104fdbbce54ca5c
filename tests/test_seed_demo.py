"""`manage.py seed_demo`: demo data for `make demo`, never in production."""

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
    assert Task.objects.count() == 32
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
def test_the_demo_history_shows_every_state():
    call_command("seed_demo")

    assert Task.objects.overdue(timezone.now()).count() >= 1
    assert ReminderRun.objects.count() == 3
    # Each reminder is for its task's owner: the demo user, one without an address,
    # one who opted out.
    reminders = sorted(ReminderLog.objects.values_list("status", "recipient__username"))
    assert reminders == [
        ("failed", "demo-no-address"),
        ("sent", "demo"),
        ("suppressed", "demo-opted-out"),
    ]
    assert ReminderLog.objects.get(status="failed").error == "permanent: no address"


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
