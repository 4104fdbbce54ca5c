"""The audit trail in the admin: reminders and runs, read-only for everyone.

Nobody, superusers included, may add, change or delete a reminder or a run here:
the has_*_permission methods below refuse, so the admin hides the buttons and answers
a crafted POST with 403. The list pages run a fixed number of queries whatever the
row count (list_select_related, no full-table count).
"""

import uuid

from django import forms
from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django_q.admin import ScheduleAdmin as DjangoQScheduleAdmin
from django_q.models import Schedule

from reminders_app.models import ReminderLog, ReminderRun
from reminders_app.schedule import FIXED_FIELDS, SCHEDULE_NAME

# Task ids are BigAutoField values; a longer number cannot be one.
MAX_TASK_ID = 2**63 - 1


class ReadOnlyPermissions:
    """For a ModelAdmin or an inline: viewable with the view permission, never
    written through the admin, whoever asks."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TrailProtectedDeletes:
    """For the admins of what the trail points at (tasks, and users who own them).

    Deleting a task with reminders is refused: ReminderLog.task is PROTECT. Django's
    delete pages list the protected reminders, but also count them as objects the user
    lacks the permission to delete (nobody has it: the trail is read-only) and show
    that message first, as if a permission could help. None can, so the page shows
    the refusal: "would require deleting the following protected related objects".
    """

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        if protected:
            perms_needed -= {ReminderLog._meta.verbose_name, ReminderRun._meta.verbose_name}
        return deleted, model_count, perms_needed, protected


class ReadOnlyAdmin(ReadOnlyPermissions, admin.ModelAdmin):
    """History: the reminder log and the runs."""

    actions = None
    # Filter counts ("Show counts") are a COUNT(*) per choice over the whole table.
    show_facets = admin.ShowFacets.NEVER


def _elapsed(span) -> str | None:
    """A timedelta as a person reads it: 8 ms, 3.96 s, 2 min 5 s."""
    if span is None:
        return None
    seconds = span.total_seconds()
    if abs(seconds) < 1:
        return f"{seconds * 1000:.0f} ms"
    if abs(seconds) < 60:
        return f"{seconds:.2f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s"


def run_link(run_id):
    url = reverse("admin:reminders_app_reminderrun_change", args=[run_id])
    return format_html('<a href="{}" title="{}">{}</a>', url, run_id, str(run_id)[:8])


def reminders_of_run_url(run_id) -> str:
    """The reminder log filtered to one run."""
    return f"{reverse('admin:reminders_app_reminderlog_changelist')}?run__id__exact={run_id}"


class RunTriggerFilter(admin.SimpleListFilter):
    """Filter by the trigger of the reminder's run.

    The choices are static, so the filter costs no query (the default filter for a
    field without choices would read DISTINCT triggers over the whole log).
    `?run__trigger=` is also what Django's own field filter would accept.
    """

    title = "run trigger"
    parameter_name = "run__trigger"

    def lookups(self, request, model_admin):
        return ReminderRun.Trigger.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(run__trigger=self.value())
        return queryset


class RetryFilter(admin.SimpleListFilter):
    """Failed reminders that a later run retries, and those it never will
    (ReminderLogQuerySet.given_up_q(), as the health panel counts them)."""

    title = "retry"
    parameter_name = "retry"
    GIVEN_UP = "given_up"

    def lookups(self, request, model_admin):
        return [("pending", "Will be retried"), (self.GIVEN_UP, "Failed for good")]

    def queryset(self, request, queryset):
        given_up = ReminderLog.objects.given_up_q(max_attempts=settings.REMINDER_MAX_ATTEMPTS)
        if self.value() == self.GIVEN_UP:
            return queryset.filter(given_up)
        if self.value() == "pending":
            return queryset.filter(status=ReminderLog.Status.FAILED).exclude(given_up)
        return queryset


def given_up_url() -> str:
    """The reminder log filtered to reminders that failed for good."""
    changelist = reverse("admin:reminders_app_reminderlog_changelist")
    return f"{changelist}?{RetryFilter.parameter_name}={RetryFilter.GIVEN_UP}"


@admin.register(ReminderLog)
class ReminderLogAdmin(ReadOnlyAdmin):
    list_display = ["id", "task_link", "due_at", "status", "sent_at", "attempts", "run_column"]
    list_filter = [
        "status",
        RetryFilter,
        ("sent_at", admin.DateFieldListFilter),
        RunTriggerFilter,
    ]
    date_hierarchy = "sent_at"
    # Only columns an index can order at a million rows.
    sortable_by = ["id", "sent_at"]
    list_select_related = ["task"]
    # The unfiltered total is a second COUNT(*) over the whole table: skip it.
    show_full_result_count = False
    search_fields = ["=task__id", "=run__id"]
    search_help_text = "A task id (a number) or a run id (a UUID), exactly."
    fields = [
        "task_link",
        "due_at",
        "status",
        "run_column",
        "claimed_at",
        "sent_at",
        "attempts",
        "next_attempt_at",
        "error",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="task", ordering="task_id")
    def task_link(self, obj):
        url = reverse("admin:tasks_app_task_change", args=[obj.task_id])
        return format_html('<a href="{}">{}: {}</a>', url, obj.task_id, obj.task.title)

    @admin.display(description="run")
    def run_column(self, obj):
        return run_link(obj.run_id)

    def get_search_results(self, request, queryset, search_term):
        """Exact matches on the task id or the run id, each served by an index.

        Anything that is neither a number nor a UUID matches nothing (no error, no
        scan); a 32-digit number could be either, so both are tried.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = []
        if term.isascii() and term.isdigit() and int(term) <= MAX_TASK_ID:
            matches.append(queryset.filter(task_id=int(term)))
        try:
            matches.append(queryset.filter(run_id=uuid.UUID(term)))
        except ValueError:
            pass
        if not matches:
            return queryset.none(), False
        return matches[0] if len(matches) == 1 else matches[0] | matches[1], False


