"""The life of a ReminderRun: started, beating, finished, or found dead.

On PostgreSQL a live run holds a session advisory lock keyed on its id. The server
drops the lock the moment the run's connection goes (SIGKILL, OOM, host loss,
pg_terminate_backend), so any later run or status check can tell a dead run from a
slow one without waiting. On SQLite, which lives on one host, a run is dead once its
process is gone, or once its heartbeat is older than REMINDER_CLAIM_TIMEOUT_SECONDS.
"""

import logging
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from reminders_app import claims
from reminders_app.conf import settings
from reminders_app.models import ReminderLog, ReminderRun

logger = logging.getLogger(__name__)

Status = ReminderRun.Status


def _lock_key(run_id: uuid.UUID) -> int:
    return int.from_bytes(run_id.bytes[:8], "big", signed=True)


def _uses_advisory_locks() -> bool:
    return connection.vendor == "postgresql"


def start_run(
    *,
    trigger: str,
    window_start: datetime,
    window_end: datetime,
    scheduled_for: datetime | None,
    channel: str = "",
    parent: ReminderRun | None = None,
) -> ReminderRun:
    """Record a run (or a part of `parent`) started by this process, holding its lock."""
    started = timezone.now()
    run = ReminderRun(
        trigger=trigger,
        started_at=started,
        heartbeat_at=started,
        window_start=window_start,
        window_end=window_end,
        scheduled_for=scheduled_for,
        lag=started - scheduled_for if scheduled_for else None,
        hostname=socket.gethostname()[:255],
        pid=os.getpid(),
        worker=worker_name(),
        channel=channel,
        parent=parent,
    )
    if _uses_advisory_locks():
        # Taken before the row is visible, so no one can see the run without its lock.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_lock_key(run.id)])
    run.save(force_insert=True)
    return run


def start_parts(
    *, first_slice: tuple[datetime, datetime], **facts
) -> tuple[ReminderRun, ReminderRun]:
    """Record a run in parts and its first part, run by this process; return both.

    The run holds no lock of its own: it lives while a part does. Both rows appear
    in one transaction, so no one sees the run without a part.
    """
    with transaction.atomic(durable=True):
        run = ReminderRun.objects.create(
            started_at=timezone.now(),
            hostname=socket.gethostname()[:255],
            pid=os.getpid(),
            lag=timezone.now() - facts["scheduled_for"] if facts["scheduled_for"] else None,
            **facts,
        )
        start, end = first_slice
        part = start_run(**facts | {"window_start": start, "window_end": end}, parent=run)
    return run, part


def join_run(run_id, *, window: tuple[datetime, datetime]) -> ReminderRun | None:
    """Record a part of the run `run_id` over the slice `window`, run by this
    process; None if the run has ended, or another part has any of that slice (a
    part that started late finds it taken over by those that did not wait for it).
    What a part that died had may be taken again."""
    with transaction.atomic(durable=True):
        run = ReminderRun.objects.select_for_update().get(pk=run_id)
        start, end = window
        taken = run.parts.filter(window_start__lte=end, window_end__gte=start).exclude(
            status=Status.ABANDONED
        )
        if run.status != Status.RUNNING or taken.exists():
            return None
        return start_run(
            trigger=run.trigger,
            window_start=start,
            window_end=end,
            scheduled_for=run.scheduled_for,
            channel=run.channel,
            parent=run,
        )


def alive_or_ended(run: ReminderRun) -> list:
    """The ids of `run`'s whole run and its parts, but those that died (abandoned):
    what they tried is this run's, not to be tried again by it."""
    whole = run.parent_id or run.pk
    return list(
        ReminderRun.objects.filter(Q(pk=whole) | Q(parent_id=whole))
        .exclude(status=Status.ABANDONED)
        .values_list("pk", flat=True)
    )


def worker_name() -> str:
    """`host:pid` of this process, as a run's `worker` records it."""
    return f"{socket.gethostname()}:{os.getpid()}"[:300]


