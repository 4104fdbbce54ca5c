"""EmailChannel against a real SMTP server (aiosmtpd, tests/smtp.py): one message
per task over a few reused connections, failures classified, outages that lose
nothing, and a hung relay that cannot hold a run."""

import json
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog, ReminderPreference, ReminderRun
from tests.factories import TaskFactory, UserFactory
from tests.processes import child_env, message_lines, run_manage
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
    settings.DEFAULT_FROM_EMAIL = "Task reminders <reminders@example.com>"

    def to(server, **options):
        server.use(settings, **{"timeout": 2, **options})

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


@pytest.mark.postgres
def test_the_command_says_what_is_retried_and_what_failed_for_good(now, relay):
    """A permanent failure is one ERROR line without a stack; the closing line counts
    what a later run retries and what failed for good, and never says "succeeded"
    beside exit status 1."""
    relay.data_replies = lambda message: "451 4.3.0 Try again later"
    nowhere = TaskFactory(due_at=now + H, owner=UserFactory(email=""))
    busy = TaskFactory(due_at=now + H, owner=UserFactory(email="busy@example.com"))
    env = child_env(REMINDER_CHANNEL="reminders_app.channels.EmailChannel", **relay.env())

    result = run_manage("send_reminders", "--now", now.isoformat(), env=env)

    assert result.returncode == 1
    run = ReminderRun.objects.get()
    assert result.stdout.startswith(f"run {run.pk} finished with 2 failed: ")
    assert "succeeded" not in result.stdout + "".join(message_lines(result.stderr))
    assert message_lines(result.stderr) == [
        f"CommandError: 2 reminders failed in run {run.pk}: 1 reminder will be retried by "
        "a later run, 1 reminder failed for good"
    ]
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    failed = {line["task_id"]: line for line in lines if line.get("event") == "reminder_failed"}
    assert failed[nowhere.pk]["error"] == "permanent: no address"
    assert failed[busy.pk]["error"] == "temporary: smtp 451"
    assert all(line["level"] == "ERROR" and "stack" not in line for line in failed.values())
    assert "Traceback" not in result.stderr


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
    email(hung, timeout=1)
    TaskFactory.create_batch(50, due_at=now + H)
    try:
        summary = process_reminders(now=now)
    finally:
        hung.close()

    run = ReminderRun.objects.get()
    assert (summary["status"], run.error) == ("failed", "outage")
    # What it had claimed (a piece or two, not the window) goes back, attempts unspent.
    assert 0 < summary["selected"] == summary["released"] + summary["skipped"] < 50
    assert not ReminderLog.objects.exclude(attempts=0).exists()
    # A few connections timing out in parallel, not one wait per reminder.
    assert hung.connections <= 2 * settings.REMINDER_DELIVERY_CONCURRENCY
    assert run.duration is not None
    assert all(r.attempts == 0 for r in rows())


def test_refused_credentials_are_an_outage_and_the_password_is_never_shown(
    now, email, settings, caplog
):
    relay = Relay().start(refuse_logins=True)
    email(relay, username="reminders", password="hunter2-secret")
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


# --- The message a person reads ----------------------------------------------------


