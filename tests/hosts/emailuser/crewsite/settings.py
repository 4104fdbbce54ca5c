"""A maintenance crew's project: members log in by email (a user model with no
username), work orders are theirs; PostgreSQL on psycopg2. reminders_app from its
wheel, fitted to the work orders by settings alone."""

from hostbase import *  # noqa: F403

TIME_ZONE = "Europe/London"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "crewsite.urls"
INSTALLED_APPS = [*DJANGO_APPS, "django_q", "members", "workorders", "reminders_app"]  # noqa: F405
AUTH_USER_MODEL = "members.Member"
Q_CLUSTER = {"name": "crew", "orm": "default", "timeout": 540, "retry": 900}

# All reminders_app needs: the model and the names of its fields that differ from the
# roles' own (the owner is `owner`).
REMINDER_TASK_MODEL = "workorders.WorkOrder"
REMINDER_TASK_FIELDS = {"due_at": "deadline", "completed_at": "finished_at", "title": "summary"}
