"""The "Reminder viewers" group may view the addresses not to mail (Suppression), as
reminders_app.viewers now says; they add or delete none."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen copies of the names, as a migration must not change.
GROUP_NAME = "Reminder viewers"
CODENAME = "view_suppression"


def permission(apps, using):
    app_config = apps.get_app_config("reminders_app")
    # As in 0003: permissions are made after every migration has run, so on a fresh
    # database this one does not exist yet.
    app_config.models_module = True
    try:
        create_permissions(app_config, verbosity=0, using=using, apps=apps)
    finally:
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.using(using).get(
        content_type__app_label="reminders_app", codename=CODENAME
    )


def grant(apps, schema_editor):
    using = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.using(using).get_or_create(name=GROUP_NAME)
    group.permissions.add(permission(apps, using))


def revoke(apps, schema_editor):
    using = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.using(using).filter(name=GROUP_NAME):
        group.permissions.remove(permission(apps, using))


class Migration(migrations.Migration):
    dependencies = [
        ("reminders_app", "0011_preferences_digest_quiet_language_and_suppressions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
