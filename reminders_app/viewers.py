"""The "Reminder viewers" group: staff who may browse the audit trail, nothing more.

Migration 0003_reminder_viewers_group creates it on `migrate`; `seed_demo` puts its
staff user in it with add_to_reminder_viewers().
"""

from django.contrib.auth.models import Group, Permission

from reminders_app.conf import task_model

REMINDER_VIEWERS = "Reminder viewers"


def view_permissions() -> list[tuple[str, str]]:
    """(app label, permission codename): view-only access to reminders, runs, the
    addresses not to mail and the host's tasks."""
    tasks = task_model()._meta
    return [
        ("reminders_app", "view_reminderlog"),
        ("reminders_app", "view_reminderrun"),
        ("reminders_app", "view_suppression"),
        (tasks.app_label, f"view_{tasks.model_name}"),
    ]


def reminder_viewers() -> Group:
    """The group with its view permissions, repaired if someone edited or deleted it."""
    group, _ = Group.objects.get_or_create(name=REMINDER_VIEWERS)
    for app_label, codename in view_permissions():
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return group


def add_to_reminder_viewers(user) -> None:
    """Make `user` a staff member who can view reminders, runs, suppressions and tasks."""
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(reminder_viewers())
