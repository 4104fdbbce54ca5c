"""The hourly schedule: its row as data, and django-q2's own scheduler acting on it."""

import importlib
from datetime import UTC, datetime, timedelta
from io import StringIO

import psycopg
import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse
from django_q.brokers import get_broker
from django_q.models import OrmQ, Schedule
from django_q.scheduler import scheduler

from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderRun
from reminders_app.schedule import JOB_FUNC, SCHEDULE_NAME, SLOT_KWARG
from tests.factories import UserFactory
from tests.processes import child_env, run_manage

H = timedelta(hours=1)
# Twenty minutes past a slot: the 12:00 run is due, the next slot is 13:00.
CLOCK = datetime(2026, 3, 10, 12, 20, tzinfo=UTC)
SLOT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

migration = importlib.import_module("reminders_app.migrations.0002_hourly_schedule")


def run_migration():
    migration.create_schedule(apps, None)


@pytest.fixture
def fresh_database(db):
    """No schedule row yet, as before the first `migrate`."""
    Schedule.objects.all().delete()


def queued_tasks():
    return [package.task for package in OrmQ.objects.all()]


# django-q2's scheduler closes the connection it finds (close_old_connections),
# which would end a test wrapped in a transaction: these tests commit instead.
scheduler_test = pytest.mark.django_db(transaction=True)


@pytest.fixture
def due_schedule(hourly_schedule):
    hourly_schedule.next_run = SLOT
    hourly_schedule.save()
    return hourly_schedule


def test_the_migration_creates_the_schedule_the_design_names(fresh_database):
    with time_machine.travel(CLOCK, tick=False):
        run_migration()

    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert schedule.func == JOB_FUNC
    assert schedule.schedule_type == Schedule.HOURLY
    assert schedule.repeats == -1
    assert schedule.intended_date_kwarg == SLOT_KWARG
    assert schedule.next_run == SLOT + H


def test_running_the_migration_again_keeps_one_row_its_next_run_and_a_pause(fresh_database):
    with time_machine.travel(CLOCK, tick=False):
        run_migration()
    first = Schedule.objects.get(name=SCHEDULE_NAME)
    Schedule.objects.filter(pk=first.pk).update(repeats=0)  # an operator paused it

    with time_machine.travel(CLOCK + 5 * H, tick=False):
        run_migration()

    again = Schedule.objects.get(name=SCHEDULE_NAME)
    assert Schedule.objects.count() == 1
    assert (again.pk, again.next_run, again.repeats) == (first.pk, SLOT + H, 0)


def test_running_the_migration_again_repairs_the_function_and_cadence_in_place(fresh_database):
    with time_machine.travel(CLOCK, tick=False):
        run_migration()
    Schedule.objects.filter(name=SCHEDULE_NAME).update(
        func="reminders_app.jobs.renamed", schedule_type=Schedule.DAILY
    )

    run_migration()

    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type) == (JOB_FUNC, Schedule.HOURLY)
    assert schedule.next_run == SLOT + H


@pytest.mark.postgres
@pytest.mark.django_db
def test_migrating_a_fresh_database_twice_leaves_one_schedule():
    fresh = f"{connection.settings_dict['NAME']}_fresh"
    admin = psycopg.connect(
        host=connection.settings_dict.get("HOST") or "127.0.0.1",
        port=connection.settings_dict.get("PORT") or 5432,
        user=connection.settings_dict.get("USER") or "postgres",
        password=connection.settings_dict.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )
    url = child_env()["DATABASE_URL"].rsplit("/", 1)[0] + f"/{fresh}"
    admin.execute(f'DROP DATABASE IF EXISTS "{fresh}"')
    admin.execute(f'CREATE DATABASE "{fresh}"')
    try:
        env = child_env(DATABASE_URL=url)
        rows = []
        for _ in range(2):
            result = run_manage("migrate", "--no-input", env=env)
            assert result.returncode == 0, result.stderr
            with psycopg.connect(url) as db:
                rows.append(
                    db.execute(
                        "SELECT id, func, schedule_type, repeats, next_run, intended_date_kwarg "
                        "FROM django_q_schedule WHERE name = %s",
                        [SCHEDULE_NAME],
                    ).fetchall()
                )
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
        admin.close()

    assert len(rows[0]) == 1
    assert rows[1] == rows[0]
    _, func, schedule_type, repeats, next_run, kwarg = rows[0][0]
    assert (func, schedule_type, repeats, kwarg) == (JOB_FUNC, "H", -1, SLOT_KWARG)
    assert (next_run.minute, next_run.second, next_run.microsecond) == (0, 0, 0)


