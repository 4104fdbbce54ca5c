"""The hourly schedule: its row as data, and django-q2's own scheduler acting on it."""

import importlib
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import time_machine
from django.apps import apps
from django.db import connection
from django_q.brokers import get_broker
from django_q.models import OrmQ, Schedule
from django_q.scheduler import scheduler

from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderRun
from reminders_app.schedule import JOB_FUNC, SCHEDULE_NAME, SLOT_KWARG
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
