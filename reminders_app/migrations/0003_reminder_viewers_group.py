"""Create the "Reminder viewers" group: view permission on reminders, runs and tasks.

Django creates permissions in its post_migrate signal, after every migration has run,
so on a fresh database they do not exist yet here: create_permissions() makes them
first (it skips those that exist). Re-running keeps one group with the same rights.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from reminders_app.conf import settings

# Frozen copies of reminders_app.viewers' names, as a migration must not change; the
# task model is the host's (REMINDER_TASK_MODEL).
GROUP_NAME = "Reminder viewers"
_TASK_APP, _TASK_MODEL = settings.REMINDER_TASK_MODEL.lower().split(".")
VIEW_PERMISSIONS = [
    ("reminders_app", "view_reminderlog"),
    ("reminders_app", "view_reminderrun"),
    (_TASK_APP, f"view_{_TASK_MODEL}"),
]


def create_group(apps, schema_editor):
    using = schema_editor.connection.alias
    for app_label in {app_label for app_label, _ in VIEW_PERMISSIONS}:
        app_config = apps.get_app_config(app_label)
        # Migration app configs have no models module, which create_permissions
        # takes to mean "no models here"; it reads the models from `apps`.
        app_config.models_module = True
        try:
            create_permissions(app_config, verbosity=0, using=using, apps=apps)
        finally:
            app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(using).get_or_create(name=GROUP_NAME)
    for app_label, codename in VIEW_PERMISSIONS:
        group.permissions.add(
            Permission.objects.using(using).get(
                content_type__app_label=app_label, codename=codename
            )
        )


def delete_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=GROUP_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reminders_app", "0002_hourly_schedule"),
        migrations.swappable_dependency(settings.REMINDER_TASK_MODEL),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