@dataclass(slots=True)
class Counts:
    """What a run (or one batch of it) did with the reminders it selected:
    selected = sent + skipped + failed + released + suppressed."""

    selected: int = 0
    sent: int = 0
    skipped: int = 0  # another run claimed them first, or took them over
    failed: int = 0
    released: int = 0  # handed back undelivered, for the next run
    suppressed: int = 0  # the channel chose not to deliver them

    def __iadd__(self, other: "Counts") -> "Counts":
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))
        return self

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def of(cls, run: ReminderRun) -> "Counts":
        """The counts a run's record holds."""
        return cls(**{name: getattr(run, name) for name in COUNT_FIELDS})


# The run's counts, in their order: the fields of ReminderRun that Counts mirrors.
COUNT_FIELDS = tuple(field.name for field in fields(Counts))


def record_batch(run: ReminderRun, counts: Counts) -> None:
    """Add a batch's counts to the run; called inside the batch's transaction so the
    record of a killed run matches what it committed."""
    ReminderRun.objects.filter(pk=run.pk).update(
        **{name: F(name) + value for name, value in counts.as_dict().items()},
        heartbeat_at=timezone.now(),
    )


def finish_run(run: ReminderRun, *, status: str, error: str = "") -> ReminderRun:
    """Record the run's end and drop its lock. A part that ends its run's last
    running part ends the run too (run_in_parts_ended)."""
    with transaction.atomic():
        if run.parent_id:
            # Parts end one at a time: the last to end sees all the others ended.
            ReminderRun.objects.select_for_update().filter(pk=run.parent_id).first()
        ReminderRun.objects.filter(pk=run.pk).update(
            status=status, error=error[:200], finished_at=timezone.now()
        )
        if run.parent_id:
            _end_run_in_parts(run.parent_id, closer_status=status)
    if _uses_advisory_locks():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(run.id)])
    run.refresh_from_db()
    return run


def failures(run_id) -> tuple[int, int]:
    """How many of a run's failed reminders (its parts' included) a later run
    retries, and how many failed for good (permanent failures, and those out of
    attempts)."""
    given_up = ReminderLog.objects.given_up_q(max_attempts=settings.REMINDER_MAX_ATTEMPTS)
    counts = (
        ReminderLog.objects.filter(Q(run_id=run_id) | Q(run__parent_id=run_id))
        .filter(status=ReminderLog.Status.FAILED)
        .aggregate(failed=Count("pk"), given_up=Count("pk", filter=given_up))
    )
    return counts["failed"] - counts["given_up"], counts["given_up"]


def _end_run_in_parts(run_id, *, closer_status: str | None) -> bool:
    """End the run `run_id` if none of its parts runs any more, in the caller's
    transaction, which holds its row: status from its parts, counts their sum.

    `closer_status`: the status of the part that ended last, which took over the
    work of the parts that died before it (None: every part died). Returns whether
    the run ended.
    """
    parts = ReminderRun.objects.filter(parent_id=run_id)
    statuses = set(parts.values_list("status", flat=True))
    if Status.RUNNING in statuses:
        return False
    if Status.FAILED in statuses:
        status = Status.FAILED
    elif Status.INTERRUPTED in statuses:
        status = Status.INTERRUPTED
    elif closer_status == Status.SUCCEEDED:
        status = Status.SUCCEEDED
    else:
        status = Status.ABANDONED
    error = (
        parts.exclude(error="").exclude(status=Status.ABANDONED).values_list("error", flat=True)
    ).first() or ("every part's process died" if status == Status.ABANDONED else "")
    sums = parts.aggregate(**{name: Sum(name, default=0) for name in COUNT_FIELDS})
    ended = ReminderRun.objects.filter(pk=run_id, status=Status.RUNNING).update(
        status=status, error=error[:200], finished_at=timezone.now(), **sums
    )
    if ended:
        logger.info(
            "run_in_parts_ended",
            extra={
                "event": "run_in_parts_ended",
                "run_id": str(run_id),
                "status": status,
                "parts": parts.count(),
                **sums,
            },
        )
    return bool(ended)


