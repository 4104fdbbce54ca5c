"""Create the hourly django-q2 schedule that runs the reminder job.

update_or_create on the schedule's stable name keeps this idempotent: migrating
again neither duplicates the row nor moves its next_run, and an operator's pause
(repeats = 0) survives redeploys. A later migration that changes the function or
cadence updates the same row in place.
"""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

# Frozen copies of reminders_app.schedule's names, as a migration must not change.
SCHEDULE_NAME = "send-due-reminders"
JOB_FUNC = "reminders_app.jobs.process_reminders"
SLOT_KWARG = "scheduled_for"


def next_top_of_hour():
    return timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={
            "func": JOB_FUNC,
            "schedule_type": "H",  # Schedule.HOURLY: next_run moves on by one hour
            "intended_date_kwarg": SLOT_KWARG,
        },
        create_defaults={
            "func": JOB_FUNC,
            "schedule_type": "H",
            "intended_date_kwarg": SLOT_KWARG,
            "repeats": -1,  # forever
            "next_run": next_top_of_hour(),
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reminders_app", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
