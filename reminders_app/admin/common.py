"""What the reminder admins share: read-only permissions, the trail's columns (a
task or a person the trail outlived included) and the active-filters subtitle."""

from django.contrib import admin
from django.contrib.admin.templatetags.admin_urls import admin_urlname
from django.contrib.auth import get_permission_codename, get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Value
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from reminders_app.roles import task_roles


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


def may_view_people(user) -> bool:
    """Whether `user` may open people's pages in the admin: the view permission on
    the user model, whichever it is."""
    opts = get_user_model()._meta
    return user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}")


def kept(reminder, name: str):
    """What the reminder's `name` key points at, or None once it was deleted: the
    trail keeps the id and nothing else (its keys carry no database constraint)."""
    try:
        return getattr(reminder, name)
    except ObjectDoesNotExist:
        return None


def person_column(user_id, person, *, linked: bool) -> str:
    """A person as user id and login (get_username(), never the address); a link to
    their page in the user admin only for those who may view users, so nobody follows
    a link to a 403. "id · deleted person" once they were deleted."""
    if person is None:
        return format_html("<em>{} · deleted person</em>", user_id)
    text = f"{user_id} · {person.get_username()}"
    if not linked:
        return text
    try:
        url = reverse(admin_urlname(get_user_model()._meta, "change"), args=[user_id])
    except NoReverseMatch:  # a host without a user admin
        return text
    return format_html('<a href="{}">{}</a>', url, text)


class RecipientColumn:
    """For the trail's admins (the reminder log, a task's reminders): the column
    `recipient_shown`, the person each reminder was for (ReminderLog.recipient)."""

    def get_queryset(self, request):
        """Each page's recipients in one query whatever its rows (a join would drop
        the rows of people who were deleted), each row carrying whether the viewer
        may open the recipient's page: display methods get the row, not the request."""
        return (
            super()
            .get_queryset(request)
            .prefetch_related("recipient")
            .annotate(recipient_linkable=Value(may_view_people(request.user)))
        )

    @admin.display(description="recipient")
    def recipient_shown(self, obj):
        if obj.recipient_id is None:  # claimed before recipients were recorded
            return self.get_empty_value_display()
        return person_column(
            obj.recipient_id, kept(obj, "recipient"), linked=obj.recipient_linkable
        )


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


def task_link(task_id, task):
    """ "id: title", a link to the task's admin page when the host has one; "id:
    deleted task" (as the host names its tasks) once the task was deleted."""
    roles = task_roles()
    if task is None:
        return format_html("<em>{}: deleted {}</em>", task_id, roles.model._meta.verbose_name)
    try:
        url = reverse(admin_urlname(roles.model._meta, "change"), args=[task_id])
    except NoReverseMatch:
        return f"{task_id}: {roles.title(task)}"
    return format_html('<a href="{}">{}: {}</a>', url, task_id, roles.title(task))


def run_link(run_id):
    url = reverse("admin:reminders_app_reminderrun_change", args=[run_id])
    return format_html('<a href="{}" title="{}">{}</a>', url, run_id, str(run_id)[:8])


def reminders_of_run_url(run_id) -> str:
    """The reminder log filtered to one run."""
    return f"{reverse('admin:reminders_app_reminderlog_changelist')}?run__id__exact={run_id}"
