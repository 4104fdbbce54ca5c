"""The reminder trail: every ReminderLog row, read-only for everyone.

Nobody, superusers included, may add, change or delete a reminder here: the
has_*_permission methods refuse, so the admin hides the buttons and answers a
crafted POST with 403. The list runs a fixed number of queries whatever the row
count: the run in the page's query, the tasks and the recipients in one more query
each (prefetched, so a row whose task or person was deleted stays, read as such), no
full-table count.

Nothing here reads the task model on import: a host that has not set
REMINDER_TASK_MODEL reaches check reminders_app.E003, which says what to set.
"""

import uuid
from dataclasses import replace

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import lazy
from django.utils.html import format_html

from reminders_app.admin.common import (
    ReadOnlyAdmin,
    RecipientColumn,
    channel_name,
    kept,
    may_view_people,
    person_column,
    run_link,
    task_link,
)
from reminders_app.admin.runs import TriggerFilter
from reminders_app.conf import settings, task_model
from reminders_app.models import ReminderLog
from reminders_app.plan import RunPlan
from reminders_app.roles import task_roles
from reminders_app.selection import next_batch
from reminders_app.suppressions import EXPLANATIONS

# Task ids are BigAutoField values; a longer number cannot be one.
MAX_TASK_ID = 2**63 - 1


def task_name() -> str:
    """What the host calls its tasks ("item", "ticket"...)."""
    return str(task_model()._meta.verbose_name)


# The task column's heading, read when a page is drawn.
task_heading = lazy(task_name, str)


class RunTriggerFilter(TriggerFilter):
    title = "run trigger"
    parameter_name = "run__trigger"


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
class ReminderLogAdmin(RecipientColumn, ReadOnlyAdmin):
    list_display = [
        "id",
        "task_link",
        "recipient_shown",
        "due_at",
        "status",
        "sent_at",
        "attempts",
        "run_column",
        "channel",
    ]
    list_filter = [
        "status",
        RetryFilter,
        ("sent_at", admin.DateFieldListFilter),
        RunTriggerFilter,
    ]
    date_hierarchy = "sent_at"
    # Only columns an index can order at a million rows.
    sortable_by = ["id", "sent_at"]
    # The unfiltered total is a second COUNT(*) over the whole table: skip it.
    show_full_result_count = False
    search_fields = ["=task__id", "=run__id"]
    fields = [
        "task_link",
        "recipient_shown",
        "due_at",
        "status",
        "retry",
        "suppressed_because",
        "run_column",
        "channel",
        "claimed_at",
        "sent_at",
        "attempts",
        "next_attempt_at",
        "error",
        "created_at",
    ]
    readonly_fields = fields

    # The run comes in the page's own query (a run is never deleted while it has
    # reminders); tasks and people in get_queryset()'s prefetches.
    list_select_related = ["run"]

    @property
    def search_help_text(self):
        return f"A {task_name()} id (a number) or a run id (a UUID), exactly."

    @admin.display(description=task_heading(), ordering="task_id")
    def task_link(self, obj):
        return task_link(obj.task_id, kept(obj, "task"))

    @admin.display(description="run")
    def run_column(self, obj):
        return run_link(obj.run_id)

    @admin.display(description="retry")
    def retry(self, obj):
        """For a failed reminder, whether a run will try it again (the retry filter's
        "failed for good", ReminderLogQuerySet.given_up_q())."""
        if obj.status != ReminderLog.Status.FAILED:
            return self.get_empty_value_display()
        most = settings.REMINDER_MAX_ATTEMPTS
        made = f"{obj.attempts} of {most} attempt{pluralize(most)} made"
        if ReminderLog.objects.given_up(max_attempts=most).filter(pk=obj.pk).exists():
            return format_html(
                "<strong>Failed for good</strong>: no run will retry it ({}). "
                '<a href="{}">All failed for good</a>',
                made,
                given_up_url(),
            )
        when = date_format(timezone.localtime(obj.next_attempt_at), "DATETIME_FORMAT")
        return f"Will be retried by the first run from {when} ({made})."

    @admin.display(description="suppressed because")
    def suppressed_because(self, obj):
        """For a suppressed reminder, why it was not mailed (its error says it in short:
        reminders_app.suppressions)."""
        if obj.status != ReminderLog.Status.SUPPRESSED:
            return self.get_empty_value_display()
        return EXPLANATIONS.get(obj.error, obj.error)

    @admin.display(description="channel")
    def channel(self, obj):
        return channel_name(obj.run.channel)

    def changelist_view(self, request, extra_context=None):
        """The list, headed by the reminders held for their recipients' quiet hours
        right now (held_reminders())."""
        return super().changelist_view(
            request, {**(extra_context or {}), "held": held_reminders(request.user)}
        )

    def get_queryset(self, request):
        """Each page's tasks in one query (their titles only), as its recipients
        (RecipientColumn): a join would drop the rows whose task was deleted."""
        roles = task_roles()
        tasks = roles.model._base_manager.only(roles.fields.title)
        return super().get_queryset(request).prefetch_related(Prefetch("task", queryset=tasks))

    def get_search_results(self, request, queryset, search_term):
        """Exact matches on the task id or the run id, each served by an index.

        Anything that is neither a number nor a UUID matches nothing (no error, no
        scan); a 32-digit number could be either, so both are tried.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = []
        # Digits only, and no more than an id can have: int() refuses 4,300 and more.
        if term.isascii() and term.isdigit() and len(term) <= 19 and int(term) <= MAX_TASK_ID:
            matches.append(queryset.filter(task_id=int(term)))
        try:
            matches.append(queryset.filter(run_id=uuid.UUID(term)))
        except ValueError:
            pass
        if not matches:
            return queryset.none(), False
        return matches[0] if len(matches) == 1 else matches[0] | matches[1], False


# The held reminders the reminder log shows at most; it says when there are more.
HELD_SHOWN = 50


def held_reminders(user) -> dict | None:
    """The reminders a run now would hold for quiet hours (they have no row yet), as
    the reminder log heads them: each with its task, recipient, due date and the run
    it goes with, at most HELD_SHOWN of them, soonest due first. None when nobody is
    inside their quiet hours: one query of the preferences, and no selection.

    The selection is the job's own (selection.due_reminders, held), limited to the
    people who are quiet, so it reads their tasks only, at any size of the log."""
    plan = RunPlan.build()
    if not plan.quiet:
        return None
    goes_at = {quiet.person_id: quiet.goes_at for quiet in plan.quiet}
    rows = next_batch(replace(plan, batch_size=HELD_SHOWN + 1), held=True)
    roles = task_roles()
    tasks = roles.model._base_manager.only(roles.fields.title).in_bulk({r[0] for r in rows})
    people = get_user_model()._base_manager.in_bulk({r[1] for r in rows})
    linked = may_view_people(user)
    return {
        "more": len(rows) > HELD_SHOWN,
        "rows": [
            {
                "task": task_link(task_id, tasks.get(task_id)),
                "recipient": person_column(person, people.get(person), linked=linked),
                "due_at": date_format(timezone.localtime(due_at), "DATETIME_FORMAT"),
                "goes_at": date_format(timezone.localtime(goes_at[person]), "DATETIME_FORMAT"),
            }
            for task_id, person, due_at in rows[:HELD_SHOWN]
        ],
    }
