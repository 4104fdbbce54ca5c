"""EmailChannel against a real SMTP server (aiosmtpd, tests/smtp.py): one message
per task over a few reused connections, failures classified, outages that lose
nothing, and a hung relay that cannot hold a run."""

from collections import Counter
from datetime import timedelta

import pytest

from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog, ReminderRun
from tests.factories import TaskFactory, UserFactory
from tests.smtp import Relay, Silent

pytestmark = pytest.mark.django_db(transaction=True)

H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def relay():
    server = Relay().start()
    yield server
    server.stop()


@pytest.fixture
def email(settings):
    """Send through EmailChannel to whichever server the test points at."""
    settings.REMINDER_CHANNEL = "reminders_app.channels.EmailChannel"
    settings.REMINDER_DELIVERY_CONCURRENCY = 4
    settings.EMAIL_TIMEOUT = 2
    settings.DEFAULT_FROM_EMAIL = "Task reminders <reminders@example.com>"

    def to(server):
        for name, value in server.settings().items():
            setattr(settings, name, value)

    return to


def rows(**filters):
    return list(ReminderLog.objects.filter(**filters).order_by("task_id"))


def test_each_due_task_gets_one_message_over_a_few_reused_connections(now, relay, email):
    email(relay)
    tasks = TaskFactory.create_batch(40, due_at=now + H)

    summary = process_reminders(now=now)
    again = process_reminders(now=now + MINUTE)

    received = relay.received()
    assert (summary["sent"], again["selected"]) == (40, 0)
    assert Counter(m["To"] for m in received) == Counter(t.owner.email for t in tasks)
    assert relay.connections <= 4  # one per delivery thread, each reused
    by_id = {r.pk: r for r in rows()}
    for message in received:
        reminder = by_id[int(message["X-Reminder-ID"])]
        assert message["Message-ID"] == f"<reminder-{reminder.pk}@example.com>"
        assert message["To"] == reminder.task.owner.email
        assert reminder.status == "sent"


def test_a_4xx_is_retried_by_the_next_run_with_the_same_message_id(now, relay, email):
    refused_once = set()

    def busy_once(message):
        if message["Message-ID"] not in refused_once:
            refused_once.add(message["Message-ID"])
            return "451 4.3.0 Try again later"
        return None

    relay.data_replies = busy_once
    email(relay)
    task = TaskFactory(due_at=now + 2 * H)

    first = process_reminders(now=now)
    row = ReminderLog.objects.get(task=task)
    assert (first["failed"], row.status, row.attempts) == (1, "failed", 1)
    assert row.error == "temporary: smtp 451"
    second = process_reminders(now=now + MINUTE)

    row.refresh_from_db()
    assert (second["sent"], row.status, row.attempts) == (1, "sent", 2)
    (refused,) = relay.refused
    (accepted,) = relay.received()
    assert accepted["Message-ID"] == refused["Message-ID"] == f"<reminder-{row.pk}@example.com>"


def test_a_550_or_a_missing_address_fails_for_good_after_one_attempt(now, relay, email):
    relay.replies = lambda address: "550 5.1.1 No such user" if "gone" in address else None
    email(relay)
    ok = TaskFactory(due_at=now + H)
    gone = TaskFactory(due_at=now + H, owner=UserFactory(email="gone@example.com"))
    nowhere = TaskFactory(due_at=now + H, owner=UserFactory(email=""))

    summary = process_reminders(now=now)
    later = process_reminders(now=now + 6 * H - MINUTE)

    assert (summary["sent"], summary["failed"]) == (1, 2)
    assert later["selected"] == 0  # nothing is retried
    assert [m["To"] for m in relay.received()] == [ok.owner.email]
    errors = {r.task_id: (r.status, r.attempts, r.next_attempt_at, r.error) for r in rows()}
    assert errors[gone.pk] == ("failed", 1, None, "permanent: smtp 550")
    assert errors[nowhere.pk] == ("failed", 1, None, "permanent: no address")
    assert "No such user" not in str(errors) and "gone@" not in str(errors)


def test_runs_during_an_outage_spend_nothing_and_the_next_one_sends_each_once(now, email):
    down = Relay()  # its port, nobody listening
    email(down)
    tasks = TaskFactory.create_batch(30, due_at=now + 3 * H)

    outage_runs = [process_reminders(now=now + n * MINUTE) for n in range(5)]

    assert [r["status"] for r in outage_runs] == ["failed"] * 5
    for run in outage_runs:
        assert run["selected"] == run["released"] + run["skipped"] + run["sent"] + run["failed"]
        assert (run["sent"], run["failed"]) == (0, 0)
    assert {r.error for r in ReminderRun.objects.all()} == {"outage"}
    assert all(r.attempts == 0 for r in rows())
    relay = down.start()
    try:
        back = process_reminders(now=now + 10 * MINUTE)
    finally:
        relay.stop()

    assert (back["status"], back["sent"]) == ("succeeded", 30)
    assert Counter(m["To"] for m in relay.received()) == Counter(t.owner.email for t in tasks)
    assert {(r.status, r.attempts) for r in rows()} == {("sent", 1)}


def test_a_relay_that_stops_mid_run_loses_nothing(now, email, settings):
    relay = Relay(delay=0.02).start()
    email(relay)
    settings.REMINDER_DELIVERY_CONCURRENCY = 2
    tasks = TaskFactory.create_batch(60, due_at=now + H)
    stopping = []

    def stop_after_ten(message):
        if len(relay.messages) >= 10 and not stopping:
            stopping.append(relay.stop_soon())
        return None

    relay.data_replies = stop_after_ten
    cut = process_reminders(now=now)
    relay.wait_stopped()
    first = Counter(m["To"] for m in relay.received())
    relay = Relay(port=relay.port).start()
    try:
        rest = process_reminders(now=now + MINUTE)
    finally:
        relay.stop()

    assert cut["status"] == "failed" and cut["sent"] >= 10
    assert rest["status"] == "succeeded"
    total = first + Counter(m["To"] for m in relay.received())
    assert set(total) == {t.owner.email for t in tasks}
    assert ReminderLog.objects.filter(status="sent").count() == 60
    # Only what was in flight when the relay went away can arrive twice.
    assert sum(n - 1 for n in total.values()) <= 2 * settings.REMINDER_DELIVERY_CONCURRENCY


def test_a_hung_relay_ends_the_run_after_a_few_timeouts(now, email, settings):
    hung = Silent()
    email(hung)
    settings.EMAIL_TIMEOUT = 1
    TaskFactory.create_batch(50, due_at=now + H)
    try:
        summary = process_reminders(now=now)
    finally:
        hung.close()

    run = ReminderRun.objects.get()
    assert (summary["status"], run.error) == ("failed", "outage")
    assert summary["released"] + summary["skipped"] == 50
    # A few connections timing out in parallel, not one wait per reminder.
    assert hung.connections <= 2 * settings.REMINDER_DELIVERY_CONCURRENCY
    assert run.duration is not None
    assert all(r.attempts == 0 for r in rows())


def test_refused_credentials_are_an_outage_and_the_password_is_never_shown(
    now, email, settings, caplog
):
    relay = Relay().start(refuse_logins=True)
    email(relay)
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "reminders", "hunter2-secret"
    TaskFactory.create_batch(5, due_at=now + H)
    try:
        summary = process_reminders(now=now)
    finally:
        relay.stop()

    assert (summary["status"], summary["sent"], summary["failed"]) == ("failed", 0, 0)
    assert relay.received() == []
    everything = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    everything += str(list(ReminderLog.objects.values())) + str(list(ReminderRun.objects.values()))
    assert "hunter2" not in everything
