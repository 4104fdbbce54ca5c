"""The reminder job: one function that the django-q2 schedule and the
`send_reminders` command both call. It orchestrates; reminders_app.selection reads,
reminders_app.claims writes the reminder history and reminders_app.runs the run's."""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from reminders_app import claims, runs, suppressions
from reminders_app.channels import Channel, DeliveryError, Digest, Reminder, get_channel
from reminders_app.conf import settings
from reminders_app.delivery import Deliveries, Outage, Outcomes, Unit, members
from reminders_app.loglines import RunLog
from reminders_app.models import ReminderPreference, ReminderRun
from reminders_app.plan import Keyset, RunPlan, aware
from reminders_app.runs import Counts
from reminders_app.schedule import PART_FUNC
from reminders_app.selection import count_without_recipient, digest_people, due_now, slices

# An outside channel (email) claims this many reminders per delivery connection at
# a time: enough to keep its pool busy, few enough that other processes working the
# same window get their share.
PIECE_PER_CONNECTION = 4
# Seconds between a working run's checks for runs that died (their claims go back).
REAP_EVERY = 5.0
# Seconds from a run's start after which the slice of a part that has not started is
# taken over by the parts that did: a part queued on the cluster (lost by the broker,
# or held by a cluster whose workers are busy while another's are free), and a part
# in a process `send_reminders --workers` started, which must first load Python and
# Django.
PART_START_GRACE = 5
PROCESS_START_GRACE = 60
# A part's slice is taken over in this many sub-slices, so that every part that
# finished its own shares the slice of one that died or never started, instead of
# one part walking it whole while the others stand idle.
SUBSLICES_PER_PART = 8

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
    # A dry run's answer: each due reminder as (task id, recipient id, due_at), and
    # each held for its recipient's quiet hours as (task id, recipient id, due_at,
    # the run it goes with).
    due: list[tuple] | None = None
    held: list[tuple] | None = None
    # Open tasks due in the window that name nobody to remind: no reminder is
    # selected for them (so they are in no count above). None: not counted (a part,
    # or a run read back from its record, which keeps no such column).
    without_recipient: int | None = None

    def as_dict(self) -> dict:
        facts = {
            "run_id": self.run_id,
            **self.counts.as_dict(),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
        }
        if self.due is not None:
            # The tasks, each once, in the order they fall due; then every reminder.
            facts["task_ids"] = list(dict.fromkeys(task_id for task_id, _, _ in self.due))
            facts["reminders"] = [
                {"task_id": task_id, "recipient_id": person, "due_at": due.isoformat()}
                for task_id, person, due in self.due
            ]
            facts["held"] = [
                {
                    "task_id": task_id,
                    "recipient_id": person,
                    "due_at": due.isoformat(),
                    "goes_at": goes_at.isoformat(),
                }
                for task_id, person, due, goes_at in self.held or ()
            ]
        if self.status is not None:
            facts["status"] = self.status
        if self.without_recipient is not None:
            facts["without_recipient"] = self.without_recipient
        return facts

    def __getitem__(self, key: str):
        return self.as_dict()[key]

    @classmethod
    def of(cls, run: ReminderRun) -> "RunSummary":
        """What a recorded run did (a run in parts: all its parts together)."""
        return cls(
            window_start=run.window_start,
            window_end=run.window_end,
            run_id=str(run.pk),
            counts=Counts.of(run),
            status=run.status,
        )


