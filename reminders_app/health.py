"""Is the reminder worker alive? The facts `reminders_status` prints and the admin
index shows. Reading them writes nothing: a run whose process died shows as
`abandoned` here, and is recorded so by the next run or `manage.py
abandon_dead_runs`."""

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django_q.models import Schedule, Task

from reminders_app import runs
from reminders_app.allowed import forbidden_schedules, schedule_problem
from reminders_app.broker import broker_problem
from reminders_app.conf import settings
from reminders_app.models import ReminderLog, ReminderRun
from reminders_app.runs import Counts
from reminders_app.schedule import INTERVAL, SCHEDULE_NAME, altered_fields, off_the_hour

# A worker is stale when no run has succeeded within two schedule intervals.
STALE_AFTER = 2 * INTERVAL
# A running cluster calls django-q2's scheduler about every 30 seconds, so a due
# schedule left this long means no cluster is running.
OVERDUE_AFTER = timedelta(minutes=5)
REPAIR = "`manage.py migrate`, or the worker's next start, puts it back"


@dataclass
class Health:
    checked_at: datetime
    schedule: Schedule | None
    last_finished: ReminderRun | None
    last_succeeded: ReminderRun | None
    in_progress: list[ReminderRun]
    failed_reminders: int  # reminders that stay `failed` after every attempt
    problems: list[str] = field(default_factory=list)
    # No run has finished yet and none is due: a fresh deploy before its first slot.
    starting: bool = False

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def status(self) -> str:
        """`healthy`, `starting` (healthy, before the first run) or `unhealthy`."""
        if self.problems:
            return "unhealthy"
        return "starting" if self.starting else "healthy"

    def as_dict(self) -> dict:
        """The facts as JSON-ready values: times in ISO-8601, durations in seconds."""
        schedule = self.schedule
        return {
            "status": self.status,
            "healthy": self.healthy,
            "problems": self.problems,
            "checked_at": self.checked_at.isoformat(),
            "schedule": None
            if schedule is None
            else {
                "id": schedule.pk,
                "name": schedule.name,
                "next_run": _iso(schedule.next_run),
                "repeats": schedule.repeats,
                "paused": schedule.repeats == 0,
            },
            "last_finished": _run_dict(self.last_finished),
            "last_succeeded": _run_dict(self.last_succeeded),
            "in_progress": [_run_dict(run) for run in self.in_progress],
            "failed_reminders": self.failed_reminders,
        }


def check_health(*, now: datetime | None = None) -> Health:
    """Gather the facts. Reads only."""
    now = now or timezone.now()
    top = ReminderRun.objects.filter(parent__isnull=True)  # runs, not their parts
    running = list(top.filter(status=ReminderRun.Status.RUNNING).order_by("started_at"))
    dead = {run.pk for run in runs.dead_runs(running)}
    # How the next run will record them; nothing is written here.
    abandoned = [_as_abandoned(run, now) for run in running if run.pk in dead]
    finished = top.exclude(status=ReminderRun.Status.RUNNING)
    last_finished = max(
        [run for run in [finished.order_by("-started_at").first(), *abandoned] if run],
        key=lambda run: run.started_at,
        default=None,
    )
    # The oldest row of the name is the schedule (as for `migrate`); a second is an impostor.
    named = list(Schedule.objects.filter(name=SCHEDULE_NAME).order_by("pk")[:2])
    health = Health(
        checked_at=now,
        schedule=named[0] if named else None,
        last_finished=last_finished,
        last_succeeded=finished.filter(status=ReminderRun.Status.SUCCEEDED)
        .order_by("-started_at")
        .first(),
        in_progress=[run for run in running if run.pk not in dead],
        failed_reminders=ReminderLog.objects.given_up(
            max_attempts=settings.REMINDER_MAX_ATTEMPTS
        ).count(),
    )
    if health.schedule is None:
        health.problems.append(
            f"the schedule {SCHEDULE_NAME!r} is missing: `manage.py migrate` restores it"
        )
    elif len(named) > 1:
        health.problems.append(
            f"more than one schedule is named {SCHEDULE_NAME!r}: `manage.py migrate` keeps "
            "the first"
        )
    elif altered := altered_fields(health.schedule):
        # Field names only: their values are what someone wrote there.
        health.problems.append(
            f"the schedule {SCHEDULE_NAME!r} was altered ({', '.join(altered)} not the "
            f"reminder job's own): {REPAIR}"
        )
    elif health.schedule.repeats == 0:
        health.problems.append(f"the schedule {SCHEDULE_NAME!r} is paused (repeats = 0)")
    elif health.schedule.next_run is None:
        health.problems.append(f"the schedule {SCHEDULE_NAME!r} has no next run")
    elif health.schedule.next_run < now - OVERDUE_AFTER:
        health.problems.append(
            f"the schedule {SCHEDULE_NAME!r} was due at {health.schedule.next_run.isoformat()} "
            "and no cluster has run it: is `manage.py qcluster` running?"
        )
    if health.schedule and health.schedule.next_run and off_the_hour(health.schedule.next_run):
        health.problems.append(
            f"the schedule {SCHEDULE_NAME!r} is due at "
            f"{health.schedule.next_run.isoformat()}, off minute 0: {REPAIR}"
        )
    health.problems += [schedule_problem(schedule) for schedule in forbidden_schedules()]
    if problem := broker_problem():
        health.problems.append(problem)
    last = health.last_succeeded
    if last is None and not health.problems and _before_first_run(health):
        health.starting = True
    elif last is None:
        health.problems.append("no run has succeeded yet")
    elif now - last.finished_at > STALE_AFTER:
        health.problems.append(
            f"no run has succeeded since {last.finished_at.isoformat()} "
            f"(more than {STALE_AFTER.total_seconds() / 3600:g} hours)"
        )
    finished_last = health.last_finished
    if finished_last is not None and finished_last.status == ReminderRun.Status.FAILED:
        reason = f" ({finished_last.error})" if finished_last.error else ""
        health.problems.append(f"the last run failed{reason}")
    elif finished_last is not None and finished_last.failed > finished_last.sent:
        health.problems.append(
            f"most deliveries of the last run failed ({finished_last.failed} failed, "
            f"{finished_last.sent} sent)"
        )
    return health


def _before_first_run(health: Health) -> bool:
    """A fresh deploy: no run has finished, and the first task the cluster was handed
    for the schedule (django-q2 records its id in `Schedule.task` when it queues it)
    has not finished either: none queued yet, or it is still waiting or running. Only
    with a sound schedule that is not overdue (the problems found before this); a
    first task that ended without recording a run (the job failed before it could) is
    not starting."""
    if health.last_finished is not None:
        return False
    queued = health.schedule.task
    return not queued or not Task.objects.filter(id=queued).exists()


def _as_abandoned(run: ReminderRun, now: datetime) -> ReminderRun:
    """A dead run as the next run will record it; an unsaved copy."""
    run = copy.copy(run)
    run.status, run.finished_at = ReminderRun.Status.ABANDONED, now
    run.error = "the run's process died"
    return run


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _run_dict(run: ReminderRun | None) -> dict | None:
    if run is None:
        return None
    return {
        "run_id": str(run.pk),
        "trigger": run.trigger,
        "status": run.status,
        "outcome": run.outcome,  # how the status reads: "finished with 2 failed"
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "heartbeat_at": _iso(run.heartbeat_at),
        "scheduled_for": _iso(run.scheduled_for),
        "lag_seconds": run.lag.total_seconds() if run.lag is not None else None,
        **Counts.of(run).as_dict(),
        "error": run.error,
        "hostname": run.hostname,
        "pid": run.pid,
    }
