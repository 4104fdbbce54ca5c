"""EmailChannel: reminders mailed to task owners, claims committed before sending."""

from datetime import timedelta

import pytest
from django.core import mail

from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

H = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _email_channel(settings):
    settings.REMINDER_CHANNEL = "reminders_app.channels.EmailChannel"


def test_each_owner_gets_one_mail_per_due_task(now):
    task = TaskFactory(due_at=now + H, title="Renew the domain")

    summary = process_reminders(now=now)
    process_reminders(now=now)

    assert summary["sent"] == 1
    (message,) = mail.outbox
    assert message.to == [task.owner.email]
    assert "Renew the domain" in message.subject
    assert ReminderLog.objects.get(task=task).status == "sent"


def test_an_owner_without_an_address_fails_that_reminder_only(now):
    ok = TaskFactory(due_at=now + H)
    nowhere = TaskFactory(due_at=now + H, owner=UserFactory(email=""))

    summary = process_reminders(now=now)

    assert (summary["sent"], summary["failed"]) == (1, 1)
    assert [m.to for m in mail.outbox] == [[ok.owner.email]]
    failed = ReminderLog.objects.get(task=nowhere)
    assert (failed.status, failed.error) == ("failed", "ValueError")


def test_a_mail_server_that_is_down_fails_the_reminders_and_they_are_retried(now, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens there
    task = TaskFactory(due_at=now + 2 * H, title="Quarterly report")

    down = process_reminders(now=now)

    row = ReminderLog.objects.get(task=task)
    assert (down["failed"], row.status, row.error) == (1, "failed", "ConnectionRefusedError")
    assert "Quarterly" not in row.error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    up = process_reminders(now=now + timedelta(minutes=1))
    assert up["sent"] == 1 and len(mail.outbox) == 1
