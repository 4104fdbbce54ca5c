"""Each reminder's mail, built a batch at a time with what repeats worked out once
(ReminderMail's caches, ReminderMessage's serialisation), is what the relay would get
from a mail built alone with Django's own EmailMultiAlternatives: the same bytes, the
random MIME boundary and the Date aside."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core.mail import EmailMultiAlternatives

from reminders_app.channels import Reminder
from reminders_app.channels.message import ReminderMail
from reminders_app.models import ReminderPreference
from tests.factories import TaskFactory, UserFactory
from tests.smtp import as_sent, free_port, send_mail_to

pytestmark = pytest.mark.django_db

TITLES = [
    "Send the report",
    "Café crème für Zoë",
    "<script>alert('x')</script> & \"quotes\"",
    "long " * 39,
    "é" * 190,
    "From the top",
    ".a line starting with a dot",
]


def on_the_wire(message) -> tuple:
    """What Django's SMTP backend hands smtplib for `message` (tests.smtp.as_sent),
    boundary and Date fixed."""
    from_addr, to_addrs, data = as_sent(message)
    boundary = re.search(rb'boundary="([^"]+)"', data).group(1)
    data = re.sub(rb"^Date: .*\r\n", b"", data.replace(boundary, b"BOUNDARY"), flags=re.M)
    return from_addr, to_addrs, data


def as_django_builds_it(message) -> EmailMultiAlternatives:
    plain = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body,
        from_email=message.from_email,
        to=message.to,
        headers=message.extra_headers,
    )
    for content, mimetype in message.alternatives:
        plain.attach_alternative(content, mimetype)
    return plain


@pytest.fixture
def batch(now, settings):
    send_mail_to(settings, free_port())  # nothing is sent: on_the_wire() keeps it
    settings.SITE_URL = "https://reminders.example.org"
    settings.REMINDER_TASK_URL = "https://app.example.org/tasks/{task_id}/"
    settings.DEFAULT_FROM_EMAIL = "Task reminders <reminders@example.com>"
    owners = [
        UserFactory(first_name=""),
        UserFactory(first_name="Zoë"),
        UserFactory(first_name="Ann <b>&", email="ann@exämple.com"),
        UserFactory(),
    ]
    zones = ["Europe/Paris", "Australia/Lord_Howe", "America/New_York"]
    for owner, zone in zip(owners[1:], zones, strict=True):
        ReminderPreference.objects.create(user=owner, time_zone=zone)
    # Two tasks at each due time, over two days and a DST change in New York (8 March).
    due_times = [now + timedelta(hours=h) for h in (-90, -60, 0, 1, 13, 30)]
    tasks = [
        TaskFactory(owner=owners[i % len(owners)], title=TITLES[i % len(TITLES)], due_at=due)
        for i, due in enumerate(d for d in due_times for _ in range(2))
    ]
    return [Reminder(1000 + n, t.pk, t.owner_id, t.due_at, attempts=0) for n, t in enumerate(tasks)]


@time_machine.travel("2026-03-10 11:55Z", tick=False)  # one timestamp in every unsubscribe link
def test_each_mail_of_a_batch_is_the_one_built_alone_byte_for_byte(now, batch):
    mail = ReminderMail()
    mail.prepare(batch, now=now)
    built = [mail.build(reminder) for reminder in batch]

    for reminder, message in zip(batch, built, strict=True):
        alone = ReminderMail()
        alone.prepare([reminder], now=now)
        reference = as_django_builds_it(alone.build(reminder))
        assert on_the_wire(message) == on_the_wire(reference)
        task = mail.tasks[reminder.task_id]
        assert f"https://app.example.org/tasks/{task.pk}/" in message.body
    subjects = {m.subject for m in built}
    assert len(subjects) == len(batch)  # each its own title and due time, not a cached one


def test_the_next_batch_says_the_time_left_from_its_own_clock(now, batch):
    mail = ReminderMail()
    mail.prepare(batch, now=now)
    first = mail.build(batch[6]).body  # due at `now` + 1 h
    mail.prepare(batch, now=now - timedelta(hours=2))
    later = mail.build(batch[6]).body

    assert "in 1\xa0hour." in first  # timeuntil's no-break space
    assert "in 3\xa0hours." in later
