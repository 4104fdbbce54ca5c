"""Quiet hours (ReminderPreference.quiet_start / quiet_end): nobody is mailed inside
them, in their own zone, but for a task due before they end; every other reminder is
held, not claimed, and goes with the first run after they end, even one that fell due
before that run. The mail a real SMTP server (aiosmtpd) received, the rows,
`send_reminders --dry-run` and the admin as staff read them."""

import io
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog, ReminderPreference
from reminders_app.quiet import quiet_until
from tests.factories import TaskFactory, UserFactory
from tests.smtp import Relay
from tests.test_channels import parts

H = timedelta(hours=1)
# 23:00 in Paris (CET, UTC+1): inside 22:00-07:00, which ends at 06:00 UTC tomorrow.
NIGHT = datetime(2026, 3, 10, 22, 0, tzinfo=UTC)
MORNING = datetime(2026, 3, 11, 6, 0, tzinfo=UTC)  # 07:00 in Paris: the first run after


@pytest.fixture
def relay(settings):
    server = Relay().start()
    settings.REMINDER_CHANNEL = "reminders_app.channels.EmailChannel"
    settings.REMINDER_DELIVERY_CONCURRENCY = 2
    server.use(settings, timeout=2)
    yield server
    server.stop()


def sleeper(*, digest=False, email="ada@example.com"):
    """Someone in Paris whose quiet hours are 22:00-07:00."""
    person = UserFactory(email=email)
    ReminderPreference.objects.create(
        user=person,
        time_zone="Europe/Paris",
        quiet_start=time(22, 0),
        quiet_end=time(7, 0),
        digest=digest,
    )
    return person


@pytest.mark.django_db(transaction=True)
def test_held_inside_quiet_hours_but_for_tasks_due_before_they_end(relay):
    ada = sleeper()
    early = TaskFactory(owner=ada, due_at=MORNING - timedelta(minutes=30), title="Early")
    at_end = TaskFactory(owner=ada, due_at=MORNING, title="At the end")
    later = TaskFactory(owner=ada, due_at=MORNING + 2 * H, title="Later")
    awake = TaskFactory(due_at=MORNING + 2 * H, owner__email="bob@example.com")

    night = process_reminders(now=NIGHT)
    titles = Counter(m["Subject"].split(" is due")[0] for m in relay.received())
    held_rows = ReminderLog.objects.filter(task__in=[at_end, later]).count()
    midway = process_reminders(now=NIGHT + 6 * H)  # 05:00 in Paris: still quiet
    morning = process_reminders(now=MORNING)

    # The 06:30 task comes before the quiet hours end: it goes at once. The 07:00 one
    # (due as they end) and the 09:00 one wait for the 07:00 run.
    assert titles == {"Reminder: Early": 1, f"Reminder: {awake.title}": 1}
    assert (night["selected"], night["sent"], held_rows) == (2, 2, 0)
    assert midway["selected"] == 0
    assert (morning["selected"], morning["sent"]) == (2, 2)
    subjects = [m["Subject"] for m in relay.received()[2:]]
    assert sorted(subject.split(" is due")[0] for subject in subjects) == [
        "Reminder: At the end",
        "Reminder: Later",
    ]
    later_mail = next(m for m in relay.received() if m["Subject"].startswith("Reminder: Later"))
    assert "Wednesday 11 March 2026 at 09:00 CET" in parts(later_mail)[0]
    sent = ReminderLog.objects.filter(status="sent")
    assert sorted(sent.values_list("task_id", flat=True)) == sorted(
        [early.pk, at_end.pk, later.pk, awake.pk]
    )


@pytest.mark.django_db(transaction=True)
def test_a_held_reminder_due_before_the_run_after_quiet_hours_still_goes_with_it(relay):
    """Quiet hours ending at 07:30, a task due at 07:45: held at the 07:00 run, past
    due at the 08:00 run, which sends it all the same, and a rerun does not."""
    ada = sleeper()
    ReminderPreference.objects.filter(user=ada).update(quiet_end=time(7, 30))
    task = TaskFactory(owner=ada, due_at=MORNING + timedelta(minutes=45), title="Quarter")
    missed = TaskFactory(owner=ada, due_at=MORNING - 2 * H, title="Long before")

    seven = process_reminders(now=MORNING)  # 07:00 in Paris: quiet until 07:30
    eight = process_reminders(now=MORNING + H)
    again = process_reminders(now=MORNING + H + timedelta(minutes=30))

    assert (seven["selected"], eight["selected"], eight["sent"], again["selected"]) == (0, 1, 1, 0)
    (mail,) = relay.received()
    assert mail["Subject"].startswith("Reminder: Quarter is due")
    sent = ReminderLog.objects.get(status="sent")
    assert (sent.task_id, sent.due_at) == (task.pk, task.due_at)
    # A task due inside the quiet hours, before they ended, was never held: it went
    # (or, as here, was past due before any run) and is not sent now.
    assert not ReminderLog.objects.filter(task=missed).exists()


@pytest.mark.django_db(transaction=True)
def test_a_quiet_digest_reader_gets_what_is_due_before_then_the_rest_after(relay):
    ada = sleeper(digest=True)
    TaskFactory(owner=ada, due_at=MORNING - 2 * H, title="Early")
    TaskFactory(owner=ada, due_at=MORNING + 3 * H, title="Later")
    TaskFactory(owner=ada, due_at=MORNING + 5 * H, title="Latest")

    night = process_reminders(now=NIGHT)
    morning = process_reminders(now=MORNING)

    first, second = relay.received()
    assert first["Subject"].startswith("1 task due: Early")
    assert second["Subject"].startswith("2 tasks due: Later")
    assert (night["sent"], morning["sent"]) == (1, 2)


