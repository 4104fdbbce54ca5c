"""ReminderLog.task: PROTECT instead of CASCADE, so deleting a task never erases its
reminders (docs/architecture.md, "Deleting tasks"). Django enforces it; the schema
does not change."""

import django.db.models.deletion
from django.db import migrations, models

from reminders_app.conf import task_model_name


class Migration(migrations.Migration):
    dependencies = [
        ("reminders_app", "0005_run_outcomes_and_lean_log_indexes"),
        migrations.swappable_dependency(task_model_name()),
    ]

    operations = [
        migrations.AlterField(
            model_name="reminderlog",
            name="task",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="reminders",
                to=task_model_name(),
            ),
        ),
    ]
