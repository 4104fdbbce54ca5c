"""The audit trail in the admin: reminders and runs, read-only for everyone.

Nobody, superusers included, may add, change or delete a reminder or a run here:
the has_*_permission methods below refuse, so the admin hides the buttons and answers
a crafted POST with 403. The list pages run a fixed number of queries whatever the
row count (list_select_related, no full-table count).
"""

import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Value
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django_q.admin import ScheduleAdmin as DjangoQScheduleAdmin
from django_q.models import Schedule
from django_q.status import Stat
from django_q.tasks import async_task

from reminders_app import charts
from reminders_app.models import ReminderLog, ReminderPreference, ReminderRun, time_zone_names
from reminders_app.plan import RunPlan
from reminders_app.runs import COUNT_FIELDS
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


def active_filters(cl) -> list[str]:
    """What narrows a changelist, as "title: choice" phrases: the sidebar's filters,
    the date drill-down, a run's reminders and the search."""
    shown = []
    params = cl.params
    for spec in cl.filter_specs:
        if not any(name in params for name in spec.expected_parameters()):
            continue
        selected = [choice["display"] for choice in spec.choices(cl) if choice["selected"]]
        values = [str(params[name]) for name in spec.expected_parameters() if name in params]
        shown.append(f"{spec.title}: {', '.join(map(str, selected or values))}")
    if cl.date_hierarchy:
        field = cl.date_hierarchy
        parts = [params.get(f"{field}__{part}") for part in ("year", "month", "day")]
        if parts[0]:
            label = cl.model._meta.get_field(field).verbose_name
            shown.append(f"{label}: {'-'.join(p.zfill(2) for p in parts if p)}")
    if run_id := params.get("run__id__exact"):
        shown.append(f"run: {str(run_id)[:8]}")
    if cl.query:
        shown.append(f"search: {cl.query}")
    return shown


class ReadOnlyAdmin(ReadOnlyPermissions, admin.ModelAdmin):
    """History: the reminder log and the runs."""

    actions = None
    # Filter counts ("Show counts") are a COUNT(*) per choice over the whole table.
    show_facets = admin.ShowFacets.NEVER

    def changelist_view(self, request, extra_context=None):
        """Name the active filters under the title (and in the window's title)."""
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        if "cl" in context and (filters := active_filters(context["cl"])):
            context["subtitle"] = "Filtered by " + "; ".join(filters)
        return response


def owner_column(user_id: int, username: str, *, linked: bool) -> str:
    """The owner as user id and username (never the address); a link to the user
    only for those who may view users, so nobody follows a link to a 403."""
    text = f"{user_id} · {username}"
    if not linked:
        return text
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:auth_user_change", args=[user_id]), text
    )


def with_owner_linkable(queryset, request):
    """Rows carrying whether the viewer may open the owner's page: display methods
    get the row, not the request."""
    return queryset.annotate(owner_linkable=Value(request.user.has_perm("auth.view_user")))


