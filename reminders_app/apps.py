from django.apps import AppConfig


class RemindersAppConfig(AppConfig):
    name = "reminders_app"
    verbose_name = "Reminders"
