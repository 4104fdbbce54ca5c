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

from django.db import connection
from django.db.models import Count, F
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
) -> ReminderRun:
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
        channel=channel,
    )
    if _uses_advisory_locks():
        # Taken before the row is visible, so no one can see the run without its lock.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_lock_key(run.id)])
    run.save(force_insert=True)
    return run


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
    ReminderRun.objects.filter(pk=run.pk).update(
        status=status, error=error[:200], finished_at=timezone.now()
    )
    if _uses_advisory_locks():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(run.id)])
    run.refresh_from_db()
    return run


def failures(run_id) -> tuple[int, int]:
    """How many of a run's failed reminders a later run retries, and how many failed
    for good (permanent failures, and those out of attempts)."""
    given_up = ReminderLog.objects.given_up_q(max_attempts=settings.REMINDER_MAX_ATTEMPTS)
    counts = ReminderLog.objects.filter(run_id=run_id, status=ReminderLog.Status.FAILED).aggregate(
        failed=Count("pk"), given_up=Count("pk", filter=given_up)
    )
    return counts["failed"] - counts["given_up"], counts["given_up"]


def dead_runs(running: Iterable[ReminderRun]) -> list[ReminderRun]:
    """The runs among `running` whose process has died. Reads only.

    PostgreSQL: a live run's session holds its advisory lock (pg_locks lists it).
    SQLite: the run's process is gone from this host, or its heartbeat is older
    than REMINDER_CLAIM_TIMEOUT_SECONDS.
    """
    running = list(running)
    if not running:
        return []
    if _uses_advisory_locks():
        with connection.cursor() as cursor:
            cursor.execute(_HELD_ADVISORY_LOCKS)
            held = {key for (key,) in cursor.fetchall()}
        return [run for run in running if _lock_key(run.pk) not in held]
    stale_before = timezone.now() - timedelta(seconds=settings.REMINDER_CLAIM_TIMEOUT_SECONDS)
    host = socket.gethostname()[:255]
    return [
        run
        for run in running
        if run.heartbeat_at < stale_before or (run.hostname == host and not _alive(run.pid))
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
    what they were delivering goes out with the next run at once, not after the claim
    timeout; return how many runs.

    Every run calls it as it starts and ends, and so does `manage.py
    abandon_dead_runs`. `current` is the caller's own run, which is alive.
    """
    running = ReminderRun.objects.filter(status=Status.RUNNING)
    if current is not None:
        running = running.exclude(pk=current.pk)
    abandoned = [run.pk for run in dead_runs(running) if _mark_abandoned(run.pk)]
    claims.release_runs(abandoned, claim_timeout=claim_timeout)
    return len(abandoned)


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