def process_reminders(
    *,
    now: datetime | None = None,
    window_hours: float | None = None,
    dry_run: bool = False,
    trigger: str = "schedule",
    scheduled_for: datetime | str | None = None,
    stop: threading.Event | None = None,
    workers: int | None = None,
    launch: Callable[..., object] | None = None,
) -> RunSummary:
    """Send every reminder due in [now, now + window_hours]; return a summary.

    `scheduled_for` is the slot a scheduled run was meant for (django-q2 passes it
    through the schedule's intended_date_kwarg); the run stores its lag behind it.
    `stop`, once set (the command sets it on SIGTERM or Ctrl-C), ends the run early:
    the batch in hand is settled and the run is recorded `interrupted`.

    `workers` (default REMINDER_WORKERS): parts the run spreads over. This call
    runs the first and hands each other to `launch(**part_kwargs)` (default: a
    django-q2 task of process_part, for any worker of any cluster sharing the
    broker); the summary is then this part's. See process_part.

    Each batch commits in a durable transaction: calling the job inside an outer
    transaction is an error, not a savepoint that would hold every claim uncommitted.
    Raises plan.InvalidPlan for a clock or window it cannot work with.
    """
    # The channel first: a bad REMINDER_CHANNEL is a configuration error whatever the
    # database holds (the plan reads it: people's quiet hours, zones).
    channel = None if dry_run else get_channel()
    plan = RunPlan.build(now=now, window_hours=window_hours)
    summary = RunSummary(window_start=plan.start, window_end=plan.end)
    if dry_run:
        summary.due = list(due_now(plan))
        summary.held = held_now(plan)
        summary.counts.selected = len(summary.due)
        summary.without_recipient = count_without_recipient(plan)
        return summary

    stop = stop or threading.Event()
    plan = with_digests(plan, channel)
    workers = settings.REMINDER_WORKERS if workers is None else workers
    runs.abandon_dead_runs(claim_timeout=plan.claim_timeout)
    facts = {
        "trigger": trigger,
        "window_start": plan.start,
        "window_end": plan.end,
        "scheduled_for": aware(scheduled_for) if scheduled_for else None,
        "channel": settings.REMINDER_CHANNEL,
    }
    if workers == 1:
        run = runs.start_run(**facts)
        _log_start(run, plan)
        work = Work(plan, run=run, channel=channel, stop=stop)
        work.without_recipient = count_without_recipient(plan)
        return work.execute()
    subslices = slices(plan, workers * SUBSLICES_PER_PART)
    windows = [
        (subslices[first][0], subslices[first + SUBSLICES_PER_PART - 1][1])
        for first in range(0, len(subslices), SUBSLICES_PER_PART)
    ]
    parent, part = runs.start_parts(first_slice=windows[0], **facts)
    _log_start(parent, plan, parts=workers)
    kwargs = {
        "run_id": str(parent.pk),
        "slices": [[s.isoformat(), e.isoformat()] for s, e in windows],
        "subslices": [[s.isoformat(), e.isoformat()] for s, e in subslices],
        "grace": PART_START_GRACE if launch is None else PROCESS_START_GRACE,
    }
    try:
        for number in range(1, workers):
            (launch or enqueue_part)(**kwargs, part=number)
    except Exception as exc:  # noqa: BLE001 - the broker is down: this part does it all
        logger.error(
            "parts_not_queued",
            extra={
                "event": "parts_not_queued",
                "run_id": kwargs["run_id"],
                "error": type(exc).__name__,
            },
        )
    work = Work(
        plan, run=part, channel=channel, stop=stop, slices=windows, subslices=subslices, own=0
    )
    work.grace = kwargs["grace"]
    work.without_recipient = count_without_recipient(plan)  # the whole window's
    return work.execute()


def held_now(plan: RunPlan) -> list[tuple]:
    """The reminders a run with this plan holds for quiet hours: (task id, recipient
    id, due_at, the run they go with), in due order."""
    goes_at = {quiet.person_id: quiet.goes_at for quiet in plan.quiet}
    return [(*row, goes_at[row[1]]) for row in due_now(plan, held=True)]


def with_digests(plan: RunPlan, channel: Channel) -> RunPlan:
    """The plan, its walk leaving out the people who get a digest when the channel
    delivers digests and someone asked for one (decided once per run: a run where
    nobody did selects as before)."""
    if not channel.digests or channel.transactional:
        return plan
    return replace(plan, digests=ReminderPreference.objects.filter(digest=True).exists())


def enqueue_part(**kwargs) -> None:
    """Queue one part of a run as a django-q2 task: any worker of any cluster
    sharing the broker takes it."""
    from django_q.tasks import async_task

    async_task(PART_FUNC, **kwargs, task_name=f"reminder-part-{kwargs['part']}")