def dead_runs(running: Iterable[ReminderRun]) -> list[ReminderRun]:
    """The runs among `running` whose process has died. Reads only.

    PostgreSQL: a live run's session holds its advisory lock (pg_locks lists it).
    SQLite: the run's process is gone from this host, or its heartbeat is older
    than REMINDER_CLAIM_TIMEOUT_SECONDS. A run in parts has no process of its own:
    it is dead when none of its running parts is alive.
    """
    running = list(running)
    if not running:
        return []
    parts = list(
        ReminderRun.objects.filter(parent__in=[run.pk for run in running]).only(
            "id", "parent_id", "status", "heartbeat_at", "hostname", "pid"
        )
    )
    with_parts = {part.parent_id for part in parts}
    alive_parts = _alive_runs([part for part in parts if part.status == Status.RUNNING])
    alive_parents = {part.parent_id for part in alive_parts}
    alive = set(map(id, _alive_runs([run for run in running if run.pk not in with_parts])))
    return [
        run
        for run in running
        if (run.pk not in alive_parents if run.pk in with_parts else id(run) not in alive)
    ]


def _alive_runs(runs: list[ReminderRun]) -> list[ReminderRun]:
    """Those of `runs` (each run by a process of its own) whose process lives."""
    if not runs:
        return []
    if _uses_advisory_locks():
        with connection.cursor() as cursor:
            cursor.execute(_HELD_ADVISORY_LOCKS)
            held = {key for (key,) in cursor.fetchall()}
        return [run for run in runs if _lock_key(run.pk) in held]
    stale_before = timezone.now() - timedelta(seconds=settings.REMINDER_CLAIM_TIMEOUT_SECONDS)
    host = socket.gethostname()[:255]
    return [
        run
        for run in runs
        if not (run.heartbeat_at < stale_before or (run.hostname == host and not _alive(run.pid)))
    ]


# Session advisory locks on one bigint key show in pg_locks as its high and low
# 32 bits (classid, objid) with objsubid 1, for the database that holds them.
_HELD_ADVISORY_LOCKS = """
SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1 AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def abandon_dead_runs(*, claim_timeout: timedelta, current: ReminderRun | None = None) -> int:
    """Record runs whose process died as `abandoned` and hand their claims back, so
    what they were delivering goes out at once (with the parts of their run still
    going, or the next run), not after the claim timeout; end a run in parts whose
    parts have all ended. Returns how many runs (and parts) it recorded.

    Every run calls it as it starts and ends, its parts every few seconds while they
    work, and so does `manage.py abandon_dead_runs`. `current` is the caller's own
    run, which is alive.
    """
    running = ReminderRun.objects.filter(status=Status.RUNNING)
    if current is not None:
        running = running.exclude(pk=current.pk)
    dead = dead_runs(running)
    in_parts = set(
        ReminderRun.objects.filter(parent__in=[run.pk for run in dead]).values_list(
            "parent_id", flat=True
        )
    )
    ended = 0
    for run in dead:
        if run.pk in in_parts:
            continue  # a run in parts: ended below, once its parts are
        if _mark_abandoned(run.pk):
            ended += 1
            if released := claims.release_runs([run.pk], claim_timeout=claim_timeout):
                record_batch(run, Counts(released=released))
    for run_id in in_parts | {run.parent_id for run in dead if run.parent_id}:
        with transaction.atomic():
            if ReminderRun.objects.select_for_update().filter(pk=run_id, status=Status.RUNNING):
                ended += _end_run_in_parts(run_id, closer_status=None)
    return ended


def _alive(pid: int | None) -> bool:
    """Whether a process with this id runs on this host (SQLite: one host)."""
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _mark_abandoned(run_id) -> int:
    """Mark one run abandoned, unless it finished meanwhile (the UPDATE re-checks)."""
    count = ReminderRun.objects.filter(pk=run_id, status=Status.RUNNING).update(
        status=Status.ABANDONED, finished_at=timezone.now(), error="the run's process died"
    )
    if count:
        logger.warning("run_abandoned", extra={"event": "run_abandoned", "run_id": str(run_id)})
    return count
