"""What reminders_app adds to the host project's own admins, so the host's admin
modules need nothing of this app:

- the task model's admin (REMINDER_TASK_MODEL): the task's reminders, read-only, on
  its page, each with its recipient; the last reminder's status in its list;
- the user model's admin: the person's reminder preference on their page; for
  superusers, the action "Erase personal data" (reminders_app.admin.erasure).

Deleting a task or a person is the host's own business and succeeds: the trail keeps
its rows with their ids (docs/architecture.md, "Deleting tasks and people").

RemindersAppConfig.ready() calls extend_host_admins() once every admin module has
registered its models (django.contrib.admin comes first in INSTALLED_APPS).
"""

from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db.models import OuterRef, Subquery

from reminders_app.admin.common import ReadOnlyPermissions, RecipientColumn, located, run_link
from reminders_app.admin.erasure import ERASE_ACTION, erase_personal_data
from reminders_app.admin.preferences import ReminderPreferenceInline
from reminders_app.conf import task_model
from reminders_app.models import ReminderLog


class ReminderInline(RecipientColumn, ReadOnlyPermissions, admin.TabularInline):
    """The task's reminders, newest first, each with its recipient: history, shown
    and never edited."""

    model = ReminderLog
    fields = [
        "due_at",
        "recipient_shown",
        "status",
        "sent_at",
        "attempts",
        "error",
        "run_column",
    ]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    @admin.display(description="run")
    def run_column(self, obj):
        return run_link(obj.run_id)


class TaskReminders:
    """Mixed into the host's task admin."""

    def get_queryset(self, request):
        # The latest reminder's status in the same query as the task (no query per row).
        latest = ReminderLog.objects.filter(task=OuterRef("pk")).order_by("-id")
        return (
            super()
            .get_queryset(request)
            .annotate(last_reminder_status=Subquery(latest.values("status")[:1]))
        )

    def get_list_display(self, request):
        return [*super().get_list_display(request), "last_reminder_status"]

    def get_inlines(self, request, obj):
        return [*super().get_inlines(request, obj), ReminderInline]

    @admin.display(description="last reminder")
    def last_reminder_status(self, obj):
        if obj.last_reminder_status is None:
            return None
        return ReminderLog.Status(obj.last_reminder_status).label


class UserReminders:
    """Mixed into the host's user admin."""

    def get_inlines(self, request, obj):
        return [*super().get_inlines(request, obj), ReminderPreferenceInline]

    def get_actions(self, request, action_location=None):
        """The host's actions, and "Erase personal data" for superusers (in the list)."""
        actions = super().get_actions(request, **located(action_location))
        if request.user.is_superuser and IS_POPUP_VAR not in request.GET:
            if action := self.get_action(erase_personal_data, **located(action_location)):
                actions[ERASE_ACTION] = action
        return actions


def extend_host_admins(site: admin.AdminSite = admin.site) -> None:
    """Mix the above into the task and user models' registered admins (once).

    Without a usable REMINDER_TASK_MODEL the task admin is left alone: check
    reminders_app.E003 says what to set (a traceback here would come first)."""
    extensions = [(get_user_model(), UserReminders)]
    try:
        extensions.append((task_model(), TaskReminders))
    except ImproperlyConfigured:
        pass
    for model, mixin in extensions:
        if not site.is_registered(model):
            continue
        current = type(site.get_model_admin(model))
        if issubclass(current, mixin):
            continue
        site.unregister(model)
        site.register(model, type(current.__name__, (mixin, current), {"__module__": __name__}))