def process_part(
    *,
    run_id: str,
    part: int,
    slices: list[list[str]],
    subslices: list[list[str]] | None = None,
    grace: float = PART_START_GRACE,
    stop: threading.Event | None = None,
) -> RunSummary | None:
    """Run part number `part` of the run `run_id`: walk its slice of the window,
    then the `subslices` (a finer division of the same window) of parts that died
    or never started, until none is left. None when the run has ended, or its slice
    was taken over, before this part started (the other parts did its work)."""
    windows = [(aware(start), aware(end)) for start, end in slices]
    run = runs.join_run(run_id, window=windows[part])
    if run is None:
        logger.info("part_late", extra={"event": "part_late", "run_id": run_id, "part": part})
        return None
    channel = get_channel()
    plan = with_digests(
        RunPlan.build(now=run.parent.window_start, end=run.parent.window_end), channel
    )
    _log_start(run, plan, part=part)
    work = Work(
        plan,
        run=run,
        channel=channel,
        stop=stop or threading.Event(),
        slices=windows,
        subslices=[(aware(start), aware(end)) for start, end in subslices or slices],
        own=part,
    )
    work.grace = grace
    return work.execute()


def _log_start(run: ReminderRun, plan: RunPlan, **extra) -> None:
    logger.info(
        "run_started",
        extra={
            "event": "run_started",
            "run_id": str(run.pk),
            **({"parent_id": str(run.parent_id)} if run.parent_id else {}),
            "trigger": run.trigger,
            "window_start": run.window_start.isoformat(),
            "window_end": run.window_end.isoformat(),
            # How many people are inside their quiet hours (never who), and whether
            # the run sends digests.
            "quiet_people": len(plan.quiet),
            "digests": plan.digests,
            **extra,
        },
    )


class Work:
    """One run (or one part of a run) at work: walks its window, or its slice and
    then those of parts that died or never started, and records its end."""

    def __init__(self, plan, *, run, channel, stop, slices=None, subslices=None, own=None):
        self.plan, self.run, self.channel, self.stop = plan, run, channel, stop
        self.slices, self.subslices, self.own = slices, subslices, own
        self.grace = PART_START_GRACE  # see process_part
        # The digests of the run's whole window, once this run (or part) has walked:
        # every part of a run does its share (Batches.digests); a slice taken over
        # walks its slice alone.
        self.digests = plan.digests
        self.without_recipient = None  # see RunSummary; counted by the run's first part

    def walk_only(self, window: tuple[datetime, datetime]) -> RunSummary:
        """Walk `window` as this run's (a slice taken over) and record its end."""
        self.slices, self.digests = None, False
        self.plan = replace(self.plan, start=window[0], end=window[1])
        return self.execute()

    def execute(self) -> RunSummary:
        plan, run = self.plan, self.run
        summary = RunSummary(window_start=run.window_start, window_end=run.window_end)
        summary.run_id = str(run.pk)
        status, error = RunStatus.SUCCEEDED, ""
        batches = Batches(plan, run=run, channel=self.channel, stop=self.stop)
        try:
            if self.slices is None:
                batches.walk(plan)
            else:
                self._walk_slices(batches)
            if self.digests:
                batches.digests(plan)
            if self.stop.is_set():
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
                _finish(
                    run,
                    status=status,
                    error=error,
                    claim_timeout=plan.claim_timeout,
                    without_recipient=self.without_recipient,
                )
                or batches.counts
            )
            summary.status = status
            summary.without_recipient = self.without_recipient
        return summary

    def _walk_slices(self, batches: "Batches") -> None:
        """This part's slice, then each sub-slice left by a part that died (its
        claims handed back) or has not started within `grace` seconds of the run's
        start (lost by the broker, or queued behind busy workers), each as a part of
        its own run by this process, until every sub-slice is done or being done.
        Parts that finish their own slices take a left slice's sub-slices one at a
        time, so they share it."""
        own = self.slices[self.own]
        batches.walk(replace(self.plan, start=own[0], end=own[1]))
        parent = self.run.parent
        grace_ends = parent.started_at + timedelta(seconds=self.grace)
        while not self.stop.is_set():
            runs.abandon_dead_runs(claim_timeout=self.plan.claim_timeout, current=self.run)
            started, alive = [], []  # the windows parts walk or walked; of those, not dead
            for start, end, status in parent.parts.values_list(
                "window_start", "window_end", "status"
            ):
                started.append((start, end))
                if status != RunStatus.ABANDONED:
                    alive.append((start, end))
            waiting = timezone.now() < grace_ends
            left = [
                window
                for window in dict.fromkeys(self.subslices)
                if window[0] <= window[1]  # an empty sub-slice has nothing to walk
                and not _within(window, alive)
            ]
            orphans = [window for window in left if not waiting or _within(window, started)]
            if not orphans and left:
                time.sleep(0.5)  # parts not yet started may still come
                continue
            taken = False
            for window in orphans:
                if self.stop.is_set() or (part := runs.join_run(parent.pk, window=window)) is None:
                    continue
                logger.info(
                    "slice_taken_over",
                    extra={
                        "event": "slice_taken_over",
                        "run_id": str(part.pk),
                        "by": str(self.run.pk),
                    },
                )
                Work(self.plan, run=part, channel=self.channel, stop=self.stop).walk_only(window)
                taken = True
            if not taken:
                return


