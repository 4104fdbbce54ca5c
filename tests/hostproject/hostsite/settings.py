"""A host project's settings: reminders_app installed with two settings of its own."""

from hostbase import *  # noqa: F403  (tests/hosts/hostbase.py)

TIME_ZONE = "Europe/Berlin"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "hostsite.urls"
INSTALLED_APPS = [*DJANGO_APPS, "django_q", "todo", "reminders_app"]  # noqa: F405
Q_CLUSTER = {"name": "todo", "orm": "default", "timeout": 540, "retry": 900}

# All reminders_app needs: the model and the names of its fields for each role.
REMINDER_TASK_MODEL = "todo.Item"
REMINDER_TASK_FIELDS = {
    "due_at": "deadline",
    "completed_at": "done_at",
    "owner": "assignee",
    "title": "name",
}
# And, by choice, a channel of its own.
REMINDER_CHANNEL = "todo.channels.InboxChannel"
