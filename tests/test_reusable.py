"""reminders_app stands apart: its settings have defaults of its own, it imports
nothing of the project that ships it, and `check` says what is wrong with a host's
task model or mapping, one line each."""

import ast
import re
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from reminders_app.conf import DEFAULTS, settings
from tests.processes import PROJECT


def imported_modules(package: str) -> dict[str, set[str]]:
    """Each module of a package (by path) and the top-level names it imports."""
    found = {}
    for path in sorted((PROJECT / package).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(PROJECT))] = names
    return found


def test_reminders_app_imports_nothing_of_the_project_or_its_choices():
    project_only = {"tasksite", "tasks_app", "tests", "axes", "whitenoise", "pythonjsonlogger"}
    offenders = {
        path: sorted(names & project_only)
        for path, names in imported_modules("reminders_app").items()
        if names & project_only
    }
    assert offenders == {}


def test_tasks_app_imports_nothing_of_reminders_app():
    offenders = [
        path for path, names in imported_modules("tasks_app").items() if "reminders_app" in names
    ]
    assert offenders == []


def test_every_reminder_setting_has_a_default_inside_the_app():
    """The settings a host need not set: each REMINDER_* name the app reads."""
    names = set()
    for path in (PROJECT / "reminders_app").rglob("*.py"):
        names |= set(re.findall(r"settings\.(REMINDER_[A-Z_]+)", path.read_text()))
    assert names
    assert names - DEFAULTS.keys() == set()


def test_a_setting_the_project_leaves_unset_falls_back_to_the_apps_default():
    with override_settings():
        from django.conf import settings as django_settings

        del django_settings.REMINDER_BATCH_SIZE
        assert settings.REMINDER_BATCH_SIZE == DEFAULTS["REMINDER_BATCH_SIZE"]


def messages(**overrides) -> list[str]:
    with override_settings(**overrides):
        return [
            f"{message.id}: {message.msg}"
            for message in run_checks()
            if message.id in {"reminders_app.E003", "reminders_app.W004"}
        ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"due_at": "deadline"},
            "reminders_app.E003: REMINDER_TASK_FIELDS: tasks_app.Task has no field "
            "'deadline' (the 'due_at' role)",
        ),
        (
            {"title": "owner"},
            "reminders_app.E003: REMINDER_TASK_FIELDS: tasks_app.Task.owner (the 'title' role) "
            "is a ForeignKey, not a CharField or TextField",
        ),
        (
            {"completed_at": "created_at"},
            "reminders_app.E003: REMINDER_TASK_FIELDS: tasks_app.Task.created_at (the "
            "'completed_at' role) must be nullable (null while open), or a BooleanField "
            "(false while open)",
        ),
        (
            {"completed_at": "title"},
            "reminders_app.E003: REMINDER_TASK_FIELDS: tasks_app.Task.title (the "
            "'completed_at' role) is a CharField, not a DateTimeField or DateField or "
            "BooleanField",
        ),
        (
            {"owner": "title"},
            "reminders_app.E003: REMINDER_TASK_FIELDS: tasks_app.Task.title (the 'owner' role) "
            "is a CharField, not a ForeignKey or ManyToManyField",
        ),
        (
            {"fallback_owner": "due_at"},
            "reminders_app.E003: REMINDER_TASK_FIELDS: tasks_app.Task.due_at (the "
            "'fallback_owner' role) is a DateTimeField, not a ForeignKey",
        ),
        (
            {"deadline": "due_at"},
            "reminders_app.E003: REMINDER_TASK_FIELDS has unknown roles ['deadline']; the roles "
            "are ['due_at', 'completed_at', 'owner', 'fallback_owner', 'title']",
        ),
    ],
)
@pytest.mark.django_db
def test_check_names_what_is_wrong_with_the_mapping(fields, expected):
    assert messages(REMINDER_TASK_FIELDS=fields) == [expected]


@pytest.mark.parametrize(
    ("lookups", "expected"),
    [
        (
            {"state__in": [1, 2]},
            "reminders_app.E003: REMINDER_TASK_OPEN does not filter tasks_app.Task: Cannot "
            "resolve keyword 'state' into field.",
        ),
        (
            {"due_at__before": 1},
            "reminders_app.E003: REMINDER_TASK_OPEN does not filter tasks_app.Task: "
            "Unsupported lookup 'before' for DateTimeField or join on the field not permitted.",
        ),
        (
            ["completed_at__isnull"],
            "reminders_app.E003: REMINDER_TASK_OPEN must be a dict of field lookups an open task "
            "matches, such as {'status__in': [1, 2]}",
        ),
    ],
)
@pytest.mark.django_db
def test_check_explains_a_bad_open_lookup_in_one_line(lookups, expected):
    (message,) = messages(REMINDER_TASK_OPEN=lookups)
    assert message.startswith(expected)
    assert "\n" not in message


@pytest.mark.django_db
def test_open_lookups_replace_the_completed_at_role():
    """With REMINDER_TASK_OPEN, completed_at need not name a field at all."""
    assert (
        messages(
            REMINDER_TASK_OPEN={"completed_at__isnull": True},
            REMINDER_TASK_FIELDS={"completed_at": "finished"},
        )
        == []
    )


@pytest.mark.parametrize("due_time", ["9:00", "25:00", "09:00:00", "nine"])
@pytest.mark.django_db
def test_check_names_a_bad_due_time(due_time):
    assert messages(REMINDER_DUE_TIME=due_time) == [
        "reminders_app.E003: REMINDER_DUE_TIME must be a time of day written HH:MM, such as 09:00"
    ]


@pytest.mark.django_db
def test_check_says_the_task_model_is_not_set():
    assert messages(REMINDER_TASK_MODEL=None) == [
        "reminders_app.E003: REMINDER_TASK_MODEL is not set: name the model your tasks are, "
        "such as REMINDER_TASK_MODEL = 'todo.Item' (docs/reusable-app.md)"
    ]


@pytest.mark.django_db
def test_check_names_a_task_model_that_is_not_installed():
    assert messages(REMINDER_TASK_MODEL="todo.Item") == [
        "reminders_app.E003: REMINDER_TASK_MODEL refers to 'todo.Item', which is not an "
        "installed model"
    ]


@pytest.mark.django_db
def test_the_projects_own_task_model_passes_with_its_due_index():
    assert messages() == []


@pytest.mark.django_db
def test_check_names_the_index_a_task_model_without_one_needs(monkeypatch):
    from tasks_app.models import Task

    monkeypatch.setattr(Task._meta, "indexes", [])

    (warning,) = messages()
    assert warning.startswith(
        "reminders_app.W004: tasks_app.Task has no index on (due_at, id): the reminder job "
        "reads open, dated tasks in that order"
    )


def test_wheel_sources_have_no_project_paths():
    """The app's templates live in the app (the project has no templates directory)."""
    assert not (PROJECT / "templates").exists()
    assert (PROJECT / "reminders_app/templates/admin/reminders_app/index.html").is_file()
    assert Path(PROJECT / "reminders_app/templates/reminders/email/body.html").is_file()
