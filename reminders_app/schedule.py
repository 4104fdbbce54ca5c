"""The hourly django-q2 schedule that runs the reminder job.

Its row is data: migration 0002_hourly_schedule created it, and every `migrate`
restores it (`ensure_schedule`, run on post_migrate; this project's worker runs it as
it starts too) when it is missing or altered, keeping an operator's pause and a
next_run at minute 0. The admin lets staff pause it and move
its next run, nothing else (reminders_app.admin.ScheduleAdmin). The system check and
`reminders_status` share these names.
"""

import logging
from datetime import UTC, datetime, timedelta

from django.db import DEFAULT_DB_ALIAS
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

logger = logging.getLogger(__name__)

SCHEDULE_NAME = "send-due-reminders"
JOB_FUNC = "reminders_app.jobs.process_reminders"
# One part of a run spread over the cluster (REMINDER_WORKERS): queued by the job.
PART_FUNC = "reminders_app.jobs.process_part"
# django-q2 passes the slot a run was scheduled for under this keyword.
SLOT_KWARG = "scheduled_for"
INTERVAL = timedelta(hours=1)
# What the row must say for the job to run hourly, exactly as designed. Staff cannot
# change these in the admin; `migrate` puts them back. repeats (the pause) and
# next_run are the operator's.
FIXED_FIELDS = {
    "func": JOB_FUNC,
    "schedule_type": "H",  # Schedule.HOURLY: next_run moves on by one hour
    "intended_date_kwarg": SLOT_KWARG,
    "args": None,
    "kwargs": None,
    "hook": None,
    "cluster": None,
    "minutes": None,
    "cron": None,
}


def next_top_of_hour(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return now.replace(minute=0, second=0, microsecond=0) + INTERVAL


def off_the_hour(when: datetime) -> bool:
    """Whether a next_run is anything but minute 0 (in UTC: the hour of every zone
    with a whole-hour offset)."""
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0) != when


def altered_fields(schedule) -> list[str]:
    """The names of the fields of the job's row that are not as FIXED_FIELDS says
    (an empty text as good as none), never their values: staff may have typed them."""
    return [
        name for name, value in FIXED_FIELDS.items() if (getattr(schedule, name) or None) != value
    ]


def ensure_schedule(*, using: str = DEFAULT_DB_ALIAS):
    """Create the schedule row, or put back what was changed or removed; return it.

    A new row runs forever from the next top of the hour. An existing one keeps its
    repeats, so a pause survives, and its next_run, moved on to the next top of the
    hour when it is off minute 0 (set when it has none); rows that merely share its
    name are deleted, as the scheduler would run them too. Each repair is one WARNING
    line naming the fields, never their values.
    """
    from django_q.models import Schedule

    rows = Schedule.objects.using(using).filter(name=SCHEDULE_NAME).order_by("pk")
    impostors = rows.exclude(pk=rows.values("pk")[:1])
    if removed := impostors.delete()[0]:
        logger.warning(
            "schedule_duplicates_removed",
            extra={"event": "schedule_duplicates_removed", "count": removed},
        )
    before = rows.first()
    schedule, _ = rows.update_or_create(
        name=SCHEDULE_NAME,
        defaults=FIXED_FIELDS,
        create_defaults=FIXED_FIELDS | {"repeats": -1, "next_run": next_top_of_hour()},
    )
    restored = altered_fields(before) if before else []
    if schedule.next_run is None or off_the_hour(schedule.next_run):
        schedule.next_run = next_top_of_hour(schedule.next_run)
        schedule.save(update_fields=["next_run"])
        restored.append("next_run")
    if restored:
        logger.warning(
            "schedule_restored",
            extra={
                "event": "schedule_restored",
                "schedule_id": schedule.pk,
                "fields": restored,
                "next_run": schedule.next_run.isoformat(),
            },
        )
    return schedule


def restore_schedule_after_migrate(sender, *, using=DEFAULT_DB_ALIAS, **kwargs):
    """post_migrate receiver: `migrate` (and so every deploy) repairs the schedule.

    Only once migration 0002 has made the schedule part of the database: migrating
    reminders_app back to zero must not bring it back.
    """
    from django.db import connections

    applied = MigrationRecorder(connections[using]).applied_migrations()
    if ("reminders_app", "0002_hourly_schedule") in applied:
        ensure_schedule(using=using)
