"""A host project's settings: reminders_app installed with two settings of its own."""

import os

import dj_database_url

SECRET_KEY = "a-host-project-key-for-tests-only-0123456789abcdefghijklmnop"
DEBUG = True
ALLOWED_HOSTS = ["testserver", "localhost"]
USE_TZ = True
TIME_ZONE = "Europe/Berlin"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "hostsite.urls"
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_q",
    "todo",
    "reminders_app",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
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
