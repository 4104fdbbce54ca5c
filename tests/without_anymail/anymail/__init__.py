"""Stands in for django-anymail where it is not installed: with this folder first on
PYTHONPATH, `import anymail` fails as it does in an install without it (a host that
did not take reminders_app's [anymail] extra). Used by tests/test_host_project.py."""

raise ModuleNotFoundError("No module named 'anymail'", name="anymail")
