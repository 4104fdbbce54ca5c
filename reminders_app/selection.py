"""Which reminders are due, and how a run claims them.

The unique constraint `reminder_once_per_due_date` on (task, due_at) is the arbiter:
a run owns a reminder only if its INSERT of the row succeeded, or if its conditional
UPDATE took over a row that a dead run or an earlier failure left behind. Whatever
else runs at the same time, one (task, due_at) has one row.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from reminders_app.channels import Reminder
from reminders_app.models import ReminderLog, ReminderRun
from tasks_app.models import AWAITING_REMINDER, Task

Status = ReminderLog.Status


@dataclass(frozen=True, slots=True)
class Policy:
    """The clocks and limits one run works with."""

    now: datetime  # the job's clock: window and retry times
    wall_now: datetime  # the real clock: claim ages
    claim_timeout: timedelta
    max_attempts: int

    @property
    def stale_before(self) -> datetime:
        return self.wall_now - self.claim_timeout


def due_tasks(*, window_start: datetime, window_end: datetime) -> QuerySet[Task]:
    """Open tasks due in [window_start, window_end] whose reminder is not settled.

    Served by the partial index task_awaiting_reminder_idx.
    """
    return Task.objects.filter(AWAITING_REMINDER, due_at__gte=window_start, due_at__lte=window_end)


def _takeable(policy: Policy) -> Q:
    """Rows a run may take over: failed ones due a retry, and stale claims."""
    return Q(
        status=Status.FAILED,
        attempts__lt=policy.max_attempts,
        next_attempt_at__lte=policy.now,
    ) | Q(status=Status.CLAIMED, claimed_at__lt=policy.stale_before)


def _blocking(policy: Policy) -> QuerySet[ReminderLog]:
    """The row, if any, that keeps a task's reminder from being claimed now."""
    return ReminderLog.objects.filter(task=OuterRef("pk"), due_at=OuterRef("due_at")).exclude(
        _takeable(policy)
    )


def next_candidates(
    *,
    window_start: datetime,
    window_end: datetime,
    policy: Policy,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[int, datetime]]:
    """1. Find up to `limit` due reminders after the keyset `after`, as (task_id, due_at)."""
    qs = due_tasks(window_start=window_start, window_end=window_end).filter(
        ~Exists(_blocking(policy))
    )
    if after is not None:
        due, pk = after
        qs = qs.filter(Q(due_at__gt=due) | Q(due_at=due, pk__gt=pk))
    return list(qs.order_by("due_at", "pk").values_list("pk", "due_at")[:limit])


def claim(
    *,
    candidates: Sequence[tuple[int, datetime]],
    run: ReminderRun,
    policy: Policy,
    status: str,
) -> list[Reminder]:
    """2. Claim the candidates for `run`; return those it now owns.

    Must run inside a transaction. Rows are written with `status` (`sent` when the
    channel delivers inside this transaction, `claimed` otherwise). Candidates that
    another run claimed in the meantime are simply not returned.
    """
    wanted = set(candidates)
    starts = min(due for _, due in candidates)
    ends = max(due for _, due in candidates)
    # Take over rows left by failures and dead runs. SKIP LOCKED leaves a row that
    # another run is taking over right now to that run.
    stale = [
        (pk, task_id, due, attempts)
        for pk, task_id, due, attempts in ReminderLog.objects.filter(
            _takeable(policy),
            task_id__in=[task_id for task_id, _ in candidates],
            due_at__gte=starts,
            due_at__lte=ends,
        )
        .select_for_update(skip_locked=True)
        .order_by("pk")
        .values_list("pk", "task_id", "due_at", "attempts")
        if (task_id, due) in wanted
    ]
    taken = {task_id for _, task_id, _, _ in stale}
    # A claim's age counts from this moment, not from the run's start: claims that a
    # long run makes late must not look stale to other runs while it delivers them.
    claimed_at = timezone.now()
    if stale:
        ReminderLog.objects.filter(pk__in=[pk for pk, *_ in stale]).update(
            status=status,
            run=run,
            claimed_at=claimed_at,
            sent_at=claimed_at if status == Status.SENT else None,
            attempts=F("attempts") + (1 if status == Status.SENT else 0),
            next_attempt_at=None,
            error="",
        )
    claimed = [Reminder(pk, task_id, due, attempts) for pk, task_id, due, attempts in stale]
    fresh = [task_id for task_id, _ in candidates if task_id not in taken]
    if fresh:
        claimed += _insert_claims(task_ids=fresh, run=run, claimed_at=claimed_at, status=status)
    return claimed


def _insert_claims(*, task_ids, run, claimed_at, status) -> list[Reminder]:
    """INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING: one statement, and the
    unique constraint decides every race. The SELECT re-checks that each task is
    still due, so a task completed or moved since selection is not claimed."""
    source = (
        Task.objects.filter(AWAITING_REMINDER, pk__in=task_ids)
        .order_by("due_at", "id")
        .values_list("id", "due_at")
    )
    select_sql, select_params = source.query.sql_with_params()
    table = connection.ops.quote_name(ReminderLog._meta.db_table)
    ops = connection.ops
    wall = ops.adapt_datetimefield_value(claimed_at)
    sent = status == Status.SENT
    run_id = ReminderLog._meta.get_field("run").get_db_prep_value(run.pk, connection)
    sql = (
        f"INSERT INTO {table} "
        "(task_id, due_at, status, run_id, claimed_at, sent_at, attempts, error, created_at) "
        f"SELECT src.id, src.due_at, %s, %s, %s, %s, %s, '', %s FROM ({select_sql}) src "
        "WHERE 1 = 1 "  # lets SQLite tell the upsert clause from a join's ON
        "ON CONFLICT (task_id, due_at) DO NOTHING "
        "RETURNING id, task_id, due_at"
    )
    params = (status, run_id, wall, wall if sent else None, 1 if sent else 0, wall)
    with connection.cursor() as cursor:
        cursor.execute(sql, params + tuple(select_params))
        rows = cursor.fetchall()
    return [Reminder(pk, task_id, _aware(due), 0) for pk, task_id, due in rows]


def _aware(value) -> datetime:
    # PostgreSQL returns aware datetimes; SQLite returns RETURNING values as text.
    if isinstance(value, str):
        value = parse_datetime(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


def mark_settled(*, task_ids: Sequence[int], policy: Policy) -> None:
    """3. Take settled tasks out of task_awaiting_reminder_idx.

    Copies due_at into reminded_due_at only where the reminder for the task's
    current due date is sent or has failed for good, so a task moved while its
    reminder was in flight stays due.
    """
    settled = ReminderLog.objects.filter(task=OuterRef("pk"), due_at=OuterRef("due_at")).filter(
        Q(status=Status.SENT) | Q(status=Status.FAILED, attempts__gte=policy.max_attempts)
    )
    Task.objects.filter(pk__in=task_ids).filter(Exists(settled)).update(reminded_due_at=F("due_at"))
