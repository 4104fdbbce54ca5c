"""The user admin's "Erase personal data" action (reminders_app.erasure), for
superusers only, behind a confirmation page that lists who will be erased."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse

from reminders_app.erasure import erase_user
from reminders_app.roles import task_roles

ERASE_ACTION = "erase_personal_data"


@admin.action(description="Erase personal data")
def erase_personal_data(modeladmin, request, queryset):
    if not request.user.is_superuser:
        raise PermissionDenied
    people = list(queryset.order_by("pk"))
    if any(person.pk == request.user.pk for person in people):
        modeladmin.message_user(
            request, "You cannot erase your own account while logged in to it.", messages.ERROR
        )
        return None
    if request.POST.get("post") != "yes":
        return confirmation(modeladmin, request, people)
    with transaction.atomic():
        for person in people:
            erase_user(person)
            person.refresh_from_db()
            modeladmin.log_change(request, person, "Erased personal data.")
    count = len(people)
    modeladmin.message_user(
        request,
        f"Erased the personal data of {count} user{pluralize(count)}: "
        + ", ".join(person.get_username() for person in people),
        messages.SUCCESS,
    )
    return None


def confirmation(modeladmin, request, people):
    """Who will be erased: id, login, name, address, and how many tasks name only
    them (those erasure rewrites; a shared task is left as it is)."""
    roles = task_roles()
    login = modeladmin.model._meta.get_field(modeladmin.model.USERNAME_FIELD)
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Erase personal data?",
        "opts": opts,
        "login_name": login.verbose_name,
        "people": [
            {
                "pk": person.pk,
                "login": person.get_username(),
                "name": person.get_full_name() if hasattr(person, "get_full_name") else "",
                "email": getattr(person, person.get_email_field_name(), ""),
                # One count per person selected: "names only them" is a query each.
                "tasks": roles.tasks_naming_only(person.pk).count(),
            }
            for person in people
        ],
        "action_name": ERASE_ACTION,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "task_name": roles.model._meta.verbose_name,
        "task_name_plural": roles.model._meta.verbose_name_plural,
    }
    return TemplateResponse(request, "admin/reminders_app/erase_personal_data.html", context)
