"""The reminder job: one function that the django-q2 schedule and the
`send_reminders` command both call."""

import logging
import queue
import signal
import threading
import traceback
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from reminders_app import runs
from reminders_app.channels import Channel, get_channel
from reminders_app.models import ReminderLog, ReminderRun
from reminders_app.selection import Batch, Policy, aware, claim_batch, next_candidates

logger = logging.getLogger(__name__)

Status = ReminderLog.Status
RETRY_BACKOFF = timedelta(minutes=5)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def process_reminders(
    *,
    now: datetime | None = None,
    window_hours: float | None = None,
    dry_run: bool = False,
    trigger: str = "schedule",
    scheduled_for: datetime | str | None = None,
) -> dict:
    """Send every reminder due in [now, now + window_hours]; return a summary.

    `scheduled_for` is the slot a scheduled run was meant for (django-q2 passes it
    through the schedule's intended_date_kwarg); the run stores its lag behind it.
    """
    wall_started = timezone.now()
    now = now or wall_started
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    if window_hours is None:
        window_hours = settings.REMINDER_WINDOW_HOURS
    if not window_hours > 0:
        raise ValueError("window_hours must be positive")
    window_start, window_end = now, now + timedelta(hours=window_hours)
    policy = Policy(
        now=now,
        wall_now=wall_started,
        claim_timeout=timedelta(seconds=settings.REMINDER_CLAIM_TIMEOUT_SECONDS),
        max_attempts=settings.REMINDER_MAX_ATTEMPTS,
    )
    summary = {
        "run_id": None,
        "selected": 0,
        "sent": 0,
        "skipped": 0,
        "failed": 0,
        "window_start": window_start.isoformat(),
        "window_end": window_end.isoformat(),
    }
    if dry_run:
        task_ids = list(_dry_run_ids(window_start, window_end, policy))
        return summary | {"selected": len(task_ids), "task_ids": task_ids}

    channel = get_channel()
    runs.reap_dead_runs(claim_timeout=policy.claim_timeout)
    run = runs.start_run(
        trigger=trigger,
        window_start=window_start,
        window_end=window_end,
        scheduled_for=aware(scheduled_for) if scheduled_for else None,
    )
    summary["run_id"] = str(run.pk)
    log_context = {"run_id": summary["run_id"]}
    logger.info(
        "run_started",
        extra={
            "event": "run_started",
            **log_context,
            "trigger": trigger,
            "window_start": summary["window_start"],
            "window_end": summary["window_end"],
        },
    )
    status, error = ReminderRun.Status.SUCCEEDED, ""
    sent_lines = SentLines(run_id=summary["run_id"])
    try:
        with _stop_on_signals() as stop:
            after = None
            while not stop.is_set():
                selected, after = _process_batch(
                    window_start=window_start,
                    window_end=window_end,
                    after=after,
                    run=run,
                    channel=channel,
                    policy=policy,
                    summary=summary,
                    sent_lines=sent_lines,
                    stop=stop,
                )
                if selected < settings.REMINDER_BATCH_SIZE:
                    break
            if stop.is_set():
                status, error = ReminderRun.Status.INTERRUPTED, "stopped by a signal"
        # Again at the end: a run killed just before this one started may have
        # still held its lock then.
        runs.reap_dead_runs(claim_timeout=policy.claim_timeout, current=run)
    except BaseException as exc:
        status, error = ReminderRun.Status.FAILED, type(exc).__name__
        raise
    finally:
        sent_lines.close()  # the run's finish time covers writing its lines
        _finish(run, status=status, error=error, summary=summary)
    return summary | {"status": status}


def _dry_run_ids(window_start, window_end, policy):
    """The task ids a real run would claim now, without claiming them."""
    after, limit = None, settings.REMINDER_BATCH_SIZE
    while True:
        batch = next_candidates(
            window_start=window_start,
            window_end=window_end,
            policy=policy,
            after=after,
            limit=limit,
        )
        yield from (task_id for task_id, _ in batch)
        if len(batch) < limit:
            return
        after = batch[-1][1], batch[-1][0]


