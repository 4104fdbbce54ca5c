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
from tasks_app.models import OPEN_AND_DATED, Task

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
    """Open tasks due in [window_start, window_end], both ends inclusive.

    Served by the partial index task_open_due_idx.
    """
    return Task.objects.filter(OPEN_AND_DATED, due_at__gte=window_start, due_at__lte=window_end)


def _takeable(policy: Policy) -> Q:
    """Rows a run may take over: failed ones due a retry, and stale claims."""
    return Q(
        status=Status.FAILED,
        attempts__lt=policy.max_attempts,
        next_attempt_at__lte=policy.now,
    ) | Q(status=Status.CLAIMED, claimed_at__lt=policy.stale_before)


def _held(policy: Policy) -> QuerySet[ReminderLog]:
    """An unsent row that keeps a task's reminder from being claimed now: a live
    claim, or a failure waiting for its retry or given up."""
    return (
        ReminderLog.objects.filter(task=OuterRef("pk"), due_at=OuterRef("due_at"))
        .exclude(status=Status.SENT)
        .exclude(_takeable(policy))
    )


def candidates_query(
    *,
    window_start: datetime,
    window_end: datetime,
    policy: Policy,
    after: tuple[datetime, int] | None,
    limit: int,
) -> QuerySet:
    """Up to `limit` due reminders after the keyset `after`, as (task_id, due_at) rows
    in (due_at, id) order: the one definition both claim paths and dry runs share."""
    start = window_start if after is None else after[0]
    # Both ranges start at the keyset, so each batch merges the two (due_at, id)
    # ordered indexes from there instead of from the window's start.
    sent = ReminderLog.objects.filter(
        task=OuterRef("pk"),
        due_at=OuterRef("due_at"),
        status=Status.SENT,
        due_at__gte=start,
        due_at__lte=window_end,
    )
    qs = due_tasks(window_start=start, window_end=window_end).filter(
        ~Exists(sent), ~Exists(_held(policy))
    )
    if after is not None:
        due, pk = after
        qs = qs.filter(Q(due_at__gt=due) | Q(due_at=due, pk__gt=pk))
    return qs.order_by("due_at", "id").values_list("id", "due_at")[:limit]


def next_candidates(**kwargs) -> list[tuple[int, datetime]]:
    return list(candidates_query(**kwargs))


@dataclass(frozen=True, slots=True)
class Batch:
    selected: int  # due reminders the batch tried to claim
    last: tuple[datetime, int] | None  # the keyset the next batch starts after
    claimed: list[Reminder]  # those this run now owns


def claim_batch(
    *,
    window_start: datetime,
    window_end: datetime,
    policy: Policy,
    after: tuple[datetime, int] | None,
    limit: int,
    run: ReminderRun,
    status: str,
) -> Batch:
    """Select the next batch of due reminders and claim them for `run`.

    Must run inside a transaction. Rows are written with `status`: `sent` when the
    channel delivers inside this transaction (_settle turns any that fail to
    `failed`), `claimed` otherwise. Candidates another run claimed in the meantime
    are not returned.
    """
    query = dict(
        window_start=window_start, window_end=window_end, policy=policy, after=after, limit=limit
    )
    if connection.vendor == "postgresql":
        return _claim_batch_in_one_statement(query, run=run, policy=policy, status=status)
    candidates = next_candidates(**query)
    if not candidates:
        return Batch(0, None, [])
    claimed = claim(candidates=candidates, run=run, policy=policy, status=status)
    return Batch(len(candidates), (candidates[-1][1], candidates[-1][0]), claimed)


# PostgreSQL: selection, takeover and insert in one round trip. Each
# data-modifying CTE sees the same snapshot; the unique constraint still decides
# every race (a concurrent claim makes the INSERT do nothing for that row, and a
# concurrent takeover makes the UPDATE re-check its condition).
_CLAIM_SQL = """
WITH cand AS MATERIALIZED ({candidates}),
took AS (
    UPDATE {log} AS l
    SET status = %s, run_id = %s, claimed_at = %s, sent_at = %s,
        attempts = l.attempts + %s, next_attempt_at = NULL, error = ''
    FROM cand
    WHERE l.task_id = cand.id AND l.due_at = cand.due_at
      AND ((l.status = %s AND l.attempts < %s AND l.next_attempt_at <= %s)
           OR (l.status = %s AND l.claimed_at < %s))  -- _takeable(), in SQL
    RETURNING l.id, l.task_id, l.due_at, l.attempts - %s AS prior
),
ins AS (
    INSERT INTO {log}
        (task_id, due_at, status, run_id, claimed_at, sent_at, attempts, error, created_at)
    SELECT cand.id, cand.due_at, %s, %s, %s, %s, %s, '', %s FROM cand
    ON CONFLICT (task_id, due_at) DO NOTHING
    RETURNING id, task_id, due_at, 0 AS prior
),
claimed AS (SELECT * FROM took UNION ALL SELECT * FROM ins)
SELECT id, task_id, due_at, prior FROM claimed
UNION ALL
(SELECT NULL, id, due_at, (SELECT count(*) FROM cand) FROM cand
 ORDER BY due_at DESC, id DESC LIMIT 1)
"""


