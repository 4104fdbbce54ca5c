"""Digests (ReminderPreference.digest) through EmailChannel, against a real SMTP
server (aiosmtpd, tests/smtp.py): one mail per person per run listing every reminder
of theirs the run settles, soonest first; its rows settled together, each recording
its Message-ID; everyone else one mail per reminder, as before."""

from collections import Counter
from datetime import timedelta

import pytest

from reminders_app.channels import Digest, EmailChannel, Reminder
from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog, ReminderPreference, Suppression
from tests.factories import TaskFactory, UserFactory
from tests.smtp import Relay
from tests.test_channels import parts

pytestmark = pytest.mark.django_db(transaction=True)

H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def email(settings):
    """A real relay, and this process's reminders mailed through it."""
    relay = Relay().start()
    settings.REMINDER_CHANNEL = "reminders_app.channels.EmailChannel"
    settings.REMINDER_DELIVERY_CONCURRENCY = 4
    settings.DEFAULT_FROM_EMAIL = "Task reminders <reminders@example.com>"
    settings.SITE_URL = "https://reminders.example.org"
    settings.REMINDER_TASK_URL = "https://app.example.com/tasks/{task_id}/"
    relay.use(settings, timeout=2)
    yield relay
    relay.stop()


def reader(*, digest=True, zone="Europe/Paris", **fields):
    person = UserFactory(**fields)
    ReminderPreference.objects.create(user=person, time_zone=zone, digest=digest)
    return person


def test_a_digest_reader_gets_one_mail_listing_their_tasks_soonest_first(now, email):
    ada = reader(first_name="Ada", email="ada@example.com")
    late = TaskFactory(owner=ada, due_at=now + 20 * H, title="Renew the domain & DNS")
    soon = TaskFactory(owner=ada, due_at=now + H, title="Send the report")
    middle = TaskFactory(owner=ada, due_at=now + 5 * H, title="Book the venue")
    TaskFactory(owner=ada, due_at=now + 2 * H, completed_at=now)  # done: not listed
    bob = reader(digest=False, email="bob@example.com")
    TaskFactory.create_batch(2, owner=bob, due_at=now + 3 * H)

    summary = process_reminders(now=now)
    again = process_reminders(now=now + MINUTE)

    assert (summary["sent"], summary["selected"], again["selected"]) == (5, 5, 0)
    received = email.received()
    assert Counter(m["To"] for m in received) == {"ada@example.com": 1, "bob@example.com": 2}
    (digest,) = [m for m in received if m["To"] == "ada@example.com"]
    assert digest["Subject"] == ("3 tasks due: Send the report, Tue 10 Mar, 14:00 CET, and 2 more")
    rows = ReminderLog.objects.filter(recipient=ada)
    assert {row.status for row in rows} == {"sent"}
    assert {row.message_id for row in rows} == {digest["Message-ID"]}
    assert digest["Message-ID"].startswith("<digest-") and digest["Message-ID"].endswith(
        "@reminders.example.org>"
    )
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(digest)
    assert "Hello Ada" in text and "Hello Ada" in html
    assert "3 tasks are due soon" in text and "3 tasks are due soon" in html
    lines = [
        '"Send the report"',
        "due Tuesday 10 March 2026 at 14:00 CET, in 1\xa0hour",
        f"https://app.example.com/tasks/{soon.pk}/",
        '"Book the venue"',
        "due Tuesday 10 March 2026 at 18:00 CET, in 5\xa0hours",
        f"https://app.example.com/tasks/{middle.pk}/",
        '"Renew the domain & DNS"',
        "due Wednesday 11 March 2026 at 09:00 CET, in 20\xa0hours",
    ]
    positions = [text.index(line) for line in lines]
    assert positions == sorted(positions)  # soonest first
    assert "Times are in Europe/Paris." in text
    assert html.index("Send the report") < html.index("Book the venue") < html.index("Renew")
    assert "Renew the domain &amp; DNS" in html
    assert f'href="https://app.example.com/tasks/{late.pk}/"' in html
    singles = [m for m in received if m["To"] == "bob@example.com"]
    assert all(m["Message-ID"].startswith("<reminder-") for m in singles)
    assert set(ReminderLog.objects.filter(recipient=bob).values_list("message_id", flat=True)) == {
        ""
    }


def test_one_reminder_is_a_digest_of_one(now, email):
    ada = reader(email="ada@example.com")
    TaskFactory(owner=ada, due_at=now + H, title="Send the report")

    process_reminders(now=now)

    (message,) = email.received()
    assert message["Subject"] == "1 task due: Send the report, Tue 10 Mar, 14:00 CET"
    assert "1 task is due soon" in parts(message)[0]


