"""The reminder job: one function that the django-q2 schedule and the
`send_reminders` command both call. It orchestrates; reminders_app.selection reads,
reminders_app.claims writes the reminder history and reminders_app.runs the run's."""

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction

from reminders_app import claims, runs
from reminders_app.channels import Channel, get_channel
from reminders_app.conf import settings
from reminders_app.delivery import Deliveries, Outage, Outcomes
from reminders_app.loglines import RunLog
from reminders_app.models import ReminderRun
from reminders_app.plan import Keyset, RunPlan, aware
from reminders_app.runs import Counts
from reminders_app.selection import due_task_ids

logger = logging.getLogger(__name__)

RunStatus = ReminderRun.Status


@dataclass
class RunSummary:
    """What a run did. Reads like the dict docs/operations.md lists (summary["sent"]), and
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
    runs.abandon_dead_runs(claim_timeout=plan.claim_timeout)
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
    batches = Batches(plan, run=run, channel=channel, stop=stop)
    try:
        after = None
        while not stop.is_set():
            selected, after = batches.process(after)
            if selected < plan.batch_size:
                break
        if stop.is_set():
            status, error = RunStatus.INTERRUPTED, "stopped by a signal"
        # Again at the end: a run killed just before this one started may have
        # still held its lock then.
        runs.abandon_dead_runs(claim_timeout=plan.claim_timeout, current=run)
    except Outage:
        # The relay is down: the claims went back untouched, for the first run
        # after it returns. A run that delivers nothing must not look healthy.
        status, error = RunStatus.FAILED, "outage"
        logger.error(
            "delivery_outage", extra={"event": "delivery_outage", "run_id": summary.run_id}
        )
    except BaseException as exc:
        status, error = RunStatus.FAILED, type(exc).__name__
        raise
    finally:
        batches.close()  # the run's finish time covers writing its log lines
        summary.counts = (
            _finish(run, status=status, error=error, claim_timeout=plan.claim_timeout)
            or batches.counts
        )
        summary.status = status
    return summary


class Batches:
    """Claims, delivers and records a run's batches, one at a time.

    A transactional channel delivers inside the claiming transaction: the batch
    commits whole or not at all. Any other channel gets its claims committed first,
    so a run that dies mid-delivery leaves claims a later run can take over; its
    deliveries run on a pool (reminders_app.delivery) and each answer is recorded
    within a quarter of a second; claims left without an answer (a stop, an
    outage, a timeout) are released for the next run without spending an attempt.
    """

    def __init__(self, plan: RunPlan, *, run: ReminderRun, channel: Channel, stop):
        self.plan, self.run, self.channel, self.stop = plan, run, channel, stop
        self.counts = Counts()
        self.log = RunLog(run_id=str(run.pk))
        self.deliveries = None if channel.transactional else Deliveries(channel)

    def process(self, after: Keyset | None) -> tuple[int, Keyset | None]:
        """One batch; returns how many due reminders it selected and the keyset to
        continue after."""
        if self.channel.transactional:
            with transaction.atomic(durable=True):
                batch = claims.claim_batch(self.plan, after=after, run=self.run, sent=True)
                self.channel.prepare(batch.claimed, now=self.plan.now)
                outcomes = Outcomes()
                for reminder in batch.claimed:
                    try:
                        self.channel.deliver(reminder)
                    except BaseException as exc:
                        if not outcomes.add(reminder, exc):
                            raise  # the database is gone, or a timeout: stop the run
                    else:
                        outcomes.add(reminder, None)
                counts = self._claimed(batch)
                counts += self._record(outcomes, claimed_sent=True)
                self._count(counts)  # one update of the run per batch
            self.log.committed(outcomes)
            return batch.selected, batch.last
        with transaction.atomic(durable=True):
            batch = claims.claim_batch(self.plan, after=after, run=self.run, sent=False)
            self._count(self._claimed(batch))
        answered = set()

        def record(outcomes: Outcomes) -> None:
            answered.update(r.log_id for r in outcomes.answered())
            with transaction.atomic(durable=True):
                self._count(self._record(outcomes))
            self.log.committed(outcomes)

        try:
            self.deliveries.deliver(batch.claimed, now=self.plan.now, record=record, stop=self.stop)
        finally:
            unanswered = [r for r in batch.claimed if r.log_id not in answered]
            if unanswered:
                with transaction.atomic(durable=True):
                    released = claims.release(self.run, unanswered, self.plan)
                    self._count(Counts(released=released, skipped=len(unanswered) - released))
        return batch.selected, batch.last

    @staticmethod
    def _claimed(batch: claims.Batch) -> Counts:
        """A batch's selection: what another run claimed first is skipped."""
        return Counts(selected=batch.selected, skipped=batch.selected - len(batch.claimed))

    def _record(self, outcomes: Outcomes, *, claimed_sent: bool = False) -> Counts:
        """Write each answer, in the caller's transaction; return the counts. A row
        another run took over meanwhile is that run's to record: it counts as
        skipped here."""
        answered = len(outcomes.answered())
        if not claimed_sent:  # else the claim itself wrote them `sent`
            outcomes.sent = claims.mark_sent(self.run, outcomes.sent)  # those still ours
        failed = claims.mark_failed(self.run, outcomes.failed, self.plan)
        released = claims.release(
            self.run, outcomes.unreached, self.plan, claimed_sent=claimed_sent
        )
        suppressed = claims.mark_suppressed(self.run, outcomes.suppressed)
        return Counts(
            sent=len(outcomes.sent),
            failed=failed,
            released=released,
            suppressed=suppressed,
            skipped=answered - len(outcomes.sent) - failed - released - suppressed,
        )

    def _count(self, counts: Counts) -> None:
        """Add to the run's record (and beat its heart), in the caller's transaction."""
        if any(counts.as_dict().values()):
            runs.record_batch(self.run, counts)
            self.counts += counts

    def close(self) -> None:
        if self.deliveries is not None:
            self.deliveries.close()
        self.log.close()


def _finish(
    run: ReminderRun, *, status: str, error: str, claim_timeout: timedelta
) -> Counts | None:
    """Record the run's end; return its counts as recorded (None if it could not be).

    Claims the run still holds (an error cut its delivery short before it could
    release them) go back first, counted released, so the next run takes them at
    once; after a normal end there are none.
    """
    run_id = str(run.pk)
    for attempt in (1, 2):
        try:
            with transaction.atomic(durable=True):
                left = claims.release_runs([run.pk], claim_timeout=claim_timeout)
                if left:
                    runs.record_batch(run, Counts(released=left))
            run = runs.finish_run(run, status=status, error=error)
            break
        except DatabaseError:
            if attempt == 2:
                # If not recorded, the next run or status check finds this run dead.
                logger.error(
                    "run_not_recorded",
                    extra={"event": "run_not_recorded", "run_id": run_id, "status": status},
                )
                return None
            connection.close()  # the connection was lost: try once on a fresh one
    logger.info(
        "run_finished",
        extra={
            "event": "run_finished",
            "run_id": str(run.pk),
            "status": status,
            **Counts.of(run).as_dict(),
            "duration_ms": round(run.duration.total_seconds() * 1000, 1),
        },
    )
    return Counts.of(run)
