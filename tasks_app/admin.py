from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from reminders_app.admin import (
    ReadOnlyPermissions,
    ReminderPreferenceInline,
    TrailProtectedDeletes,
    owner_column,
    run_link,
    with_owner_linkable,
)
from reminders_app.models import ReminderLog
from tasks_app.models import Task


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("completed", "Completed")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.open()
        if self.value() == "completed":
            return queryset.filter(completed_at__isnull=False)
        return queryset


class DueFilter(admin.SimpleListFilter):
    """Open tasks by due date: past due, or due within the reminder window
    (REMINDER_WINDOW_HOURS) from now, as the reminder job reckons it."""

    title = "due"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [
            ("overdue", "Overdue"),
            ("window", f"Within {settings.REMINDER_WINDOW_HOURS:g} hours"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "overdue":
            return queryset.overdue(now)
        if self.value() == "window":
            window = timedelta(hours=settings.REMINDER_WINDOW_HOURS)
            return queryset.open().due_between(now, now + window)
        return queryset


class ReminderInline(ReadOnlyPermissions, admin.TabularInline):
    """The task's reminders, newest first: history, shown and never edited."""

    model = ReminderLog
    fields = ["due_at", "status", "sent_at", "attempts", "error", "run_column"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    @admin.display(description="run")
    def run_column(self, obj):
        return run_link(obj.run_id)


@admin.register(Task)
class TaskAdmin(TrailProtectedDeletes, admin.ModelAdmin):
    list_display = ["title", "owner_shown", "due_at", "is_open", "last_reminder_status"]
    list_filter = [OpenFilter, DueFilter]
    list_select_related = ["owner"]
    search_fields = ["title"]
    raw_id_fields = ["owner"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    # Newest first, by the primary key: at a million tasks an order by due date
    # sorts the whole table (with each row's last-reminder subquery) for every page.
    # The due filters narrow to the open, dated tasks that task_open_due_idx holds.
    ordering = ["-id"]
    sortable_by = []
    fields = ["title", "description", "owner", "due_at", "completed_at"]
    inlines = [ReminderInline]

    def get_queryset(self, request):
        # The latest reminder's status in the same query as the task (no query per row).
        latest = ReminderLog.objects.filter(task=OuterRef("pk")).order_by("-id")
        return with_owner_linkable(
            super()
            .get_queryset(request)
            .annotate(last_reminder_status=Subquery(latest.values("status")[:1])),
            request,
        )

    def get_fields(self, request, obj=None):
        """Those who may not change the task see its owner as text, not as the raw
        id widget's link to a user page they may not open."""
        fields = super().get_fields(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fields
        return ["owner_shown" if name == "owner" else name for name in fields]

    def get_readonly_fields(self, request, obj=None):
        return ["owner_shown"]

    @admin.display(description="owner", ordering="owner_id")
    def owner_shown(self, obj):
        return owner_column(obj.owner_id, obj.owner.get_username(), linked=obj.owner_linkable)

    @admin.display(description="open", boolean=True, ordering="completed_at")
    def is_open(self, obj):
        return obj.is_open

    @admin.display(description="last reminder")
    def last_reminder_status(self, obj):
        if obj.last_reminder_status is None:
            return None
        return ReminderLog.Status(obj.last_reminder_status).label


# A user owns tasks: deleting one whose tasks have reminders is refused the same way.
admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class OwnerAdmin(TrailProtectedDeletes, UserAdmin):
    inlines = [*UserAdmin.inlines, ReminderPreferenceInline]