@pytest.mark.django_db
def test_a_dry_run_shows_held_reminders_and_when_they_go():
    ada = sleeper()
    soon = TaskFactory(owner=ada, due_at=MORNING - H)
    later = TaskFactory(owner=ada, due_at=MORNING + 2 * H)
    out = io.StringIO()

    call_command("send_reminders", "--dry-run", "--now", NIGHT.isoformat(), stdout=out)

    assert out.getvalue().splitlines() == [
        "dry run: 1 reminder due between 2026-03-10T22:00:00+00:00 and "
        "2026-03-11T22:00:00+00:00, 1 held for quiet hours; nothing recorded",
        f"would remind user {ada.pk} of task {soon.pk}, due 2026-03-11T05:00:00+00:00",
        f"held for quiet hours: user {ada.pk}'s reminder of task {later.pk}, due "
        "2026-03-11T08:00:00+00:00, goes with the first run from 2026-03-11T06:00:00+00:00",
    ]
    assert not ReminderLog.objects.exists()


@pytest.mark.django_db
def test_the_reminder_log_heads_its_rows_with_the_held_reminders(admin_client):
    ada = sleeper()
    later = TaskFactory(owner=ada, due_at=MORNING + 2 * H, title="Water the ficus")
    url = reverse("admin:reminders_app_reminderlog_changelist")

    with time_machine.travel(NIGHT, tick=False):
        quiet = admin_client.get(url)
    with time_machine.travel(MORNING, tick=False):
        awake = admin_client.get(url)

    assert quiet.status_code == awake.status_code == 200
    assert "Held for quiet hours" in quiet.text
    assert f"{later.pk}: Water the ficus" in quiet.text
    assert f"{ada.pk} · {ada.username}" in quiet.text
    assert "2026-03-11 06:00:00 UTC" in quiet.text  # goes with the 07:00 run in Paris
    assert "Held for quiet hours" not in awake.text


@pytest.mark.django_db
def test_the_admin_refuses_quiet_hours_without_a_span(admin_client):
    person = UserFactory()
    url = reverse("admin:reminders_app_reminderpreference_add")
    form = {"user": person.pk, "time_zone": "", "email_enabled": "on"}

    one = admin_client.post(url, form | {"quiet_start": "22:00"})
    same = admin_client.post(url, form | {"quiet_start": "22:00", "quiet_end": "22:00"})
    both = admin_client.post(url, form | {"quiet_start": "22:00", "quiet_end": "07:00"})

    assert "both a start and an end, or neither" in one.text
    assert "must end at another time than they start" in same.text
    assert both.status_code == 302
    saved = ReminderPreference.objects.get(user=person)
    assert (saved.quiet_start, saved.quiet_end) == (time(22), time(7))


# --- When quiet hours end: local times, midnight and daylight saving ----------------

PARIS, NEW_YORK = ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "ends"),
    [
        (utc(2026, 3, 10, 20, 59), None),  # 21:59 in Paris: not yet
        (utc(2026, 3, 10, 21, 0), utc(2026, 3, 11, 6, 0)),  # 22:00
        (utc(2026, 3, 10, 23, 30), utc(2026, 3, 11, 6, 0)),  # after midnight UTC too
        (utc(2026, 3, 11, 5, 59), utc(2026, 3, 11, 6, 0)),  # 06:59
        (utc(2026, 3, 11, 6, 0), None),  # 07:00: over
        # Paris moves to summer time at 02:00 on 29 March: the night is an hour shorter.
        (utc(2026, 3, 28, 22, 0), utc(2026, 3, 29, 5, 0)),
    ],
)
def test_quiet_hours_cross_midnight_in_their_zone(now, ends):
    assert quiet_until(now, PARIS, time(22), time(7)) == ends


def test_quiet_hours_through_a_daylight_saving_change():
    # New York springs forward at 02:00 EST on 8 March 2026 (07:00 UTC) to 03:00 EDT.
    assert quiet_until(utc(2026, 3, 8, 6, 30), NEW_YORK, time(1), time(3)) == utc(2026, 3, 8, 7)
    # An end the clocks skip is read with the offset before the change, as a date-only
    # due date is: 02:30 that night is 03:30 EDT.
    assert quiet_until(utc(2026, 3, 8, 6, 30), NEW_YORK, time(1), time(2, 30)) == utc(
        2026, 3, 8, 7, 30
    )
    # It falls back at 02:00 EDT on 1 November 2026 (06:00 UTC) to 01:00 EST: quiet
    # hours to 01:30 end at its first 01:30, and the hour repeated is not quiet again.
    assert quiet_until(utc(2026, 11, 1, 5, 10), NEW_YORK, time(22), time(1, 30)) == utc(
        2026, 11, 1, 5, 30
    )
    assert quiet_until(utc(2026, 11, 1, 6, 10), NEW_YORK, time(22), time(1, 30)) is None


def test_quiet_hours_that_end_as_they_start_are_none():
    assert quiet_until(utc(2026, 3, 10, 22), PARIS, time(7), time(7)) is None
