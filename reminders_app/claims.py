"""The one writer of the reminder history: every write to ReminderLog is here.

A run owns a reminder only if its INSERT of the row succeeded, or if its conditional
UPDATE took over a row that a dead run or an earlier failure left behind: the unique
constraint `reminder_once_per_recipient` on (task, recipient, due_at) arbitrates,
whatever else runs at the same time. A takeover only ever pairs a task with a person
the selection names now, so a claim never reaches someone no longer on the task.
After delivery the run that claimed it records the outcome: sent, failed (to be retried, or given
up), suppressed (not to be sent) or released (handed back undelivered).

The claim SQL is generated: its columns come from the model's metadata, its
takeover condition is compiled from ReminderLogQuerySet.takeable_q(), and every
value is a named parameter. A field added to ReminderLog that the claim does not
know about stops the claim (and fails tests/test_claims.py) instead of being left
at whatever the database defaults it to.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.db import connection
from django.db.models import F
from django.utils import timezone

from reminders_app.channels import DeliveryError, Reminder, Suppressed
from reminders_app.models import ReminderLog, ReminderRun
from reminders_app.plan import MAX_RETRY_DELAY, Keyset, RunPlan, aware
from reminders_app.selection import due_reminders, next_batch
from reminders_app.sql import compiled_where, db_datetime, named, quoted_columns

Status = ReminderLog.Status
RETRY_BACKOFF = timedelta(minutes=5)

# What a new claim writes in each column: SQL over the candidate row `cand`
# (id, recipient, due_at) and the named parameters of claim_batch().
INSERTED = {
    "task_id": "cand.id",
    "recipient_id": "cand.recipient",
    "due_at": "cand.due_at",
    "status": "%(status)s",
    "run_id": "%(run_id)s",
    "claimed_at": "%(at)s",
    "sent_at": "%(sent_at)s",
    "attempts": "%(attempts)s",
    "next_attempt_at": "NULL",
    "error": "''",
    "message_id": "''",
    "created_at": "%(at)s",
}
# What taking a row over rewrites; {column} stands for the row's current value.
TAKEN_OVER = {
    "status": "%(status)s",
    "run_id": "%(run_id)s",
    "claimed_at": "%(at)s",
    "sent_at": "%(sent_at)s",
    "attempts": "{column} + %(attempts)s",
    "next_attempt_at": "NULL",
    "error": "''",
    "message_id": "''",
}
# What a takeover keeps: the reminder's identity and when it was first claimed.
KEPT_ON_TAKEOVER = {"id", "task_id", "recipient_id", "due_at", "created_at"}


class UnknownColumn(RuntimeError):
    """ReminderLog has a field the claim SQL does not write."""


@dataclass(frozen=True, slots=True)
class Batch:
    selected: int  # due reminders the batch tried to claim
    last: Keyset | None  # the keyset the next batch starts after
    claimed: list[Reminder]  # those this run now owns


def claim_batch(
    plan: RunPlan, *, after: Keyset | None, run: ReminderRun, sent: bool, **which
) -> Batch:
    """Select the next batch of due reminders and claim them for `run`.

    Must run inside a transaction. With `sent`, rows are written `sent` (the channel
    delivers inside this transaction, and mark_failed() turns any that fail to
    `failed`); otherwise `claimed`. Candidates another run claimed in the meantime
    are not returned. `which`: selection.due_reminders' choice of reminders; with
    `people` (a digest phase's), every due reminder of those people at once.
    """
    at = timezone.now()  # a claim's age counts from now, not from the run's start
    params = {
        "status": Status.SENT if sent else Status.CLAIMED,
        "run_id": ReminderLog._meta.get_field("run").get_db_prep_value(run.pk, connection),
        "at": db_datetime(at),
        "sent_at": db_datetime(at) if sent else None,
        "attempts": 1 if sent else 0,
    }
    take, take_params = named(
        *compiled_where(ReminderLog, ReminderLog.objects.takeable_q(**plan.policy)),
        prefix="take",
    )
    params |= take_params
    if connection.vendor == "postgresql":
        return _claim_in_one_statement(plan, after=after, params=params, take=take, which=which)
    return _claim_in_steps(plan, after=after, params=params, take=take, which=which)


# PostgreSQL: selection, takeover and insert in one round trip. The candidates'
# columns are named (id, recipient, due_at) whatever the task model calls them. Each
# data-modifying CTE sees the same snapshot; the unique constraint still decides every
# race (a concurrent claim makes the INSERT do nothing for that row, and a concurrent
# takeover makes the UPDATE re-check its condition). The last row describes the
# batch: its last candidate's keyset and how many candidates it had.
_ONE_STATEMENT = """
WITH cand(id, recipient, due_at) AS MATERIALIZED ({candidates}),
took AS ({update}),
ins AS ({insert})
SELECT * FROM took UNION ALL SELECT * FROM ins
UNION ALL
(SELECT NULL, id, recipient, due_at, (SELECT count(*) FROM cand) FROM cand
 ORDER BY due_at DESC, id DESC, recipient DESC LIMIT 1)
"""


def _claim_in_one_statement(plan, *, after, params, take, which) -> Batch:
    limit = None if which.get("people") is not None else plan.batch_size
    candidates, candidate_params = due_reminders(plan, after=after, limit=limit, **which)
    update, insert = _claim_sql(take)
    sql = _ONE_STATEMENT.format(candidates=candidates, update=update, insert=insert)
    rows = _fetch(sql, params | candidate_params)
    claimed = [
        Reminder(pk, task, person, due, prior) for pk, task, person, due, prior in rows if pk
    ]
    keyset = [row[1:] for row in rows if row[0] is None]
    if not keyset:
        return Batch(0, None, [])
    ((last_task, last_person, last_due, selected),) = keyset
    return Batch(selected, Keyset(last_due, last_task, last_person), claimed)


def _claim_in_steps(plan, *, after, params, take, which) -> Batch:
    """SQLite: the same UPDATE and INSERT, over the candidates as a VALUES list.
    SQLite's IMMEDIATE transactions (settings.py) run one batch at a time, so
    nothing changes between the steps."""
    candidates = next_batch(plan, after=after, **which)
    if not candidates:
        return Batch(0, None, [])
    values = ", ".join(
        f"(%(c{i}_task)s, %(c{i}_person)s, %(c{i}_due)s)" for i in range(len(candidates))
    )
    for i, (task_id, person_id, due) in enumerate(candidates):
        params[f"c{i}_task"] = task_id
        params[f"c{i}_person"] = person_id
        params[f"c{i}_due"] = db_datetime(due)
    with_cand = f"WITH cand(id, recipient, due_at) AS (VALUES {values}) "
    update, insert = _claim_sql(take)
    rows = _fetch(with_cand + update, params) + _fetch(with_cand + insert, params)
    claimed = [
        Reminder(pk, task, person, aware(due), prior) for pk, task, person, due, prior in rows
    ]
    last_task, last_person, last_due = candidates[-1]
    return Batch(len(candidates), Keyset(last_due, last_task, last_person), claimed)


def _claim_sql(take: str) -> tuple[str, str]:
    """The takeover UPDATE and the claiming INSERT, each returning
    (id, task_id, recipient_id, due_at, attempts before this one) per row claimed."""
    log, col = _columns()
    assignments = ", ".join(
        f"{col[name]} = {value.format(column=f'{log}.{col[name]}')}"
        for name, value in TAKEN_OVER.items()
    )
    returning = ", ".join(f"{log}.{col[name]}" for name in ("id", "task_id", "recipient_id"))
    update = (
        f"UPDATE {log} SET {assignments} FROM cand "  # noqa: S608 - names from model metadata
        f"WHERE {log}.{col['task_id']} = cand.id AND {log}.{col['recipient_id']} = cand.recipient "
        f"AND {log}.{col['due_at']} = cand.due_at AND ({take}) "
        f"RETURNING {returning}, {log}.{col['due_at']}, {log}.{col['attempts']} - %(attempts)s"
    )
    insert = (
        f"INSERT INTO {log} ({', '.join(col[name] for name in INSERTED)}) "  # noqa: S608
        f"SELECT {', '.join(INSERTED.values())} FROM cand "
        "WHERE true "  # lets SQLite tell the upsert clause from a join's ON
        f"ON CONFLICT ({col['task_id']}, {col['recipient_id']}, {col['due_at']}) DO NOTHING "
        f"RETURNING {col['id']}, {col['task_id']}, {col['recipient_id']}, {col['due_at']}, 0"
    )
    return update, insert


@cache
def _columns() -> tuple[str, dict[str, str]]:
    """The log's quoted table name and its quoted column names by attribute name;
    UnknownColumn when a field is missing from INSERTED or TAKEN_OVER."""
    fields = {field.attname for field in ReminderLog._meta.concrete_fields}
    unknown = (fields - {ReminderLog._meta.pk.attname} - INSERTED.keys()) | (
        fields - KEPT_ON_TAKEOVER - TAKEN_OVER.keys()
    )
    if unknown:
        raise UnknownColumn(
            f"reminders_app.claims does not know what to write in {sorted(unknown)}"
        )
    return quoted_columns(ReminderLog)


def _fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and _on_psycopg3():
            # psycopg's own timestamptz loader, compiled: Django's is pure Python and
            # parsing each claim's due date took a third of the job's own time at
            # 100,000 reminders. Both give aware datetimes in the session's UTC.
            # (psycopg2 parses timestamps in C already.)
            from psycopg.types.datetime import TimestamptzLoader

            cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.execute(sql, params)
        return cursor.fetchall()


def _on_psycopg3() -> bool:
    """Whether Django's PostgreSQL backend runs on psycopg 3 (else psycopg2)."""
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3


# --- outcomes ---------------------------------------------------------------------


def mark_sent(
    run: ReminderRun, reminders: Sequence[Reminder], message_ids: Mapping[int, str] | None = None
) -> list[Reminder]:
    """Record claimed reminders as delivered; return those this run still owned.
    `message_ids`: the Message-ID each of a digest's rows records, by row id (one
    UPDATE per digest, one for all the rest).

    A run slower than the claim timeout may have had some taken over by another
    run, which then records them: they are left out.
    """
    if not reminders:
        return []
    message_ids = message_ids or {}
    by_message = {}
    for reminder in reminders:
        by_message.setdefault(message_ids.get(reminder.log_id, ""), []).append(reminder.log_id)
    at, updated = timezone.now(), 0
    for message_id, ids in by_message.items():
        updated += ReminderLog.objects.filter(pk__in=ids, run=run, status=Status.CLAIMED).update(
            status=Status.SENT, sent_at=at, attempts=F("attempts") + 1, message_id=message_id
        )
    if updated == len(reminders):
        return list(reminders)
    ours = ReminderLog.objects.filter(pk__in=[r.log_id for r in reminders], run=run)
    still_ours = set(ours.filter(status=Status.SENT).values_list("pk", flat=True))
    return [r for r in reminders if r.log_id in still_ours]


def mark_failed(
    run: ReminderRun, failures: Sequence[tuple[Reminder, BaseException]], plan: RunPlan
) -> int:
    """Record failed deliveries: retried later with backoff, or given up when
    permanent or after `plan.max_attempts`. Returns how many rows this run still
    owned."""
    failed = 0
    for reminder, exc in failures:
        attempts = reminder.attempts + 1
        permanent = isinstance(exc, DeliveryError) and exc.permanent
        give_up = permanent or attempts >= plan.max_attempts
        failed += ReminderLog.objects.filter(pk=reminder.log_id, run=run).update(
            status=Status.FAILED,
            sent_at=None,
            attempts=attempts,
            error=error_text(exc),
            next_attempt_at=None if give_up else plan.now + retry_delay(attempts),
        )
    return failed


def mark_suppressed(run: ReminderRun, suppressions: Sequence[tuple[Reminder, Suppressed]]) -> int:
    """Record reminders the channel chose not to deliver (a recipient who opted out, an
    address that bounced), each with its reason as its error: settled, never retried,
    no attempt spent. One update per reason. Returns how many this run still owned."""
    by_reason: dict[str, list[int]] = {}
    for reminder, why in suppressions:
        by_reason.setdefault(why.reason[:200], []).append(reminder.log_id)
    return sum(
        ReminderLog.objects.filter(
            pk__in=ids, run=run, status__in=[Status.CLAIMED, Status.SENT]
        ).update(status=Status.SUPPRESSED, sent_at=None, next_attempt_at=None, error=reason)
        for reason, ids in by_reason.items()
    )


def release(
    run: ReminderRun, reminders: Sequence[Reminder], plan: RunPlan, *, claimed_sent: bool = False
) -> int:
    """Hand undelivered claims back without spending an attempt: dated back past the
    claim timeout, any later run takes them over at once. Returns how many.

    `claimed_sent`: the claim wrote them `sent` in the caller's transaction (a
    transactional channel), counting an attempt; that is undone too.
    """
    if not reminders:
        return 0
    if claimed_sent:
        return sum(
            _hand_back(
                ReminderLog.objects.filter(pk=r.log_id, run=run, status=Status.SENT),
                claim_timeout=plan.claim_timeout,
                status=Status.CLAIMED,
                sent_at=None,
                attempts=r.attempts,
            )
            for r in reminders
        )
    ours = ReminderLog.objects.filter(
        pk__in=[r.log_id for r in reminders], run=run, status=Status.CLAIMED
    )
    return _hand_back(ours, claim_timeout=plan.claim_timeout)


def release_runs(run_ids: Sequence, *, claim_timeout: timedelta) -> int:
    """Hand back every live claim of these runs: runs known to be dead (their
    process or its connection is gone), or a run ending with claims it could not
    release. The next run takes them over at once instead of after the claim
    timeout. Returns how many."""
    if not run_ids:
        return 0
    # Claims older than the timeout are anyone's already (released ones included).
    live = ReminderLog.objects.filter(
        run_id__in=run_ids,
        status=Status.CLAIMED,
        claimed_at__gte=timezone.now() - claim_timeout,
    )
    return _hand_back(live, claim_timeout=claim_timeout)


def _hand_back(claims, *, claim_timeout: timedelta, **columns) -> int:
    """Date claims back past the claim timeout (and write `columns`): any later run
    takes them over at once, and no attempt is spent."""
    return claims.update(
        claimed_at=timezone.now() - claim_timeout - timedelta(seconds=1), **columns
    )


def retry_delay(attempts: int) -> timedelta:
    """Wait before retry number `attempts`: the next run retries a first failure,
    then the wait doubles from RETRY_BACKOFF, up to MAX_RETRY_DELAY."""
    if attempts <= 1:
        return timedelta(0)
    # 2**9 * 5 minutes is past a day: no bigger power is needed (or representable
    # for any number of attempts).
    return min(RETRY_BACKOFF * 2 ** min(attempts - 2, 9), MAX_RETRY_DELAY)


def error_text(exc: BaseException) -> str:
    """What a failed row keeps: a classified failure's class and code (`permanent:
    smtp 550`), else the exception's type; never its message, which may quote task
    data, an address or a server's text."""
    if isinstance(exc, DeliveryError):
        return f"{'permanent' if exc.permanent else 'temporary'}: {exc.code}"[:200]
    cls = type(exc)
    module = "" if cls.__module__ == "builtins" else f"{cls.__module__}."
    return f"{module}{cls.__qualname__}"[:200]
