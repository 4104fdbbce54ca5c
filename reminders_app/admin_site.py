"""The admin site: Django's, plus the reminder worker's health on the index page.

INSTALLED_APPS names RemindersAdminConfig in place of "django.contrib.admin", so this
module is imported before the models are ready: it imports them only when called.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class ReminderAdminSite(admin.AdminSite):
    site_header = "Task reminders"
    site_title = "Task reminders admin"
    # No "View site" link: the project has no public site besides the admin.
    site_url = None
    # Three models need no navigation sidebar; without it a list's columns fit a
    # 1400 px window beside its filters.
    enable_nav_sidebar = False
    # Django's index with the health panel and charts above the apps.
    index_template = "admin/reminders_app/index.html"

    def index(self, request, extra_context=None):
        """Show staff who may view runs the same facts as `reminders_status`, and
        charts of the last week's reminders and the last runs."""
        from reminders_app import charts
        from reminders_app.admin.reminders import given_up_url
        from reminders_app.health import check_health

        extra_context = extra_context or {}
        if request.user.has_perm("reminders_app.view_reminderrun"):
            extra_context["reminder_health"] = check_health()
            extra_context["reminders_given_up_url"] = given_up_url()
            extra_context["reminder_charts"] = [
                charts.reminders_per_hour(),
                *charts.run_times(),
            ]
        return super().index(request, extra_context)

    def get_urls(self):
        from django.urls import path

        # First, so it answers for Django's own "view on site" redirect.
        view_on_site = self.admin_view(_view_on_site)
        return [
            path("r/<path:content_type_id>/<path:object_id>/", view_on_site, name="view_on_site"),
            *super().get_urls(),
        ]


def _view_on_site(request, content_type_id, object_id):
    """Django's "view on site" redirect, answering 404 for an id its model cannot hold
    (a run's is a UUID): Django's catches a ValueError but not a ValidationError, and
    answered 500."""
    from django.contrib.contenttypes.views import shortcut
    from django.core.exceptions import ValidationError
    from django.http import Http404

    try:
        return shortcut(request, content_type_id, object_id)
    except ValidationError:
        raise Http404("no such object") from None


class RemindersAdminConfig(AdminConfig):
    default_site = "reminders_app.admin_site.ReminderAdminSite"
