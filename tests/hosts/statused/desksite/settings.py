"""A help desk's project: tickets due at a time, open while their status is one of
several, with one assignee; reminders_app from its wheel, fitted to the tickets by
settings alone."""

from hostbase import *  # noqa: F403

TIME_ZONE = "Asia/Tokyo"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "desksite.urls"
INSTALLED_APPS = [*DJANGO_APPS, "django_q", "helpdesk", "reminders_app"]  # noqa: F405
Q_CLUSTER = {"name": "helpdesk", "orm": "default", "timeout": 540, "retry": 900}

# All reminders_app needs: the model, the names of its fields for each role, and
# which statuses are open (there is no completion date to read).
REMINDER_TASK_MODEL = "helpdesk.Ticket"
REMINDER_TASK_FIELDS = {"due_at": "due", "owner": "assignee", "title": "subject"}
REMINDER_TASK_OPEN = {"status__in": [1, 2, 3]}  # new, open, waiting
