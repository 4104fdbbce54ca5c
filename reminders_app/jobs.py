"""The reminder job: one function that the django-q2 schedule and the
`send_reminders` command both call. It orchestrates; reminders_app.selection reads,
reminders_app.claims writes the reminder history and reminders_app.runs the run's."""

import logging
import queue
import threading
import traceback
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from reminders_app import claims, runs
from reminders_app.channels import Channel, Reminder, get_channel
from reminders_app.models import ReminderRun
from reminders_app.plan import Keyset, RunPlan, aware
from reminders_app.runs import Counts
from reminders_app.selection import due_task_ids

logger = logging.getLogger(__name__)

RunStatus = ReminderRun.Status


@dataclass
class RunSummary:
    """What a run did. Reads like the dict DESIGN.md lists (summary["sent"]), and
    as_dict() is the JSON form `send_reminders --json` prints."""

    window_start: datetime
    window_end: datetime
    run_id: str | None = None
    counts: Counts = field(default_factory=Counts)
    status: str | None = None  # None for a dry run
    task_ids: list[int] | None = None  # a dry run's answer

    def as_dict(self) -> dict:
        facts = {
            "run_id": self.run_id,
            **self.counts.as_dict(),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
        }
        if self.task_ids is not None:
            facts["task_ids"] = self.task_ids
        if self.status is not None:
            facts["status"] = self.status
        return facts

    def __getitem__(self, key: str):
        return self.as_dict()[key]


