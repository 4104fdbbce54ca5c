from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.db.models import Value
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from tasks_app.models import Task

# Task ids are BigAutoField values; a longer number cannot be one.
MAX_ID = 2**63 - 1


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
        hours = settings.REMINDER_WINDOW_HOURS
        return [
            ("overdue", "Overdue"),
            ("window", f"Within {hours:g} hour{pluralize(hours)}"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "overdue":
            return queryset.overdue(now)
        if self.value() == "window":
            window = timedelta(hours=settings.REMINDER_WINDOW_HOURS)
            return queryset.open().due_between(now, now + window)
        return queryset


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    """Tasks. reminders_app adds each task's reminders and the last one's status
    (reminders_app.admin.host)."""

    list_display = ["id", "title", "owner_shown", "due_at", "is_open"]
    list_filter = [OpenFilter, DueFilter]
    list_select_related = ["owner"]
    search_fields = ["title"]
    search_help_text = "Words of the title, or a task id (a number), exactly."
    raw_id_fields = ["owner"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    # Newest first, by the primary key: at a million tasks an order by due date
    # sorts the whole table (with each row's last-reminder subquery) for every page.
    # The due filters narrow to the open, dated tasks that task_open_due_idx holds.
    ordering = ["-id"]
    sortable_by = []
    fields = ["title", "description", "owner", "due_at", "completed_at"]

    def get_fields(self, request, obj=None):
        """Those who may not change the task see its owner as text, not as the raw
        id widget's link to a user page they may not open."""
        fields = super().get_fields(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fields
        return ["owner_shown" if name == "owner" else name for name in fields]

    def get_readonly_fields(self, request, obj=None):
        return ["owner_shown"]

    def get_queryset(self, request):
        # Rows carry whether the viewer may open the owner's page: display methods
        # get the row, not the request.
        may_view_users = request.user.has_perm("auth.view_user")
        return super().get_queryset(request).annotate(owner_linkable=Value(may_view_users))

    def get_search_results(self, request, queryset, search_term):
        """Titles containing the words, and the task whose id is the term: the
        reminder log names tasks as "11: title". A term that is not a number only
        searches titles."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        # Digits only, and no more than an id can have: int() refuses 4,300 and more.
        if term.isascii() and term.isdigit() and len(term) <= 19 and int(term) <= MAX_ID:
            results |= queryset.filter(pk=int(term))
        return results, may_have_duplicates

    @admin.display(description="owner", ordering="owner_id")
    def owner_shown(self, obj):
        """The owner as user id and username (never the address); a link to the user
        only for those who may view users, so nobody follows a link to a 403."""
        text = f"{obj.owner_id} · {obj.owner.get_username()}"
        if not obj.owner_linkable:
            return text
        url = reverse("admin:auth_user_change", args=[obj.owner_id])
        return format_html('<a href="{}">{}</a>', url, text)

    @admin.display(description="open", boolean=True, ordering="completed_at")
    def is_open(self, obj):
        return obj.is_open
