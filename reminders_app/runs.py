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
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import F
from django.utils import timezone

from reminders_app.models import ReminderRun

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
    )
    if _uses_advisory_locks():
        # Taken before the row is visible, so no one can see the run without its lock.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_lock_key(run.id)])
    run.save(force_insert=True)
    return run


def record_batch(run: ReminderRun, *, selected: int, sent: int, skipped: int, failed: int):
    """Add a batch's counts to the run; called inside the batch's transaction so the
    record of a killed run matches what it committed."""
    ReminderRun.objects.filter(pk=run.pk).update(
        selected=F("selected") + selected,
        sent=F("sent") + sent,
        skipped=F("skipped") + skipped,
        failed=F("failed") + failed,
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


def reap_dead_runs(*, claim_timeout: timedelta, current: ReminderRun | None = None) -> int:
    """Mark runs whose process died as `abandoned`; return how many.

    `current` is the caller's own run: its lock is held by this very session, and
    PostgreSQL lets a session take its own lock again, so it must be left out.
    """
    reaped = 0
    running = ReminderRun.objects.filter(status=Status.RUNNING)
    if current is not None:
        running = running.exclude(pk=current.pk)
    if _uses_advisory_locks():
        for run_id in running.values_list("pk", flat=True):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(run_id)])
                (dead,) = cursor.fetchone()
                if not dead:
                    continue
                try:
                    reaped += _abandon(run_id)
                finally:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(run_id)])
    else:
        stale_before = timezone.now() - claim_timeout
        host = socket.gethostname()[:255]
        for run_id, hostname, pid, beat in running.values_list(
            "pk", "hostname", "pid", "heartbeat_at"
        ):
            if beat < stale_before or (hostname == host and not _alive(pid)):
                reaped += _abandon(run_id)
    return reaped


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


def _abandon(run_id) -> int:
    count = ReminderRun.objects.filter(pk=run_id, status=Status.RUNNING).update(
        status=Status.ABANDONED, finished_at=timezone.now(), error="the run's process died"
    )
    if count:
        logger.warning("run_abandoned", extra={"event": "run_abandoned", "run_id": str(run_id)})
    return count
