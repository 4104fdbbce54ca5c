"""Each reminder's mail, built a batch at a time with what repeats worked out once
(ReminderMail's caches, ReminderMessage's serialisation), is what the relay would get
from a mail built alone with Django's own EmailMultiAlternatives: the same bytes, the
random MIME boundary and the Date aside."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import connection
from django.templatetags.i18n import BlockTranslateNode, TranslateNode
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from reminders_app.channels import Reminder, Suppressed
from reminders_app.channels.message import ReminderMail
from reminders_app.models import ReminderPreference, Suppression
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
        UserFactory(first_name="Jörg"),
    ]
    # Readers of both languages on the same days and times: each formatted in their own.
    zones = ["Europe/Paris", "Australia/Lord_Howe", "America/New_York", "Europe/Paris"]
    languages = ["", "de", "", "de"]
    for owner, zone, language in zip(owners[1:], zones, languages, strict=True):
        ReminderPreference.objects.create(user=owner, time_zone=zone, language=language)
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
    languages = {m.to[0]: m.extra_headers["Content-Language"] for m in built}
    assert sorted(languages.values()) == ["de", "de", "en", "en", "en"]


def test_the_next_batch_says_the_time_left_from_its_own_clock(now, batch):
    mail = ReminderMail()
    mail.prepare(batch, now=now)
    first = mail.build(batch[6]).body  # due at `now` + 1 h
    mail.prepare(batch, now=now - timedelta(hours=2))
    later = mail.build(batch[6]).body

    assert "in 1\xa0hour." in first  # timeuntil's no-break space
    assert "in 3\xa0hours." in later


def test_a_batch_reads_its_people_and_their_suppressions_in_one_query(now, batch):
    """The check before every send is part of the batch's read of its people: the
    tasks, then the people with their preferences and suppressions, whatever the case
    an address was suppressed in."""
    mail = ReminderMail()
    owners = {reminder.recipient_id for reminder in batch}
    bounced, *others = get_user_model().objects.filter(pk__in=owners).order_by("pk")
    Suppression.objects.create(address=bounced.email.upper(), reason="bounced", source="relay")

    with CaptureQueriesContext(connection) as queries:
        mail.prepare(batch, now=now)
    outcomes = {}
    for reminder in batch:
        try:
            mail.build(reminder)
        except Suppressed as exc:
            outcomes[reminder.recipient_id] = exc.reason
        else:
            outcomes[reminder.recipient_id] = "mailed"

    assert len(queries) == 2
    assert outcomes == {bounced.pk: "address bounced"} | {other.pk: "mailed" for other in others}


def test_people_without_a_language_of_their_own_get_the_sites(now, settings):
    settings.LANGUAGE_CODE = "de"
    task = TaskFactory(due_at=now + timedelta(hours=1))
    chose_english = TaskFactory(due_at=now + timedelta(hours=1))
    ReminderPreference.objects.create(user=chose_english.owner, language="en")
    # A language the site no longer offers reads as no language at all.
    chose_french = TaskFactory(due_at=now + timedelta(hours=1))
    ReminderPreference.objects.create(user=chose_french.owner, language="fr")
    reminders = [
        Reminder(n, t.pk, t.owner_id, t.due_at, attempts=0)
        for n, t in enumerate([task, chose_english, chose_french])
    ]
    mail = ReminderMail()
    mail.prepare(reminders, now=now)

    built = [mail.build(reminder) for reminder in reminders]

    assert [m.extra_headers["Content-Language"] for m in built] == ["de", "en", "de"]
    assert [m.subject.split(":")[0] for m in built] == ["Erinnerung", "Reminder", "Erinnerung"]


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_templates_compiled_per_language_render_what_django_renders(language):
    """ReminderMail renders templates whose messages were translated once per language
    (reminders_app.channels.translated): each renders, character for character, what
    Django renders of the template itself, whatever is in the context."""
    mail = ReminderMail()
    people = [UserFactory(first_name=""), UserFactory(first_name="Ann <b>& 100%")]
    contexts = [
        {
            "recipient": person,
            "title": title,
            "due_day": "Tuesday 10 March 2026",
            "due_day_short": "Tue 10 Mar",
            "due_time": due_time,
            "time_zone": "Europe/Paris",
            "time_left": "3\xa0hours",
            "task_url": task_url,
            "unsubscribe_url": "https://reminders.example.org/unsubscribe/a:b/",
        }
        for person in people
        for title in TITLES[1:3] + ["100% %(title)s {{ x }}"]
        for due_time in ("16:00 CET", "")
        for task_url in ("https://app.example.org/tasks/7/", "")
    ]

    compiled = mail.templates.of(language)

    for template, translated in zip(mail.templates.templates, compiled, strict=True):
        tags = (TranslateNode, BlockTranslateNode)
        assert template.template.nodelist.get_nodes_by_type(tags)
        assert not translated.template.nodelist.get_nodes_by_type(tags)  # all translated
        for context in contexts:
            with translation.override(language):
                assert translated.render(context) == template.render(context)