def _claim_batch_in_one_statement(query, *, run, policy, status) -> Batch:
    candidates_sql, candidates_params = candidates_query(**query).query.sql_with_params()
    sql = _CLAIM_SQL.format(
        candidates=candidates_sql,
        log=connection.ops.quote_name(ReminderLog._meta.db_table),
    )
    at = timezone.now()
    sent_at, increment = (at, 1) if status == Status.SENT else (None, 0)
    params = (
        *candidates_params,
        *(status, run.pk, at, sent_at, increment),
        *(Status.FAILED, policy.max_attempts, policy.now),
        *(Status.CLAIMED, policy.stale_before, increment),
        *(status, run.pk, at, sent_at, increment, at),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # The one row without a reminder id describes the batch: its last candidate's
    # keyset and how many candidates it had.
    keyset = [row for row in rows if row[0] is None]
    if not keyset:
        return Batch(0, None, [])
    ((_, last_id, last_due, selected),) = keyset
    return Batch(
        selected,
        (last_due, last_id),
        [Reminder(pk, task_id, due, prior) for pk, task_id, due, prior in rows if pk is not None],
    )


def claim(
    *,
    candidates: Sequence[tuple[int, datetime]],
    run: ReminderRun,
    policy: Policy,
    status: str,
) -> list[Reminder]:
    """Claim the candidates for `run` (the path for SQLite); return those it now
    owns. Must run inside a transaction."""
    wanted = set(candidates)
    starts = min(due for _, due in candidates)
    ends = max(due for _, due in candidates)
    # Take over rows left by failures and dead runs. SQLite's IMMEDIATE transactions
    # (settings.py) run one batch at a time, so nothing races this read.
    stale = [
        (pk, task_id, due, attempts)
        for pk, task_id, due, attempts in ReminderLog.objects.filter(
            _takeable(policy),
            task_id__in=[task_id for task_id, _ in candidates],
            due_at__gte=starts,
            due_at__lte=ends,
        )
        .order_by("pk")
        .values_list("pk", "task_id", "due_at", "attempts")
        if (task_id, due) in wanted
    ]
    taken = {task_id for _, task_id, _, _ in stale}
    # A claim's age counts from this moment, not from the run's start: claims that a
    # long run makes late must not look stale to other runs while it delivers them.
    at = timezone.now()
    if stale:
        ReminderLog.objects.filter(pk__in=[pk for pk, *_ in stale]).update(
            status=status,
            run=run,
            claimed_at=at,
            sent_at=at if status == Status.SENT else None,
            attempts=F("attempts") + (1 if status == Status.SENT else 0),
            next_attempt_at=None,
            error="",
        )
    claimed = [Reminder(pk, task_id, due, attempts) for pk, task_id, due, attempts in stale]
    fresh = [task_id for task_id, _ in candidates if task_id not in taken]
    if fresh:
        claimed += _insert_claims(task_ids=fresh, run=run, at=at, status=status)
    return claimed


def _insert_claims(*, task_ids, run, at, status) -> list[Reminder]:
    """INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING: one statement, and the
    unique constraint decides every race. The SELECT re-checks that each task is
    still due, so a task completed or moved since selection is not claimed."""
    source = (
        Task.objects.filter(OPEN_AND_DATED, pk__in=task_ids)
        .order_by("due_at", "id")
        .values_list("id", "due_at")
    )
    select_sql, select_params = source.query.sql_with_params()
    table = connection.ops.quote_name(ReminderLog._meta.db_table)
    ops = connection.ops
    wall = ops.adapt_datetimefield_value(at)
    sent = status == Status.SENT
    run_id = ReminderLog._meta.get_field("run").get_db_prep_value(run.pk, connection)
    # Identifiers come from model metadata and the SELECT from Django's compiler;
    # every value is a parameter.
    sql = (
        f"INSERT INTO {table} "  # noqa: S608 (see above)
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
    return [Reminder(pk, task_id, aware(due), 0) for pk, task_id, due in rows]


def aware(value: datetime | str) -> datetime:
    """An aware datetime from a datetime or ISO-8601 text; naive means UTC.

    SQLite returns RETURNING values as text; django-q2 passes a run's slot as text.
    """
    if isinstance(value, str):
        value = parse_datetime(value)
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value
