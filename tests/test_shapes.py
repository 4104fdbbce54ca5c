"""The job on a task model of another shape (the dated host's chores: a due day and no
time, a done flag, several assignees, the creator as fallback) against a brute-force
oracle of the definition, over random chores, people's zones, histories, clocks and
windows (hypothesis). The host projects under tests/hosts prove the same shapes
installed from the wheel; this proves the selection's edges: zones from UTC-12 to
UTC+14, daylight-saving changes, a stored zone that no longer loads, the window's
ends, people added to and dropped from a chore."""

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog, ReminderPreference, ReminderRun
from tests.hosts.dated.chores.models import Chore
from tests.quiet_oracle import SPANS, holds_from, woke_since

pytestmark = pytest.mark.django_db

CHORES = {
    "REMINDER_TASK_MODEL": "chores.Chore",
    "REMINDER_TASK_FIELDS": {
        "due_at": "due_on",
        "completed_at": "done",
        "owner": "assignees",
        "fallback_owner": "creator",
    },
}
# Around the daylight-saving changes of 2026: New York on 8 March, Europe on 29 March.
BASE = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
DAYS = 40
# Each person's zone: none stored, the extremes, two with daylight saving, and a name
# the installed tzdata does not have (mail and selection fall back to the default).
ZONES = ["", "Pacific/Kiritimati", "Etc/GMT+12", "America/New_York", "Europe/Berlin", "Gone/Zone"]
PEOPLE = 4


def local_due(day: date, zone_name: str, at: time) -> datetime:
    try:
        zone = zoneinfo.ZoneInfo(zone_name) if zone_name else UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = UTC  # REMINDER_DEFAULT_TIME_ZONE
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


chores = st.lists(
    st.fixed_dictionaries(
        {
            "due": st.one_of(st.none(), st.integers(min_value=-3, max_value=3)),
            "done": st.booleans(),
            "assignees": st.sets(st.integers(min_value=0, max_value=PEOPLE - 1), max_size=3),
            "creator": st.one_of(st.none(), st.integers(min_value=0, max_value=PEOPLE - 1)),
            # A row an earlier run left: none, sent for this due date, or for another.
            "history": st.sampled_from(["none", "sent", "sent-old-day", "suppressed"]),
        }
    ),
    max_size=8,
)


@hypothesis_settings(max_examples=40, deadline=None)
@given(
    chores_=chores,
    zones=st.lists(st.sampled_from(ZONES), min_size=PEOPLE, max_size=PEOPLE),
    quiet=st.lists(st.sampled_from(SPANS), min_size=PEOPLE, max_size=PEOPLE),
    # A clock at any hour of those days (shrinking to midnight UTC): runs inside and
    # outside people's quiet hours.
    days=st.integers(min_value=0, max_value=DAYS),
    minutes=st.integers(min_value=0, max_value=24 * 60 - 1),
    window_hours=st.one_of(st.sampled_from([1, 24]), st.floats(min_value=0.01, max_value=72)),
    due_time=st.sampled_from(["09:00", "00:00", "23:30", "02:30"]),
    batch_size=st.sampled_from([1, 2, 3, 2000]),
)
def test_the_job_reminds_exactly_the_people_the_oracle_finds(
    chores_, zones, quiet, days, minutes, window_hours, due_time, batch_size
):
    now = BASE.replace(hour=0) + timedelta(days=days, minutes=minutes)
    end = now + timedelta(hours=window_hours)
    at = time.fromisoformat(due_time)
    with override_settings(**CHORES, REMINDER_DUE_TIME=due_time, REMINDER_BATCH_SIZE=batch_size):
        ReminderLog.objects.all().delete()
        ReminderRun.objects.all().delete()
        Chore.objects.all().delete()
        get_user_model().objects.all().delete()
        people = [get_user_model().objects.create(username=f"p{n}") for n in range(PEOPLE)]
        for person, zone, span in zip(people, zones, quiet, strict=True):
            if zone or span:
                quiet_start, quiet_end = span or (None, None)
                ReminderPreference.objects.create(
                    user=person, time_zone=zone, quiet_start=quiet_start, quiet_end=quiet_end
                )
        # Each one's quiet hours at the run's clock: reminders due from then are held.
        held_from = [holds_from(now, zone, span) for zone, span in zip(zones, quiet, strict=True)]
        # Each one's last quiet hours, if they ended within a day: what they held
        # back, due since then, is due now.
        woke = [woke_since(now, zone, span) for zone, span in zip(zones, quiet, strict=True)]
        earlier = ReminderRun.objects.create(
            window_start=now, window_end=end, status=ReminderRun.Status.SUCCEEDED
        )

        expected, held = [], []
        for spec in chores_:
            day = now.date() + timedelta(days=spec["due"]) if spec["due"] is not None else None
            chore = Chore.objects.create(title="c", due_on=day, done=spec["done"])
            chore.assignees.set([people[n] for n in spec["assignees"]])
            if spec["creator"] is not None:
                chore.creator = people[spec["creator"]]
                chore.save()
            named = spec["assignees"] or ([spec["creator"]] if spec["creator"] is not None else [])
            for n in sorted(named):
                person = people[n]
                due_at = local_due(day, zones[n], at) if day else None
                if spec["history"] != "none" and due_at is not None:
                    old = spec["history"] == "sent-old-day"
                    ReminderLog.objects.create(
                        task_id=chore.pk,
                        recipient=person,
                        due_at=due_at - timedelta(days=1) if old else due_at,
                        status="suppressed" if spec["history"] == "suppressed" else "sent",
                        run=earlier,
                        attempts=1,
                    )
                settled = spec["history"] in {"sent", "suppressed"}
                held_back = woke[n] is not None and due_at and woke[n] <= due_at < now
                in_window = due_at and (now <= due_at <= end or held_back)
                if in_window and not spec["done"] and not settled:
                    quiet_from = held_from[n]
                    due = expected if quiet_from is None or due_at < quiet_from else held
                    due.append((due_at, chore.pk, person.pk))
        expected.sort()
        held.sort()

        dry = process_reminders(now=now, window_hours=window_hours, dry_run=True)
        real = process_reminders(now=now, window_hours=window_hours)
        again = process_reminders(now=now, window_hours=window_hours)

        found = [
            (datetime.fromisoformat(r["due_at"]), r["task_id"], r["recipient_id"])
            for r in dry["reminders"]
        ]
        assert found == expected
        assert [
            (datetime.fromisoformat(r["due_at"]), r["task_id"], r["recipient_id"])
            for r in dry["held"]
        ] == held
        sent = ReminderLog.objects.filter(run_id=real["run_id"], status="sent")
        assert sorted(sent.values_list("due_at", "task_id", "recipient_id")) == expected
        assert (real["selected"], real["sent"], again["selected"]) == (
            len(expected),
            len(expected),
            0,
        )