def _process_batch(
    *, window_start, window_end, after, run, channel, policy, summary, sent_lines, stop
):
    """Claim, deliver and settle one batch; add its counts to `summary` and return
    how many due reminders it selected and the keyset to continue after.

    A transactional channel delivers inside the claiming transaction: the batch
    commits whole or not at all. Any other channel gets its claims committed first,
    so a run that dies mid-delivery leaves claims a later run can take over; a run
    asked to stop (`stop`) ends its delivery early and releases the claims it did
    not deliver, so the next run takes them at once.
    """
    query = dict(
        window_start=window_start,
        window_end=window_end,
        policy=policy,
        after=after,
        limit=settings.REMINDER_BATCH_SIZE,
        run=run,
    )
    if channel.transactional:
        with transaction.atomic():
            batch = claim_batch(**query, status=Status.SENT)
            sent, failures = [], []
            _deliver(batch.claimed, channel=channel, run=run, sent=sent, failures=failures)
            sent, counts = _settle(batch, sent, failures, run=run, policy=policy, pending=False)
    else:
        with transaction.atomic():
            batch = claim_batch(**query, status=Status.CLAIMED)
        sent, failures = [], []
        try:
            _deliver(
                batch.claimed, channel=channel, run=run, sent=sent, failures=failures, stop=stop
            )
        finally:
            # Even when delivery is cut short (a timeout raised inside the channel),
            # what went out is recorded, so no later run sends it again.
            with transaction.atomic():
                sent, counts = _settle(batch, sent, failures, run=run, policy=policy, pending=True)
    for key, value in counts.items():
        summary[key] += value
    # Logged once committed, so every line stands for a row in the database.
    sent_lines.add(sent)
    return batch.selected, batch.last


class SentLines:
    """Writes a run's `reminder_sent` log lines on a thread of its own.

    A large run sends a hundred thousand reminders, one log line each; making and
    formatting those records on the job's thread would add seconds to it. This
    thread writes them while the job waits on the database. close() returns once
    every line is written.
    """

    def __init__(self, *, run_id: str):
        self.run_id = run_id
        self.batches = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._write, name="reminder-sent-lines")
        self.thread.start()

    def add(self, reminders) -> None:
        if reminders:
            self.batches.put(reminders)

    def close(self) -> None:
        self.batches.put(None)
        self.thread.join()

    def _write(self) -> None:
        while (reminders := self.batches.get()) is not None:
            for reminder in reminders:
                logger.info(
                    "reminder_sent",
                    extra={
                        "event": "reminder_sent",
                        "task_id": reminder.task_id,
                        "run_id": self.run_id,
                        "due_at": reminder.due_at.isoformat(),
                        "reminder_id": reminder.log_id,
                    },
                )


def _deliver(claimed, *, channel: Channel, run, sent: list, failures: list, stop=None) -> None:
    """Hand each reminder to the channel, appending it to `sent` or, with its error,
    to `failures`: an error stays with its reminder. Ends early once `stop` is set."""
    for reminder in claimed:
        if stop is not None and stop.is_set():
            return
        try:
            channel.deliver(reminder)
        except DatabaseError:
            raise  # the database is gone or the transaction is broken: stop the run
        except Exception as exc:
            failures.append((reminder, exc))
            # No exc_info: a channel's exception message may quote task content.
            logger.error(
                "reminder_failed",
                extra={
                    "event": "reminder_failed",
                    "task_id": reminder.task_id,
                    "run_id": str(run.pk),
                    "due_at": reminder.due_at.isoformat(),
                    "reminder_id": reminder.log_id,
                    "attempt": reminder.attempts + 1,
                    "error": _error_name(exc),
                    "stack": "".join(traceback.format_tb(exc.__traceback__)),
                },
            )
        else:
            sent.append(reminder)


