from django.apps import AppConfig


class ChoresConfig(AppConfig):
    name = "chores"
    # The host's own choice, whatever the project around it says.
    default_auto_field = "django.db.models.AutoField"