def test_a_451_for_a_digest_retries_all_of_it_with_the_same_message_id(now, email):
    refused = set()

    def busy_once(message):
        if message["Message-ID"] not in refused:
            refused.add(message["Message-ID"])
            return "451 4.3.0 Try again later"
        return None

    email.data_replies = busy_once
    ada = reader(email="ada@example.com")
    TaskFactory.create_batch(3, owner=ada, due_at=now + 2 * H)

    first = process_reminders(now=now)
    failed = list(ReminderLog.objects.values_list("status", "attempts", "error"))
    second = process_reminders(now=now + MINUTE)

    assert (first["selected"], first["failed"], first["sent"]) == (3, 3, 0)
    assert failed == [("failed", 1, "temporary: smtp 451")] * 3
    assert (second["selected"], second["sent"]) == (3, 3)
    (refused_mail,) = email.refused
    (accepted,) = email.received()
    assert accepted["Message-ID"] == refused_mail["Message-ID"]
    assert set(ReminderLog.objects.values_list("status", "attempts", "message_id")) == {
        ("sent", 2, accepted["Message-ID"])
    }


def test_a_550_fails_the_whole_digest_for_good(now, email):
    email.replies = lambda address: "550 5.1.1 No such user"
    ada = reader(email="gone@example.com")
    TaskFactory.create_batch(2, owner=ada, due_at=now + H)

    summary = process_reminders(now=now)
    later = process_reminders(now=now + 3 * H - MINUTE)

    assert (summary["failed"], later["selected"]) == (2, 0)
    assert set(ReminderLog.objects.values_list("status", "attempts", "next_attempt_at")) == {
        ("failed", 1, None)
    }


def test_a_reader_with_mail_off_or_no_address_gets_nothing_for_all_of_it(now, email):
    off = UserFactory(email="off@example.com")
    ReminderPreference.objects.create(user=off, digest=True, email_enabled=False)
    nowhere = reader(email="")
    TaskFactory.create_batch(2, owner=off, due_at=now + H)
    TaskFactory.create_batch(2, owner=nowhere, due_at=now + H)

    summary = process_reminders(now=now)

    assert email.received() == []
    assert (summary["suppressed"], summary["failed"]) == (2, 2)
    statuses = Counter(ReminderLog.objects.values_list("recipient_id", "status", "error"))
    assert statuses == {
        (off.pk, "suppressed", "opted out"): 2,
        (nowhere.pk, "failed", "permanent: no address"): 2,
    }


def test_a_task_deleted_since_the_claim_is_left_out_of_the_digest(now, email):
    ada = reader(email="ada@example.com")
    kept = TaskFactory(owner=ada, due_at=now + H, title="Send the report")
    channel = EmailChannel()
    reminders = (
        Reminder(1, kept.pk, ada.pk, kept.due_at, attempts=0),
        Reminder(2, kept.pk + 1000, ada.pk, kept.due_at + H, attempts=0),  # no such task
    )
    channel.prepare(list(reminders), now=now)

    delivered = channel.deliver_digest(Digest(reminders))
    channel.close()

    (message,) = email.received()
    assert message["Subject"].startswith("1 task due: Send the report")
    assert delivered.message_id == message["Message-ID"]
    ((left_out, error),) = delivered.left_out
    assert (left_out, error.code, error.permanent) == (reminders[1], "task deleted", True)


def test_a_german_digest_reader_gets_it_in_german_and_a_suppressed_one_nothing(now, email):
    jorg = reader(first_name="Jörg", email="joerg@example.com", zone="Europe/Berlin")
    ReminderPreference.objects.filter(user=jorg).update(language="de")
    for hours, title in ((20, "Domain verlängern"), (1, "Bericht senden"), (5, "Saal buchen")):
        TaskFactory(owner=jorg, due_at=now + hours * H, title=title)
    bounced = reader(email="Bounced@Example.com")
    Suppression.objects.create(address="bounced@example.com", reason="bounced", source="relay")
    TaskFactory.create_batch(2, owner=bounced, due_at=now + 2 * H)

    summary = process_reminders(now=now)

    assert (summary["sent"], summary["suppressed"]) == (3, 2)
    (digest,) = email.received()
    assert (digest["To"], digest["Content-Language"]) == ("joerg@example.com", "de")
    assert str(digest["Subject"]).strip() == (
        "3 Aufgaben fällig: Bericht senden, Di, 10. März, 14:00 CET, und 2 weitere"
    )
    text, html = (part.replace("\r\n", "\n") for part in parts(digest))
    assert text.startswith(
        "Hallo Jörg,\n\n3 Aufgaben werden bald fällig, die früheste zuerst:\n\n"
        "- „Bericht senden“\n  fällig am Dienstag, 10. März 2026 um 14:00 CET, in 1\xa0Stunde\n"
    )
    assert "Zeiten in Europe/Berlin." in text
    assert '<html lang="de">' in html and "3 Aufgaben werden bald fällig</h1>" in html
    assert "Fällig am <strong>Mittwoch, 11. März 2026 um 09:00 CET</strong>" in html
    for english in ("Hello", " tasks", "due ", "Times are", "Stop reminder"):
        assert english not in text + html
    assert set(ReminderLog.objects.filter(recipient=bounced).values_list("status", "error")) == {
        ("suppressed", "address bounced")
    }
