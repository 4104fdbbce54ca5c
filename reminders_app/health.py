"""Is the reminder worker alive? The facts `reminders_status` prints and the admin
index shows."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django_q.models import Schedule

from reminders_app import runs
from reminders_app.models import ReminderLog, ReminderRun
from reminders_app.schedule import INTERVAL, SCHEDULE_NAME

# A worker is stale when no run has succeeded within two schedule intervals.
STALE_AFTER = 2 * INTERVAL


@dataclass
class Health:
    checked_at: datetime
    schedule: Schedule | None
    last_finished: ReminderRun | None
    last_succeeded: ReminderRun | None
    in_progress: list[ReminderRun]
    failed_reminders: int  # reminders that stay `failed` after every attempt
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def check_health(*, now: datetime | None = None) -> Health:
    """Gather the facts (marking runs whose process died as abandoned first)."""
    now = now or timezone.now()
    runs.reap_dead_runs(claim_timeout=timedelta(seconds=settings.REMINDER_CLAIM_TIMEOUT_SECONDS))
    finished = ReminderRun.objects.exclude(status=ReminderRun.Status.RUNNING)
    health = Health(
        checked_at=now,
        schedule=Schedule.objects.filter(name=SCHEDULE_NAME).first(),
        last_finished=finished.order_by("-started_at").first(),
        last_succeeded=finished.filter(status=ReminderRun.Status.SUCCEEDED)
        .order_by("-started_at")
        .first(),
        in_progress=list(
            ReminderRun.objects.filter(status=ReminderRun.Status.RUNNING).order_by("started_at")
        ),
        failed_reminders=ReminderLog.objects.filter(
            status=ReminderLog.Status.FAILED, attempts__gte=settings.REMINDER_MAX_ATTEMPTS
        ).count(),
    )
    if health.schedule is None:
        health.problems.append(f"the schedule {SCHEDULE_NAME!r} is missing")
    elif health.schedule.repeats == 0:
        health.problems.append(f"the schedule {SCHEDULE_NAME!r} is paused (repeats = 0)")
    last = health.last_succeeded
    if last is None:
        health.problems.append("no run has succeeded yet")
    elif now - last.finished_at > STALE_AFTER:
        health.problems.append(
            f"no run has succeeded since {last.finished_at.isoformat()} "
            f"(more than {STALE_AFTER.total_seconds() / 3600:g} hours)"
        )
    return health
