"""What the reminder admins share: read-only permissions, the trail's columns and
the active-filters subtitle."""

from django.contrib import admin
from django.db.models import Value
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from reminders_app.conf import task_fields
from reminders_app.models import ReminderLog, ReminderRun


class ReadOnlyPermissions:
    """For a ModelAdmin or an inline: viewable with the view permission, never
    written through the admin, whoever asks."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def located(action_location) -> dict:
    """The keyword a get_actions() override passes on to Django's: Django 6.1 asks
    for the actions of the change list or of the change form (action_location);
    5.2 has only the change list's and no such argument."""
    return {} if action_location is None else {"action_location": action_location}


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


def elapsed(span) -> str | None:
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


def task_link(task):
    """ "id: title", a link to the task's admin page when the host has one."""
    opts = task._meta
    title = getattr(task, task_fields().title)
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[task.pk])
    except NoReverseMatch:
        return f"{task.pk}: {title}"
    return format_html('<a href="{}">{}: {}</a>', url, task.pk, title)


def run_link(run_id):
    url = reverse("admin:reminders_app_reminderrun_change", args=[run_id])
    return format_html('<a href="{}" title="{}">{}</a>', url, run_id, str(run_id)[:8])


def reminders_of_run_url(run_id) -> str:
    """The reminder log filtered to one run."""
    return f"{reverse('admin:reminders_app_reminderlog_changelist')}?run__id__exact={run_id}"
