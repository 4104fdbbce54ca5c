"""A household's project: the third-party chores app (a due day, a done flag, several
assignees, the chore's creator), a nightly sweep of its own on django-q2, and
reminders_app from its wheel, fitted to the chores by settings alone."""

from hostbase import *  # noqa: F403

TIME_ZONE = "America/Chicago"
# The host's choice of ids; reminders_app keeps its own (its app config's).
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
ROOT_URLCONF = "homesite.urls"
INSTALLED_APPS = [*DJANGO_APPS, "django_q", "chores", "household", "reminders_app"]  # noqa: F405

# The household's own cluster, which also runs its nightly sweep (household.tasks).
# guard_cycle 30: django-q2 calls its scheduler on the first cycle after start, so a
# test's cluster runs what is due at once.
Q_CLUSTER = {"name": "household", "orm": "default", "timeout": 540, "retry": 900}
Q_CLUSTER |= {"guard_cycle": 30, "poll": 0.1}

# All reminders_app needs: the model and the names of its fields for each role.
REMINDER_TASK_MODEL = "chores.Chore"
REMINDER_TASK_FIELDS = {
    "due_at": "due_on",  # a DateField: due at REMINDER_DUE_TIME in each person's zone
    "completed_at": "done",  # a BooleanField: open while false
    "owner": "assignees",  # a ManyToManyField: each assignee is reminded
    "fallback_owner": "creator",  # reminded when a chore has no assignee
}
