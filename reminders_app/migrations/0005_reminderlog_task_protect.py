"""ReminderLog.task: PROTECT instead of CASCADE, so deleting a task never erases its
reminders (README, "Deleting tasks"). Django enforces it; the schema does not change."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reminders_app", "0004_cluster_cache_table"),
        ("tasks_app", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reminderlog",
            name="task",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="reminders",
                to="tasks_app.task",
            ),
        ),
    ]