@pytest.mark.django_db(transaction=True)
def test_a_person_dropped_from_a_chore_is_not_reminded_and_one_added_is():
    """A claim never pairs a chore with someone no longer on it, and a newcomer gets
    their own reminder for the same due date."""
    now = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    ann, bob, cy = (get_user_model().objects.create(username=name) for name in "abc")
    chore = Chore.objects.create(title="Water the ficus", due_on=date(2026, 3, 10))
    with override_settings(**CHORES):
        chore.assignees.set([ann, bob])
        first = process_reminders(now=now)
        chore.assignees.set([ann, cy])
        second = process_reminders(now=now)

    sent = ReminderLog.objects.filter(status="sent")
    assert (first["sent"], second["sent"]) == (2, 1)
    assert sorted(sent.values_list("recipient__username", flat=True)) == ["a", "b", "c"]
    assert set(sent.values_list("due_at", flat=True)) == {datetime(2026, 3, 10, 9, tzinfo=UTC)}


@pytest.mark.django_db(transaction=True)
def test_a_chore_moved_to_another_day_is_reminded_again():
    now = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    ann = get_user_model().objects.create(username="ann")
    chore = Chore.objects.create(title="Pay the rent", due_on=date(2026, 3, 10), creator=ann)
    with override_settings(**CHORES):
        process_reminders(now=now)
        Chore.objects.filter(pk=chore.pk).update(due_on=date(2026, 3, 11))
        moved = process_reminders(now=now + timedelta(days=1))

    assert moved["sent"] == 1
    assert sorted(ReminderLog.objects.values_list("due_at", flat=True)) == [
        datetime(2026, 3, 10, 9, tzinfo=UTC),
        datetime(2026, 3, 11, 9, tzinfo=UTC),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_chore_that_names_nobody_is_counted_and_every_other_reminder_goes_out(
    settings, caplog, client
):
    """No assignee and no creator: nobody to remind. The mail of every other chore
    goes out, the run succeeds with every count adding up, and the chore is counted
    in the summary, the command's output, the run_finished line and /metrics."""
    from django.core.management import call_command

    from tests.smtp import Relay

    now = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    ann, bob, cy = (
        get_user_model().objects.create(username=n, email=f"{n}@example.com")
        for n in ("ann", "bob", "cy")
    )
    day = date(2026, 3, 10)
    Chore.objects.create(title="Nobody's", due_on=day)
    Chore.objects.create(title="Bob made it", due_on=day, creator=bob)
    Chore.objects.create(title="Nobody's either", due_on=day)
    Chore.objects.create(title="Nobody's, done", due_on=day, done=True)
    Chore.objects.create(title="Nobody's, tomorrow", due_on=date(2026, 3, 11))
    shared = Chore.objects.create(title="Shared", due_on=day, creator=bob)
    shared.assignees.set([ann, cy])
    relay = Relay().start()
    settings.REMINDER_CHANNEL = "reminders_app.channels.EmailChannel"
    settings.METRICS_TOKEN = "t"
    relay.use(settings)
    try:
        with override_settings(**CHORES):
            dry = process_reminders(now=now, dry_run=True)
            summary = process_reminders(now=now)
            with time_machine.travel(now, tick=False):
                metrics = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").text
                out = StringIO()
                call_command("send_reminders", stdout=out)
    finally:
        relay.stop()

    assert sorted(m["To"] for m in relay.received()) == [
        "ann@example.com",
        "bob@example.com",
        "cy@example.com",
    ]
    assert (dry["selected"], dry["without_recipient"]) == (3, 2)
    facts = summary.as_dict()
    assert (facts["status"], facts["selected"], facts["sent"], facts["without_recipient"]) == (
        "succeeded",
        3,
        3,
        2,
    )
    assert not ReminderLog.objects.exclude(status="sent").exists()
    (finished,) = [r for r in caplog.records if getattr(r, "event", "") == "run_finished"][:1]
    assert finished.without_recipient == 2
    assert "reminder_tasks_without_recipient 2.0" in metrics
    assert out.getvalue().rstrip().endswith("; 2 tasks due name nobody to remind")