def parts(message):
    """The plain-text and HTML bodies of a received message."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_the_mail_has_a_text_and_an_html_part_saying_the_same(now, relay, email, settings):
    settings.SITE_URL = "https://reminders.example.org"
    settings.REMINDER_TASK_URL = "https://app.example.com/tasks/{task_id}/"
    owner = UserFactory(first_name="Ada", email="ada@example.com")
    ReminderPreference.objects.create(user=owner, time_zone="Europe/Paris")
    task = TaskFactory(owner=owner, due_at=now + 3 * H, title="Renew the domain & DNS")
    email(relay)

    process_reminders(now=now)

    (message,) = relay.received()
    reminder = ReminderLog.objects.get(task=task)
    text, html = parts(message)
    due = "Tuesday 10 March 2026 at 16:00 CET"  # 15:00 UTC
    assert message["Subject"] == "Reminder: Renew the domain & DNS is due Tue 10 Mar, 16:00 CET"
    assert message["From"] == "Task reminders <reminders@example.com>"
    assert message["Message-ID"] == f"<reminder-{reminder.pk}@reminders.example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Reminder-ID"] == str(reminder.pk)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = str(message["List-Unsubscribe"]).strip().strip("<>")
    assert unsubscribe.startswith("https://reminders.example.org/unsubscribe/")
    task_url = f"https://app.example.com/tasks/{task.pk}/"
    assert "Hello Ada" in text and "Hello Ada" in html
    assert '"Renew the domain & DNS"' in text
    assert "Renew the domain &amp; DNS" in html
    for body in (text, html):
        assert due.replace(" at ", " ") in body.replace(" at ", " ").replace("<strong>", "")
        assert "in 3\xa0hours" in body or "in 3 hours" in body
        assert task_url in body
        assert unsubscribe in body
    assert "http" not in html.replace(task_url, "").replace(unsubscribe, "")  # no assets


def test_without_a_task_url_the_mail_has_no_task_link(now, relay, email, settings):
    settings.SITE_URL = "https://reminders.example.org"
    TaskFactory(due_at=now + 3 * H, owner__email="ada@example.com")
    email(relay)

    process_reminders(now=now)

    (message,) = relay.received()
    unsubscribe = str(message["List-Unsubscribe"]).strip().strip("<>")
    for body in parts(message):
        assert "Open the task" not in body
        assert "/admin/" not in body
        assert "http" not in body.replace(unsubscribe, "")


def test_due_times_cross_daylight_saving_with_the_right_offset(relay, email):
    # New York moves its clocks from 02:00 EST to 03:00 EDT on 8 March 2026 (07:00 UTC).
    now = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    owner = UserFactory(email="ny@example.com")
    ReminderPreference.objects.create(user=owner, time_zone="America/New_York")
    before = TaskFactory(owner=owner, due_at=datetime(2026, 3, 8, 6, 30, tzinfo=UTC))
    after = TaskFactory(owner=owner, due_at=datetime(2026, 3, 8, 7, 30, tzinfo=UTC))
    email(relay)

    process_reminders(now=now)

    texts = {int(m["X-Reminder-ID"]): parts(m)[0] for m in relay.received()}
    by_task = {r.task_id: texts[r.pk] for r in ReminderLog.objects.all()}
    assert "Sunday 8 March 2026 at 01:30 EST" in by_task[before.pk]
    assert "Sunday 8 March 2026 at 03:30 EDT" in by_task[after.pk]


def test_an_owner_without_a_preference_gets_the_default_time_zone(now, relay, email, settings):
    settings.REMINDER_DEFAULT_TIME_ZONE = "Asia/Tokyo"
    TaskFactory(due_at=now + H)
    email(relay)

    process_reminders(now=now)

    (message,) = relay.received()
    assert "Tuesday 10 March 2026 at 22:00 JST" in parts(message)[0]  # 13:00 UTC
    assert "(Asia/Tokyo)" in parts(message)[0]


def test_a_stored_zone_that_no_longer_loads_falls_back_to_the_default(
    now, relay, email, settings, caplog
):
    settings.REMINDER_DEFAULT_TIME_ZONE = "Asia/Tokyo"
    owner = UserFactory(email="ada@example.com")
    ReminderPreference.objects.create(user=owner, time_zone="Europe/Paris")
    # A name the installed tzdata no longer has, written as an older release left it.
    ReminderPreference.objects.filter(user=owner).update(time_zone="US/Pacific-New")
    task = TaskFactory(owner=owner, due_at=now + H)
    email(relay)

    with caplog.at_level(logging.WARNING):
        summary = process_reminders(now=now)

    (message,) = relay.received()
    assert "Tuesday 10 March 2026 at 22:00 JST (Asia/Tokyo)" in parts(message)[0]
    assert (summary["sent"], ReminderLog.objects.get(task=task).status) == (1, "sent")
    (warning,) = [r for r in caplog.records if getattr(r, "event", "") == "time_zone_not_found"]
    assert (warning.levelname, warning.user_id) == ("WARNING", owner.pk)
    assert "Pacific" not in f"{warning.getMessage()} {warning.__dict__}"


def test_an_owner_who_opted_out_gets_nothing_and_a_suppressed_row(now, relay, email, caplog):
    quiet = UserFactory(email="quiet@example.com")
    ReminderPreference.objects.create(user=quiet, email_enabled=False)
    muted = TaskFactory(owner=quiet, due_at=now + H, title="Muted")
    TaskFactory(due_at=now + H)
    email(relay)

    summary = process_reminders(now=now)
    again = process_reminders(now=now + MINUTE)

    assert [m["To"] for m in relay.received()] != [] and "quiet@example.com" not in [
        m["To"] for m in relay.received()
    ]
    row = ReminderLog.objects.get(task=muted)
    assert (row.status, row.attempts, row.next_attempt_at) == ("suppressed", 0, None)
    assert (summary["sent"], summary["suppressed"]) == (1, 1)
    assert ReminderRun.objects.get(pk=summary["run_id"]).suppressed == 1
    assert again["selected"] == 0  # settled: never retried
    (line,) = [r for r in caplog.records if getattr(r, "event", "") == "reminder_suppressed"]
    assert line.task_id == muted.pk
    everything = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in ("Muted", "quiet@example.com", "Europe/", "UTC"):
        assert secret not in everything.replace('"+00:00"', "")
