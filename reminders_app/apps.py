from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RemindersAppConfig(AppConfig):
    name = "reminders_app"
    verbose_name = "Reminders"

    def ready(self):
        from reminders_app import checks  # noqa: F401  (registers the system checks)
        from reminders_app.schedule import restore_schedule_after_migrate

        # Every `migrate` restores the hourly schedule if it is missing or altered.
        post_migrate.connect(restore_schedule_after_migrate, sender=self)
