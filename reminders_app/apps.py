from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class RemindersAppConfig(AppConfig):
    name = "reminders_app"
    verbose_name = "Reminders"

    def ready(self):
        from reminders_app import checks  # noqa: F401  (registers the system checks)
        from reminders_app.schedule import restore_schedule_after_migrate

        # Every `migrate` restores the hourly schedule if it is missing or altered.
        post_migrate.connect(restore_schedule_after_migrate, sender=self)
        if apps.is_installed("django.contrib.admin"):
            from reminders_app.admin.host import extend_host_admins

            # The host's task and user admins, registered by now (the admin app,
            # first in INSTALLED_APPS, imported every admin module in its ready()).
            extend_host_admins()
