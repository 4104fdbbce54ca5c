"""What any Django project with the admin has, shared by the host projects under
tests/hosts and tests/hostproject: the database from DATABASE_URL, Django's own apps,
middleware and templates. Each host's settings add its own apps, models and reminders_app's mapping;
nothing here is reminders_app's or this repository's project's."""

import os

import dj_database_url

SECRET_KEY = "a-host-project-key-for-tests-only-0123456789abcdefghijklmnop"
DEBUG = True
ALLOWED_HOSTS = ["testserver", "localhost"]
USE_TZ = True
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}

DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
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