@admin.register(ReminderRun)
class ReminderRunAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "trigger",
        "slot",
        "lag_shown",
        "duration_shown",
        "selected",
        "sent",
        "skipped",
        "failed",
        "status",
        "reminders_link",
    ]
    list_filter = ["status", "trigger"]
    date_hierarchy = "started_at"
    sortable_by = ["started_at"]
    show_full_result_count = False
    search_fields = ["=id"]
    search_help_text = "A run id (a UUID), exactly."
    fields = [
        "id",
        "status",
        "trigger",
        "started_at",
        "finished_at",
        "duration_shown",
        "heartbeat_at",
        "scheduled_for",
        "lag_shown",
        "window_start",
        "window_end",
        "selected",
        "sent",
        "skipped",
        "failed",
        "error",
        "hostname",
        "pid",
        "reminders_link",
    ]
    readonly_fields = fields

    @admin.display(description="slot")
    def slot(self, obj):
        """The hour a scheduled run was meant for (empty for a run by hand)."""
        return obj.scheduled_for

    @admin.display(description="lag")
    def lag_shown(self, obj):
        """How late a scheduled run started after its slot."""
        return _elapsed(obj.lag)

    @admin.display(description="duration")
    def duration_shown(self, obj):
        return _elapsed(obj.duration)

    @admin.display(description="reminders")
    def reminders_link(self, obj):
        return format_html('<a href="{}">reminders</a>', reminders_of_run_url(obj.pk))

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(pk=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False


# --- The hourly schedule: staff may pause it or move its next run, nothing else ---------


class ScheduleForm(forms.ModelForm):
    def clean_name(self):
        name = self.cleaned_data.get("name")
        if name == SCHEDULE_NAME and (self.instance.pk is None or self.instance.name != name):
            raise forms.ValidationError(f"{SCHEDULE_NAME!r} is the reminder job's schedule.")
        return name


admin.site.unregister(Schedule)


@admin.register(Schedule)
class ScheduleAdmin(DjangoQScheduleAdmin):
    """django-q2's schedule admin, except for the reminder job's row.

    That row's function, arguments, hook, cadence, cluster and name are read-only and it
    cannot be deleted: whoever could edit them could run any function in the worker, or
    stop the reminders without a trace. Pausing (repeats = 0) and next_run stay
    editable. No other schedule may take its name. `migrate` restores the row in any
    case (reminders_app.schedule.ensure_schedule).
    """

    form = ScheduleForm

    @staticmethod
    def _is_reminder_schedule(obj) -> bool:
        return obj is not None and obj.name == SCHEDULE_NAME

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if self._is_reminder_schedule(obj):
            fields += [name for name in ["name", *FIXED_FIELDS] if name not in fields]
        return fields

    def has_delete_permission(self, request, obj=None):
        if self._is_reminder_schedule(obj):
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        """Refuse "delete selected" when the reminder schedule is among the rows."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        if any(self._is_reminder_schedule(obj) for obj in objs):
            perms_needed.add(f"the reminder schedule {SCHEDULE_NAME!r}")
        return deleted, model_count, perms_needed, protected
