"""The household's own django-q2 schedule: the sweep, every night at 03:00."""

from datetime import datetime, time, timedelta

from django.db import migrations
from django.utils import timezone


def schedule_sweep(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    tomorrow = timezone.localdate() + timedelta(days=1)
    Schedule.objects.update_or_create(
        name="nightly-sweep",
        defaults={"func": "household.tasks.sweep", "schedule_type": "D"},  # Schedule.DAILY
        create_defaults={
            "func": "household.tasks.sweep",
            "schedule_type": "D",
            "repeats": -1,
            "next_run": timezone.make_aware(datetime.combine(tomorrow, time(3))),
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("household", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(schedule_sweep, migrations.RunPython.noop)]