def _settle(batch: Batch, sent, failures, *, run, policy: Policy, pending: bool):
    """Record each outcome and count the batch; return the reminders sent and the
    counts.

    `pending` rows were claimed before delivery and are marked sent here; the others
    were written `sent` by the claim itself.
    """
    if pending and sent:
        ours = ReminderLog.objects.filter(pk__in=[r.log_id for r in sent], run=run)
        updated = ours.filter(status=Status.CLAIMED).update(
            status=Status.SENT, sent_at=timezone.now(), attempts=F("attempts") + 1
        )
        if updated < len(sent):
            # This batch outlived its claims (slower than the claim timeout) and
            # another run took some over: that run records them, not this one.
            still_ours = set(ours.values_list("pk", flat=True))
            sent = [r for r in sent if r.log_id in still_ours]
    if pending:
        _release_undelivered(batch, sent, failures, run=run, policy=policy)
    failed = 0
    for reminder, exc in failures:
        attempts = reminder.attempts + 1
        give_up = attempts >= policy.max_attempts
        failed += ReminderLog.objects.filter(pk=reminder.log_id, run=run).update(
            status=Status.FAILED,
            sent_at=None,
            attempts=attempts,
            error=_error_name(exc),
            next_attempt_at=None if give_up else policy.now + retry_delay(attempts),
        )
    # Reminders another run claimed first, or took over from this one, are skipped.
    counts = {
        "selected": batch.selected,
        "sent": len(sent),
        "skipped": batch.selected - len(sent) - failed,
        "failed": failed,
    }
    if batch.selected:
        runs.record_batch(run, **counts)
    return sent, counts


def _release_undelivered(batch: Batch, sent, failures, *, run, policy: Policy) -> None:
    """Date back the claims a stopped run did not deliver, so that any later run
    takes them over at once instead of after REMINDER_CLAIM_TIMEOUT_SECONDS."""
    handled = {r.log_id for r in sent} | {r.log_id for r, _ in failures}
    undelivered = [r.log_id for r in batch.claimed if r.log_id not in handled]
    if undelivered:
        ReminderLog.objects.filter(pk__in=undelivered, run=run, status=Status.CLAIMED).update(
            claimed_at=timezone.now() - policy.claim_timeout - timedelta(seconds=1)
        )


def retry_delay(attempts: int) -> timedelta:
    """Wait before retry number `attempts`: the next run retries a first failure,
    then the wait doubles from RETRY_BACKOFF."""
    if attempts <= 1:
        return timedelta(0)
    return RETRY_BACKOFF * 2 ** (attempts - 2)


def _error_name(exc: BaseException) -> str:
    """The exception's type: short, and never the message, which may quote task data."""
    cls = type(exc)
    module = "" if cls.__module__ == "builtins" else f"{cls.__module__}."
    return f"{module}{cls.__qualname__}"[:200]


def _finish(run: ReminderRun, *, status: str, error: str, summary: dict) -> None:
    try:
        run = runs.finish_run(run, status=status, error=error)
    except DatabaseError:
        # The connection was lost: record the outcome on a fresh one if we can;
        # if not, the next run or status check finds this run dead.
        connection.close()
        try:
            run = runs.finish_run(run, status=status, error=error)
        except DatabaseError:
            run = None
    if run is None:
        logger.error(
            "run_not_recorded",
            extra={"event": "run_not_recorded", "run_id": summary["run_id"], "status": status},
        )
    else:
        logger.info(
            "run_finished",
            extra={
                "event": "run_finished",
                "run_id": summary["run_id"],
                "status": status,
                "selected": run.selected,
                "sent": run.sent,
                "skipped": run.skipped,
                "failed": run.failed,
                "duration_ms": round(run.duration.total_seconds() * 1000, 1),
            },
        )


@contextmanager
def _stop_on_signals():
    """Turn SIGTERM (a deploy) and SIGINT (Ctrl-C) into a request to stop after the
    current batch, so no delivery is left half-recorded.

    Only the main thread can install signal handlers; elsewhere (a test thread)
    the job runs to completion.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(signum, frame):
        stop.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
