"""The runs of the reminder job, read-only for everyone, with each run's chart and
the "Send now" page (reminders_app.admin.send_now)."""

import uuid

from django.contrib import admin
from django.urls import path
from django.utils.html import format_html
from django.utils.text import capfirst

from reminders_app import charts
from reminders_app.admin.common import (
    ReadOnlyAdmin,
    ReadOnlyPermissions,
    channel_name,
    elapsed,
    reminders_of_run_url,
)
from reminders_app.admin.send_now import SEND_NOW_PERMISSION, send_now_view
from reminders_app.models import ReminderRun
from reminders_app.runs import COUNT_FIELDS


class TriggerFilter(admin.SimpleListFilter):
    """Filter runs by trigger, or reminders by their run's trigger.

    The choices are static, so the filter costs no query (Django's default filter
    for a field without choices reads DISTINCT values over the whole table, and
    offers no "admin" choice before the first run from the admin).
    The parameter is what Django's own field filter would accept.
    """

    title = "trigger"
    parameter_name = "trigger__exact"

    def lookups(self, request, model_admin):
        return ReminderRun.Trigger.choices

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.parameter_name: self.value()})
        return queryset


@admin.display(description="status", ordering="status")
def status_shown(run):
    """Succeeded only when no reminder failed: "Finished with 2 failed"."""
    return capfirst(run.outcome)


class PartInline(ReadOnlyPermissions, admin.TabularInline):
    """A run in parts (REMINDER_WORKERS, `send_reminders --workers`): each part, the
    process that ran it, its slice of the window, its outcome and its counts."""

    model = ReminderRun
    fk_name = "parent"
    verbose_name = "part"
    verbose_name_plural = "parts"
    fields = [
        "worker",
        status_shown,
        "window_start",
        "window_end",
        "duration_shown",
        *COUNT_FIELDS,
    ]
    readonly_fields = fields
    ordering = ["window_start", "started_at"]
    show_change_link = True
    extra = 0

    @admin.display(description="duration")
    def duration_shown(self, obj):
        return elapsed(obj.duration)


@admin.register(ReminderRun)
class ReminderRunAdmin(ReadOnlyAdmin):
    # Fits 1400 px beside the filters: the slot is on the run's page (the lag says
    # how far from it the run started); the rarer outcomes share a column.
    list_display = [
        "short_id",
        "started_at",
        "trigger",
        status_shown,
        "lag_shown",
        "duration_shown",
        "selected",
        "sent",
        "failed",
        "other_outcomes",
        "reminders_link",
    ]
    list_display_links = ["short_id"]
    list_filter = ["status", TriggerFilter]
    date_hierarchy = "started_at"
    sortable_by = ["started_at"]
    show_full_result_count = False
    search_fields = ["=id"]
    search_help_text = "A run id (a UUID), exactly."
    fields = [
        "id",
        status_shown,
        "trigger",
        "started_at",
        "finished_at",
        "duration_shown",
        "heartbeat_at",
        "scheduled_for",
        "lag_shown",
        "window_start",
        "window_end",
        *COUNT_FIELDS,
        "channel_shown",
        "error",
        "hostname",
        "pid",
        "worker",
        "parent",
        "reminders_link",
    ]
    readonly_fields = fields
    inlines = [PartInline]

    def get_inlines(self, request, obj):
        """The parts table on the page of a run in parts only: a run in one
        process has none to list."""
        return self.inlines if obj is not None and obj.parts.exists() else []

    def get_queryset(self, request):
        """The list shows runs; a run in parts lists its parts on its own page."""
        runs = super().get_queryset(request)
        match = request.resolver_match
        if match and match.url_name == "reminders_app_reminderrun_changelist":
            return runs.filter(parent__isnull=True)
        return runs

    def get_urls(self):
        send_now = self.admin_site.admin_view(lambda request: send_now_view(self, request))
        return [
            path("send-now/", send_now, name="reminders_app_reminderrun_send_now"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_send_now": request.user.has_perm(SEND_NOW_PERMISSION),
        }
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["run_chart"] = charts.run_counts(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="run", ordering="started_at")
    def short_id(self, obj):
        """The first 8 hex digits: enough to tell runs apart, the whole id on hover."""
        return format_html('<span title="{}">{}</span>', obj.pk, str(obj.pk)[:8])

    @admin.display(description="channel")
    def channel_shown(self, obj):
        return channel_name(obj.channel)

    @admin.display(description="other")
    def other_outcomes(self, obj):
        """Skipped, released and suppressed, those that are not 0."""
        counts = [
            (obj.skipped, "skipped"),
            (obj.released, "released"),
            (obj.suppressed, "suppressed"),
        ]
        return ", ".join(f"{count:,} {name}" for count, name in counts if count) or None

    # A display method's None reads "None" on the run's page: say "-" as for fields.
    @admin.display(description="lag")
    def lag_shown(self, obj):
        """How late a scheduled run started after its slot."""
        return elapsed(obj.lag) or self.get_empty_value_display()

    @admin.display(description="duration")
    def duration_shown(self, obj):
        return elapsed(obj.duration) or self.get_empty_value_display()

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