@scheduler_test
def test_the_scheduler_queues_one_run_for_the_slot_and_moves_to_the_next_hour(due_schedule):
    with time_machine.travel(CLOCK, tick=False):
        scheduler(broker=get_broker())

        tasks = queued_tasks()
        assert len(tasks) == 1
        assert tasks[0]["func"] == JOB_FUNC
        assert tasks[0]["kwargs"] == {SLOT_KWARG: SLOT.isoformat()}
        due_schedule.refresh_from_db()
        assert due_schedule.next_run == SLOT + H

        scheduler(broker=get_broker())

    assert len(queued_tasks()) == 1


@scheduler_test
def test_hours_missed_while_no_cluster_ran_are_not_caught_up(due_schedule):
    due_schedule.next_run = SLOT - 3 * H
    due_schedule.save()

    with time_machine.travel(CLOCK, tick=False):
        scheduler(broker=get_broker())

    assert [task["kwargs"][SLOT_KWARG] for task in queued_tasks()] == [(SLOT - 3 * H).isoformat()]
    due_schedule.refresh_from_db()
    assert due_schedule.next_run == SLOT + H


@scheduler_test
def test_a_paused_schedule_queues_nothing(due_schedule):
    due_schedule.repeats = 0
    due_schedule.save()

    with time_machine.travel(CLOCK, tick=False):
        scheduler(broker=get_broker())

    assert queued_tasks() == []


@scheduler_test
def test_a_scheduled_run_records_its_slot_and_lag(due_schedule):
    """The job called with the kwargs the scheduler queued, 42 s after the slot."""
    with time_machine.travel(CLOCK, tick=False):
        scheduler(broker=get_broker())
    (task,) = queued_tasks()

    with time_machine.travel(SLOT + timedelta(seconds=42), tick=False):
        summary = process_reminders(**task["kwargs"])

    run = ReminderRun.objects.get(pk=summary["run_id"])
    assert run.trigger == "schedule"
    assert run.scheduled_for == SLOT
    assert run.lag == timedelta(seconds=42)


@pytest.mark.django_db(transaction=True)
def test_a_run_by_hand_has_no_slot_or_lag(now):
    summary = process_reminders(now=now, trigger="command")

    run = ReminderRun.objects.get(pk=summary["run_id"])
    assert (run.scheduled_for, run.lag) == (None, None)


# --- Nobody can hijack it: the admin locks it, status and check flag it, migrate repairs it


def migrate():
    call_command("migrate", verbosity=0)


def status_problems() -> tuple[int, str]:
    try:
        call_command("reminders_status", stdout=StringIO())
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, ""