def process_reminders(
    *,
    now: datetime | None = None,
    window_hours: float | None = None,
    dry_run: bool = False,
    trigger: str = "schedule",
    scheduled_for: datetime | str | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Send every reminder due in [now, now + window_hours]; return a summary.

    `scheduled_for` is the slot a scheduled run was meant for (django-q2 passes it
    through the schedule's intended_date_kwarg); the run stores its lag behind it.
    `stop`, once set (the command sets it on SIGTERM or Ctrl-C), ends the run early:
    the batch in hand is settled and the run is recorded `interrupted`.

    Each batch commits in a durable transaction: calling the job inside an outer
    transaction is an error, not a savepoint that would hold every claim uncommitted.
    Raises plan.InvalidPlan for a clock or window it cannot work with.
    """
    plan = RunPlan.build(now=now, window_hours=window_hours)
    summary = RunSummary(window_start=plan.start, window_end=plan.end)
    if dry_run:
        summary.task_ids = list(due_task_ids(plan))
        summary.counts.selected = len(summary.task_ids)
        return summary

    stop = stop or threading.Event()
    channel = get_channel()
    runs.reap_dead_runs()
    run = runs.start_run(
        trigger=trigger,
        window_start=plan.start,
        window_end=plan.end,
        scheduled_for=aware(scheduled_for) if scheduled_for else None,
        channel=settings.REMINDER_CHANNEL,
    )
    summary.run_id = str(run.pk)
    logger.info(
        "run_started",
        extra={
            "event": "run_started",
            "run_id": summary.run_id,
            "trigger": trigger,
            "window_start": plan.start.isoformat(),
            "window_end": plan.end.isoformat(),
        },
    )
    status, error = RunStatus.SUCCEEDED, ""
    sent_lines = SentLines(run_id=summary.run_id)
    try:
        after = None
        while not stop.is_set():
            counts, sent, after = _process_batch(
                plan, after=after, run=run, channel=channel, stop=stop
            )
            summary.counts += counts
            sent_lines.add(sent)  # logged once committed: each line stands for a row
            if counts.selected < plan.batch_size:
                break
        if stop.is_set():
            status, error = RunStatus.INTERRUPTED, "stopped by a signal"
        # Again at the end: a run killed just before this one started may have
        # still held its lock then.
        runs.reap_dead_runs(current=run)
    except BaseException as exc:
        status, error = RunStatus.FAILED, type(exc).__name__
        raise
    finally:
        sent_lines.close()  # the run's finish time covers writing its lines
        _finish(run, status=status, error=error)
        summary.status = status
    return summary


def _process_batch(
    plan: RunPlan, *, after: Keyset | None, run: ReminderRun, channel: Channel, stop
) -> tuple[Counts, list[Reminder], Keyset | None]:
    """Claim, deliver and settle one batch; return its counts, the reminders it
    recorded sent and the keyset to continue after.

    A transactional channel delivers inside the claiming transaction: the batch
    commits whole or not at all. Any other channel gets its claims committed first,
    so a run that dies mid-delivery leaves claims a later run can take over; a run
    asked to stop ends its delivery early and releases the claims it did not
    deliver, so the next run takes them at once.
    """
    if channel.transactional:
        with transaction.atomic(durable=True):
            batch = claims.claim_batch(plan, after=after, run=run, sent=True)
            sent, failures = [], []
            _deliver(batch.claimed, channel=channel, run=run, sent=sent, failures=failures)
            counts, sent = _settle(batch, sent, failures, run=run, plan=plan, pending=False)
        return counts, sent, batch.last
    with transaction.atomic(durable=True):
        batch = claims.claim_batch(plan, after=after, run=run, sent=False)
    sent, failures = [], []
    try:
        _deliver(batch.claimed, channel=channel, run=run, sent=sent, failures=failures, stop=stop)
    finally:
        # Even when delivery is cut short (a timeout raised inside the channel),
        # what went out is recorded, so no later run sends it again.
        with transaction.atomic(durable=True):
            counts, sent = _settle(batch, sent, failures, run=run, plan=plan, pending=True)
    return counts, sent, batch.last


def _deliver(claimed, *, channel: Channel, run, sent: list, failures: list, stop=None) -> None:
    """Hand each reminder to the channel, appending it to `sent` or, with its error,
    to `failures`: an error stays with its reminder. Ends early once `stop` is set.
    The lists are the caller's, so what went out before an exception (a cluster
    timeout raised inside the channel) is still recorded."""
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
                    "error": claims.error_text(exc),
                    "stack": "".join(traceback.format_tb(exc.__traceback__)),
                },
            )
        else:
            sent.append(reminder)


def _settle(batch: claims.Batch, sent, failures, *, run, plan: RunPlan, pending: bool):
    """Record each outcome and the batch's counts; return the counts and the
    reminders recorded sent.

    `pending` rows were claimed before delivery and are marked sent here, and the
    claims left undelivered are released; the others were written `sent` by the
    claim itself.
    """
    released = 0
    if pending:
        sent = claims.mark_sent(run, sent)
        handled = {r.log_id for r in sent} | {r.log_id for r, _ in failures}
        released = claims.release(run, [r for r in batch.claimed if r.log_id not in handled], plan)
    failed = claims.mark_failed(run, failures, plan)
    # Reminders another run claimed first, or took over from this one, are skipped.
    counts = Counts(
        selected=batch.selected,
        sent=len(sent),
        skipped=batch.selected - len(sent) - failed - released,
        failed=failed,
        released=released,
    )
    if batch.selected:
        runs.record_batch(run, counts)
    return counts, sent


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
        if not logger.isEnabledFor(logging.INFO):
            return self._drain()
        while (reminders := self.batches.get()) is not None:
            for reminder in reminders:
                # makeRecord() and handle() skip Logger._log's look-up of the
                # caller's file and line, which no line carries.
                record = logger.makeRecord(
                    logger.name,
                    logging.INFO,
                    "(unknown file)",
                    0,
                    "reminder_sent",
                    (),
                    None,
                    extra={
                        "event": "reminder_sent",
                        "task_id": reminder.task_id,
                        "run_id": self.run_id,
                        "due_at": reminder.due_at.isoformat(),
                        "reminder_id": reminder.log_id,
                    },
                )
                logger.handle(record)

    def _drain(self) -> None:
        while self.batches.get() is not None:
            pass


def _finish(run: ReminderRun, *, status: str, error: str) -> None:
    run_id = str(run.pk)
    try:
        run = runs.finish_run(run, status=status, error=error)
    except DatabaseError:
        # The connection was lost: record the outcome on a fresh one if we can;
        # if not, the next run or status check finds this run dead.
        connection.close()
        try:
            run = runs.finish_run(run, status=status, error=error)
        except DatabaseError:
            logger.error(
                "run_not_recorded",
                extra={"event": "run_not_recorded", "run_id": run_id, "status": status},
            )
            return
    logger.info(
        "run_finished",
        extra={
            "event": "run_finished",
            "run_id": str(run.pk),
            "status": status,
            **{name: getattr(run, name) for name in Counts().as_dict()},
            "duration_ms": round(run.duration.total_seconds() * 1000, 1),
        },
    )
