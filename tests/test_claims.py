"""reminders_app.claims, the one writer of the reminder history: its SQL follows the
model, and its takeover rule is the ORM's."""

from datetime import timedelta

import pytest
from django.db import connection, models, transaction
from django.utils import timezone

from reminders_app import claims
from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog
from reminders_app.plan import Keyset, RunPlan
from reminders_app.sql import compiled_where
from tests.factories import ReminderLogFactory, ReminderRunFactory, TaskFactory

H = timedelta(hours=1)


@pytest.fixture
def field_added_to_the_log():
    """ReminderLog with one more column, as a later migration might add it."""
    field = models.CharField(max_length=10, default="", blank=True)
    field.set_attributes_from_name("channel_hint")
    ReminderLog._meta.add_field(field)
    claims._columns.cache_clear()
    yield field
    ReminderLog._meta.local_fields.remove(field)
    ReminderLog._meta._expire_cache()
    claims._columns.cache_clear()


def test_every_column_of_the_log_is_written_by_a_claim():
    table, columns = claims._columns()

    names = {field.attname for field in ReminderLog._meta.concrete_fields}
    assert set(columns) == names
    assert names - {"id"} == set(claims.INSERTED)
    assert names == claims.KEPT_ON_TAKEOVER | set(claims.TAKEN_OVER)


def test_a_field_the_claim_does_not_know_stops_the_claim(field_added_to_the_log):
    with pytest.raises(claims.UnknownColumn, match="channel_hint"):
        claims._columns()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("row", "takeable"),
    [
        (dict(status="failed", attempts=1, next_attempt_at=-H), True),  # due a retry
        (dict(status="failed", attempts=1, next_attempt_at=+H), False),  # waiting
        (dict(status="failed", attempts=5, next_attempt_at=-H), False),  # out of attempts
        (dict(status="failed", attempts=1, next_attempt_at=None), False),  # permanent
        (dict(status="claimed", attempts=0, claimed_at=-H), True),  # left by a dead run
        (dict(status="claimed", attempts=0, claimed_at=-timedelta(seconds=1)), False),  # live
        (dict(status="sent", attempts=1), False),
        (dict(status="suppressed", attempts=0), False),
    ],
    ids=[
        "retry-due",
        "retry-waiting",
        "out-of-attempts",
        "permanent",
        "stale-claim",
        "live-claim",
        "sent",
        "suppressed",
    ],
)
def test_the_takeover_sql_selects_what_the_orm_rule_selects(now, settings, row, takeable):
    settings.REMINDER_MAX_ATTEMPTS = 5
    settings.REMINDER_CLAIM_TIMEOUT_SECONDS = 600
    plan = RunPlan.build(now=now)
    times = {
        key: (plan.now if key == "next_attempt_at" else timezone.now()) + value
        for key, value in row.items()
        if isinstance(value, timedelta)
    }
    reminder = ReminderLogFactory(**(row | times))
    where, params = compiled_where(ReminderLog, ReminderLog.objects.takeable_q(**plan.policy))
    table, columns = claims._columns()

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns['id']} FROM {table} WHERE {where}", params)  # noqa: S608
        by_sql = {pk for (pk,) in cursor.fetchall()}
    by_orm = set(ReminderLog.objects.takeable(**plan.policy).values_list("pk", flat=True))

    assert by_sql == by_orm
    assert (reminder.pk in by_sql) is takeable


@pytest.mark.django_db
def test_a_claim_fills_every_column(now):
    task = TaskFactory(due_at=now + H)
    run = ReminderRunFactory(status="running", finished_at=None)
    plan = RunPlan.build(now=now)

    with transaction.atomic():
        batch = claims.claim_batch(plan, after=None, run=run, sent=False)

    (reminder,) = batch.claimed
    row = ReminderLog.objects.get(pk=reminder.log_id)
    assert (row.task_id, row.recipient_id, row.due_at, row.status, row.run_id) == (
        task.pk,
        task.owner_id,
        now + H,
        "claimed",
        run.pk,
    )
    assert (row.attempts, row.next_attempt_at, row.error, row.sent_at) == (0, None, "", None)
    assert row.claimed_at == row.created_at
    assert batch.selected == 1
    assert batch.last == Keyset(due_at=now + H, task_id=task.pk, recipient_id=task.owner_id)


@pytest.mark.django_db(transaction=True)
def test_the_job_inside_an_outer_transaction_is_an_error_and_claims_nothing(now):
    TaskFactory(due_at=now + H)

    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        process_reminders(now=now)

    assert not ReminderLog.objects.exists()


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(1, timedelta(0)), (2, timedelta(minutes=5)), (3, timedelta(minutes=10)), (60, H * 24)],
)
def test_retries_back_off_up_to_a_day(attempts, delay):
    assert claims.retry_delay(attempts) == delay