def channel_name(path: str) -> str:
    """A channel's class name, its full dotted path on hover."""
    if not path:
        return "—"
    return format_html('<span title="{}">{}</span>', path, path.rsplit(".", 1)[-1])


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
class ReminderLogAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "task_link",
        "owner",
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
    # The task, its owner and the run come in the page's one query, not one per row.
    list_select_related = ["task__owner", "run"]
    # The unfiltered total is a second COUNT(*) over the whole table: skip it.
    show_full_result_count = False
    search_fields = ["=task__id", "=run__id"]
    search_help_text = "A task id (a number) or a run id (a UUID), exactly."
    fields = [
        "task_link",
        "owner",
        "due_at",
        "status",
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

    @admin.display(description="task", ordering="task_id")
    def task_link(self, obj):
        url = reverse("admin:tasks_app_task_change", args=[obj.task_id])
        return format_html('<a href="{}">{}: {}</a>', url, obj.task_id, obj.task.title)

    @admin.display(description="run")
    def run_column(self, obj):
        return run_link(obj.run_id)

    @admin.display(description="owner")
    def owner(self, obj):
        owner = obj.task.owner
        return owner_column(owner.pk, owner.get_username(), linked=obj.owner_linkable)

    @admin.display(description="channel")
    def channel(self, obj):
        return channel_name(obj.run.channel)

    def get_queryset(self, request):
        return with_owner_linkable(super().get_queryset(request), request)

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
    # Fits 1400 px beside the filters: the slot is on the run's page (the lag says
    # how far from it the run started); the rarer outcomes share a column.
    list_display = [
        "short_id",
        "started_at",
        "trigger",
        "status",
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
        *COUNT_FIELDS,
        "channel_shown",
        "error",
        "hostname",
        "pid",
        "reminders_link",
    ]
    readonly_fields = fields

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


# --- Send now --------------------------------------------------------------------

SEND_NOW_PERMISSION = "reminders_app.send_reminders_now"
JOB = "reminders_app.jobs.process_reminders"


def running_clusters() -> list:
    """The django-q2 clusters that reported in the last few seconds (their
    statistics live in the shared `django_q` cache table)."""
    return Stat.get_all()


def admin_runs_url() -> str:
    return f"{reverse('admin:reminders_app_reminderrun_changelist')}?trigger__exact=admin"


def send_now_view(model_admin: ReminderRunAdmin, request):
    """Queue one run of the job on the cluster (trigger `admin`), after a
    confirmation. Without a running cluster it says so and queues nothing: the run
    would wait unseen until a cluster starts, when the schedule runs anyway."""
    if not request.user.has_perm(SEND_NOW_PERMISSION):
        raise PermissionDenied
    clusters = running_clusters()
    if request.method == "POST" and clusters:
        task_id = async_task(JOB, trigger=ReminderRun.Trigger.ADMIN, task_name="send-now")
        messages.success(
            request,
            format_html(
                "Queued a run of the reminder job (task {}). It will appear in "
                '<a href="{}">Reminder runs started from the admin</a> once the cluster '
                "picks it up, usually within seconds.",
                task_id[:8],
                admin_runs_url(),
            ),
        )
        return HttpResponseRedirect(admin_runs_url())
    plan = RunPlan.build()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Send reminders now",
        "opts": model_admin.opts,
        "clusters": clusters,
        "window_start": plan.start,
        "window_end": plan.end,
        "channel": settings.REMINDER_CHANNEL,
        "admin_runs_url": admin_runs_url(),
    }
    status = 200 if clusters or request.method == "GET" else 409
    return TemplateResponse(
        request, "admin/reminders_app/reminderrun/send_now.html", context, status=status
    )


# --- People's preferences --------------------------------------------------------


class ReminderPreferenceForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        required=False,
        help_text="Due times in reminder mails are shown in this zone. Empty: the site's "
        "default (REMINDER_DEFAULT_TIME_ZONE).",
    )

    class Meta:
        model = ReminderPreference
        fields = ["user", "time_zone", "email_enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        default = f"Default ({settings.REMINDER_DEFAULT_TIME_ZONE})"
        self.fields["time_zone"].choices = [("", default)] + [
            (name, name) for name in sorted(time_zone_names())
        ]


class ReminderPreferenceInline(admin.StackedInline):
    """On a user's page: their reminder preference (none means the defaults)."""

    model = ReminderPreference
    form = ReminderPreferenceForm
    can_delete = False
    max_num = 1
    verbose_name_plural = "reminder preference"


@admin.register(ReminderPreference)
class ReminderPreferenceAdmin(admin.ModelAdmin):
    form = ReminderPreferenceForm
    list_display = ["user", "time_zone", "email_enabled", "updated_at"]
    list_filter = ["email_enabled"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]
    show_facets = admin.ShowFacets.NEVER
