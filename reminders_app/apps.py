from django.apps import AppConfig


class RemindersAppConfig(AppConfig):
    name = "reminders_app"
    verbose_name = "Reminders"

    def ready(self):
        # Registers the system checks; the schedule itself is data (migration 0002).
        from reminders_app import checks  # noqa: F401