def _within(window: tuple[datetime, datetime], windows: list[tuple[datetime, datetime]]) -> bool:
    """Whether `window` lies inside one of `windows`."""
    return any(start <= window[0] and window[1] <= end for start, end in windows)


class Batches:
    """Claims, delivers and records the reminders of a run (or part), a piece at a
    time, over one window or several (walk()).

    A transactional channel delivers inside the claiming transaction: each batch of
    REMINDER_BATCH_SIZE commits whole or not at all. Any other channel gets its
    claims committed first, in pieces of PIECE_PER_CONNECTION times its delivery
    concurrency, so several processes working one window each get a fair share; a
    run that dies mid-delivery leaves claims its run's other parts or a later run
    take over. Its deliveries run on a pool (reminders_app.delivery) that claims the
    next piece before the current one drains, and each answer is recorded within a
    quarter of a second; claims left without an answer (a stop, an outage, a
    timeout) are released without spending an attempt.
    """

    def __init__(self, plan: RunPlan, *, run: ReminderRun, channel: Channel, stop):
        self.plan, self.run, self.channel, self.stop = plan, run, channel, stop
        self.counts = Counts()
        self.log = RunLog(run_id=str(run.pk))
        self.deliveries = None if channel.transactional else Deliveries(channel)
        self.reaped_at = time.monotonic()

    def walk(self, plan: RunPlan) -> None:
        """Every due reminder of `plan`'s window, in (due_at, id) order."""
        if self.channel.transactional:
            after = None
            while not self.stop.is_set():
                selected, after = self._batch(plan, after)
                if selected < plan.batch_size:
                    return
                self._reap()
        else:
            piece = min(plan.batch_size, PIECE_PER_CONNECTION * self.channel.concurrency)
            self._stream(replace(plan, batch_size=piece))

    def _reap(self) -> None:
        """Every REAP_EVERY seconds, between pieces: record runs found dead and hand
        their claims back, for this run and the others going to take at once."""
        if time.monotonic() - self.reaped_at >= REAP_EVERY:
            runs.abandon_dead_runs(claim_timeout=self.plan.claim_timeout, current=self.run)
            self.reaped_at = time.monotonic()

    def _batch(self, plan: RunPlan, after: Keyset | None) -> tuple[int, Keyset | None]:
        """One transactional batch; returns how many due reminders it selected and
        the keyset to continue after."""
        with transaction.atomic(durable=True):
            batch = claims.claim_batch(plan, after=after, run=self.run, sent=True)
            self.channel.prepare(batch.claimed, now=plan.now)
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

    def _stream(self, plan: RunPlan) -> None:
        """Claims in pieces, delivered on the pool as they come."""

        def pieces() -> Iterator[list[Reminder]]:
            after = None
            while True:
                with transaction.atomic(durable=True):
                    batch = claims.claim_batch(plan, after=after, run=self.run, sent=False)
                    self._count(self._claimed(batch))
                yield batch.claimed
                if batch.selected < plan.batch_size:
                    return
                after = batch.last
                self._reap()

        self._deliver(pieces(), plan)

    def digests(self, plan: RunPlan) -> None:
        """The digest phase: each person who gets a digest and has reminders due in
        the plan's window (the run's whole window, whichever slice they fall in) gets
        them all in one message, claimed in one statement with those of a few other
        people, settled together.

        Every part of a run does this once it has walked, over the same people: the
        claims arbitrate (a person's reminders claimed by one part are held from the
        others), so each person gets one digest per run. Each pass first records runs
        found dead, whose claims go back, then lists the people left; it ends when a
        pass finds nobody. What this run (any of its parts still alive or ended)
        already tried and failed, or handed back, waits for the next run, as a single
        reminder would: only a dead part's claims are taken again."""
        per_piece = PIECE_PER_CONNECTION * self.channel.concurrency

        def pieces() -> Iterator[list[Digest]]:
            while not self.stop.is_set():
                runs.abandon_dead_runs(claim_timeout=plan.claim_timeout, current=self.run)
                ours = runs.alive_or_ended(self.run)
                people = digest_people(plan, not_runs=ours)
                if not people:
                    return
                for first in range(0, len(people), per_piece):
                    if self.stop.is_set():
                        return
                    with transaction.atomic(durable=True):
                        batch = claims.claim_batch(
                            plan,
                            after=None,
                            run=self.run,
                            sent=False,
                            digests=True,
                            people=people[first : first + per_piece],
                            not_runs=ours,
                        )
                        self._count(self._claimed(batch))
                    yield by_person(batch.claimed)

        self._deliver(pieces(), plan)

    def _deliver(self, pieces: Iterator[list[Unit]], plan: RunPlan) -> None:
        """Deliver what `pieces` claims on the pool, recording each answer as it
        comes; claims left without one at the end go back."""
        unanswered: dict[int, Reminder] = {}

        def tracked() -> Iterator[list[Unit]]:
            for piece in pieces:
                unanswered.update((r.log_id, r) for unit in piece for r in members(unit))
                yield piece

        def record(outcomes: Outcomes) -> None:
            for reminder in outcomes.answered():
                unanswered.pop(reminder.log_id, None)
            with transaction.atomic(durable=True):
                self._count(self._record(outcomes))
            self.log.committed(outcomes)

        try:
            self.deliveries.deliver(tracked(), now=plan.now, record=record, stop=self.stop)
        finally:
            if unanswered:
                left = list(unanswered.values())
                with transaction.atomic(durable=True):
                    released = claims.release(self.run, left, plan)
                    self._count(Counts(released=released, skipped=len(left) - released))

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
            # those still ours; a digest's rows record its Message-ID
            outcomes.sent = claims.mark_sent(self.run, outcomes.sent, outcomes.message_ids)
        failed = claims.mark_failed(self.run, outcomes.failed, self.plan)
        released = claims.release(
            self.run, outcomes.unreached, self.plan, claimed_sent=claimed_sent
        )
        suppressed = claims.mark_suppressed(self.run, outcomes.suppressed)
        # Addresses the relay said have no mailbox: no more mail to them.
        suppressions.suppress_bounced(
            [exc.bounced for _, exc in outcomes.failed if isinstance(exc, DeliveryError)],
            source="relay",
        )
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


def by_person(reminders: list[Reminder]) -> list[Digest]:
    """Claimed reminders as one digest per person, each soonest first."""
    people: dict[int, list[Reminder]] = {}
    for reminder in sorted(reminders, key=lambda r: (r.due_at, r.task_id)):
        people.setdefault(reminder.recipient_id, []).append(reminder)
    return [Digest(tuple(theirs)) for theirs in people.values()]


def _finish(
    run: ReminderRun,
    *,
    status: str,
    error: str,
    claim_timeout: timedelta,
    without_recipient: int | None = None,
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
            **({} if without_recipient is None else {"without_recipient": without_recipient}),
            "duration_ms": round(run.duration.total_seconds() * 1000, 1),
        },
    )
    return Counts.of(run)
