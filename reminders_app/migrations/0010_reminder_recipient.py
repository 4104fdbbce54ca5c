"""One reminder per task, recipient and due date, and a trail that never blocks a delete.

- ReminderLog.recipient: the person reminded. Rows already in the trail get their
  task's owner (the only person a reminder went to before), in one set-based UPDATE;
  a row whose task had no owner keeps none.
- The once-only constraint moves from (task, due_at) to (task, recipient, due_at),
  and the job's settled index with it.
- ReminderLog.task loses its database constraint and its PROTECT: deleting a task
  through the host's own code keeps its reminders, with the task's id (the way the
  admin's LogEntry keeps object_id). recipient is made the same way.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce

from reminders_app.conf import settings as app_settings
from reminders_app.conf import task_fields, task_model_name


def recipients_from_owners(apps, schema_editor):
    """Each existing reminder went to its task's owner (the first, for a host whose
    owner role names several)."""
    ReminderLog = apps.get_model("reminders_app", "ReminderLog")
    log = ReminderLog.objects.using(schema_editor.connection.alias)
    if not app_settings.REMINDER_TASK_MODEL or not log.exists():
        return
    Task = apps.get_model(app_settings.REMINDER_TASK_MODEL)
    roles = task_fields()
    task = Task._default_manager.filter(pk=OuterRef("task_id")).order_by()
    owner = Subquery(task.values(roles.owner)[:1])
    if roles.fallback_owner:
        owner = Coalesce(owner, Subquery(task.values(roles.fallback_owner)[:1]))
    log.update(recipient_id=owner)


class Migration(migrations.Migration):
    dependencies = [
        ("reminders_app", "0009_run_parts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        migrations.swappable_dependency(task_model_name()),
    ]

    operations = [
        migrations.AlterField(
            model_name="reminderlog",
            name="task",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="reminders",
                to=task_model_name(),
            ),
        ),
        migrations.AddField(
            model_name="reminderlog",
            name="recipient",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(recipients_from_owners, migrations.RunPython.noop, elidable=True),
        migrations.RemoveConstraint(
            model_name="reminderlog",
            name="reminder_once_per_due_date",
        ),
        migrations.AddConstraint(
            model_name="reminderlog",
            constraint=models.UniqueConstraint(
                fields=("task", "recipient", "due_at"), name="reminder_once_per_recipient"
            ),
        ),
        migrations.RemoveIndex(
            model_name="reminderlog",
            name="reminderlog_settled_due_idx",
        ),
        migrations.AddIndex(
            model_name="reminderlog",
            index=models.Index(
                condition=models.Q(("status__in", ["sent", "suppressed"])),
                fields=["due_at", "task", "recipient"],
                name="reminderlog_settled_due_idx",
            ),
        ),
        migrations.AlterField(
            model_name="reminderlog",
            name="due_at",
            field=models.DateTimeField(help_text="The due instant this reminder was for."),
        ),
    ]