def check_warnings() -> str:
    out, err = StringIO(), StringIO()
    call_command("check", stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.fixture
def hijacked(hourly_schedule):
    """Paused by an operator, then pointed at another function that loads fine."""
    hourly_schedule.repeats = 0
    hourly_schedule.func = "os.getpid"
    hourly_schedule.save()
    return hourly_schedule


def test_a_schedule_running_another_function_is_unhealthy_and_warned_about(hijacked):
    code, error = status_problems()

    assert code == 1
    assert (
        "the schedule 'send-due-reminders' was altered (func not the reminder job's own)"
    ) in error
    assert "os.getpid" not in error
    assert (
        "(reminders_app.W002) The django-q2 schedule 'send-due-reminders' runs 'os.getpid', "
        "which is not the reminder job reminders_app.jobs.process_reminders"
    ) in check_warnings()


def test_migrate_restores_the_function_and_keeps_the_pause_and_next_run(hijacked):
    next_run = hijacked.next_run
    Schedule.objects.filter(pk=hijacked.pk).update(
        hook="os.system", args="'echo owned'", kwargs="x=1", schedule_type=Schedule.MINUTES
    )

    migrate()

    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert schedule.pk == hijacked.pk
    assert (schedule.func, schedule.schedule_type, schedule.intended_date_kwarg) == (
        JOB_FUNC,
        Schedule.HOURLY,
        SLOT_KWARG,
    )
    assert (schedule.hook, schedule.args, schedule.kwargs) == (None, None, None)
    assert (schedule.repeats, schedule.next_run) == (0, next_run)
    assert "reminders_app.W00" not in check_warnings()


def test_migrate_recreates_a_deleted_schedule_for_the_next_top_of_the_hour(hourly_schedule):
    hourly_schedule.delete()
    assert "(reminders_app.W001)" in check_warnings()
    assert "'send-due-reminders' is missing" in status_problems()[1]

    with time_machine.travel(CLOCK, tick=False):
        migrate()

    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert (schedule.func, schedule.repeats, schedule.next_run) == (JOB_FUNC, -1, SLOT + H)


def test_migrate_gives_a_schedule_without_next_run_the_next_top_of_the_hour(hourly_schedule):
    Schedule.objects.filter(pk=hourly_schedule.pk).update(next_run=None)

    with time_machine.travel(CLOCK, tick=False):
        migrate()

    assert Schedule.objects.get(name=SCHEDULE_NAME).next_run == SLOT + H


def test_migrate_removes_a_second_schedule_of_the_same_name(hourly_schedule):
    Schedule.objects.create(name=SCHEDULE_NAME, func="os.getpid", next_run=SLOT)
    assert "more than one schedule is named" in status_problems()[1]

    migrate()

    assert list(Schedule.objects.filter(name=SCHEDULE_NAME)) == [hourly_schedule]


@pytest.fixture
def superuser_client(db, client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_admin_pauses_the_schedule_but_cannot_change_what_it_runs(
    superuser_client, hourly_schedule
):
    url = reverse("admin:django_q_schedule_change", args=[hourly_schedule.pk])
    page = superuser_client.get(url).text
    assert 'name="func"' not in page and 'name="repeats"' in page

    response = superuser_client.post(
        url,
        {
            "name": "renamed",
            "func": "os.getpid",
            "hook": "os.system",
            "args": "'echo owned'",
            "schedule_type": Schedule.MINUTES,
            "repeats": "0",
            "next_run_0": "2030-01-01",
            "next_run_1": "13:00:00",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    schedule = Schedule.objects.get(pk=hourly_schedule.pk)
    assert (schedule.name, schedule.func, schedule.hook, schedule.args) == (
        SCHEDULE_NAME,
        JOB_FUNC,
        None,
        None,
    )
    assert schedule.schedule_type == Schedule.HOURLY
    assert (schedule.repeats, schedule.next_run) == (0, datetime(2030, 1, 1, 13, tzinfo=UTC))


def test_the_admin_cannot_delete_the_schedule_or_add_another_by_its_name(
    superuser_client, hourly_schedule
):
    delete = reverse("admin:django_q_schedule_delete", args=[hourly_schedule.pk])
    changelist = reverse("admin:django_q_schedule_changelist")
    bulk = {"action": "delete_selected", "_selected_action": [hourly_schedule.pk]}

    assert superuser_client.post(delete, {"post": "yes"}).status_code == 403
    assert "the reminder schedule" in superuser_client.post(changelist, bulk).text
    assert superuser_client.post(changelist, bulk | {"post": "yes"}).status_code == 403
    added = superuser_client.post(
        reverse("admin:django_q_schedule_add"),
        {"name": SCHEDULE_NAME, "func": "os.getpid", "schedule_type": "O", "repeats": "-1"},
    )

    assert "is the reminder job" in added.text
    assert list(Schedule.objects.all()) == [hourly_schedule]


# --- Minute 0, always --------------------------------------------------------------


def test_a_next_run_off_minute_0_is_reported_and_migrate_moves_it_to_the_next_top_of_the_hour(
    client, hourly_schedule, caplog
):
    """Edited to :35 (say, in the database), the hourly job would run at :35 for good."""
    Schedule.objects.filter(pk=hourly_schedule.pk).update(
        next_run=datetime(2030, 1, 1, 13, 35, tzinfo=UTC), repeats=0
    )
    problem = (
        "the schedule 'send-due-reminders' is due at 2030-01-01T13:35:00+00:00, off minute 0: "
        "`manage.py migrate`, or the worker's next start, puts it back"
    )

    assert problem in status_problems()[1]
    assert problem in client.get("/healthz").json()["problems"]
    migrate()

    schedule = Schedule.objects.get(pk=hourly_schedule.pk)
    assert (schedule.next_run, schedule.repeats) == (datetime(2030, 1, 1, 14, tzinfo=UTC), 0)
    assert "off minute 0" not in status_problems()[1]
    (restored,) = [r for r in caplog.records if getattr(r, "event", "") == "schedule_restored"]
    assert (restored.levelname, restored.fields) == ("WARNING", ["next_run"])


def test_arguments_that_are_not_the_jobs_own_are_reported_by_name_and_taken_back(
    client, hourly_schedule
):
    """A window of years would mail every owner; the probes name the fields, not what
    was written in them."""
    Schedule.objects.filter(pk=hourly_schedule.pk).update(args="'x'", kwargs="window_hours=876000")
    problem = (
        "the schedule 'send-due-reminders' was altered (args, kwargs not the reminder job's "
        "own): `manage.py migrate`, or the worker's next start, puts it back"
    )

    code, error = status_problems()
    health = client.get("/healthz")
    assert (code, health.status_code) == (1, 503)
    assert problem in error and problem in health.json()["problems"]
    assert "876000" not in error + health.text
    migrate()

    assert Schedule.objects.filter(pk=hourly_schedule.pk, args=None, kwargs=None).exists()
    assert "altered" not in status_problems()[1]


def test_the_admin_keeps_the_next_run_at_minute_0(superuser_client, hourly_schedule):
    url = reverse("admin:django_q_schedule_change", args=[hourly_schedule.pk])
    form = {"repeats": "-1", "next_run_0": "2030-01-01", "_save": "Save"}

    refused = superuser_client.post(url, form | {"next_run_1": "13:35:00"})
    moved = superuser_client.post(url, form | {"next_run_1": "14:00:00"})

    assert "runs every hour at minute 0" in refused.text
    assert moved.status_code == 302
    assert Schedule.objects.get(pk=hourly_schedule.pk).next_run == datetime(
        2030, 1, 1, 14, tzinfo=UTC
    )


def test_no_other_schedule_may_run_the_job(superuser_client, hourly_schedule):
    """With the guard on (this project): another row naming the job could pass it any
    arguments (a window of years). The admin refuses it; one written straight into the
    table is reported by id, and the worker refuses its task (tests/test_cluster.py)."""
    added = superuser_client.post(
        reverse("admin:django_q_schedule_add"),
        {
            "name": "yearly sweep",
            "func": JOB_FUNC,
            "kwargs": "window_hours=876000",
            "schedule_type": "O",
            "repeats": "-1",
            "next_run_0": "2030-01-01",
            "next_run_1": "13:00:00",
        },
    )
    assert "only the schedule &#x27;send-due-reminders&#x27; runs the reminder job" in (
        added.text.lower()
    )
    row = Schedule.objects.create(
        name="yearly sweep", func=JOB_FUNC, kwargs="window_hours=876000", next_run=SLOT + H
    )

    error = status_problems()[1]

    assert (
        f"the schedule #{row.pk} runs the reminder job, which the cluster refuses from any "
        "schedule but 'send-due-reminders': delete it"
    ) in error
    assert "yearly" not in error and "876000" not in error
