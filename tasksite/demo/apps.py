from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo's data (`manage.py seed_demo`, run by `make demo`): this project's own,
    never part of reminders_app's wheel."""

    name = "tasksite.demo"
    label = "demo"
