"""A Django project that is not this one (tests/hostproject: its own settings, a
`todo.Item` model with other field names, a channel of its own, nothing of tasksite
or tasks_app) installs reminders_app from its wheel and uses it as
docs/reusable-app.md says: it migrates, reminds exactly its open items due within a
day, lists them in its admin by its own names, and delivers through its own channel.

Everything runs in child processes whose only copy of reminders_app is the one the
wheel installed."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.processes import PROJECT

HOST = PROJECT / "tests" / "hostproject"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
# What a checkout holds besides its sources.
NOT_SOURCES = [".git", ".venv", "build", "*.egg-info", "__pycache__", "*.sqlite3", ".*cache"]
NOT_SOURCES += ["test-artifacts", "staticfiles", ".hypothesis"]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel --no-deps .` in a copy of the checkout (setuptools leaves build/ and
    egg-info behind, which a later build would pick up): reminders_app's wheel."""
    out = tmp_path_factory.mktemp("wheel")
    tree = tmp_path_factory.mktemp("checkout") / "project"
    shutil.copytree(PROJECT, tree, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run(
        [*pip, "-w", str(out), "."],
        check=True,
        cwd=tree,
        env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory):
    """The wheel installed into a directory of its own, as a host's pip would."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    return target


def test_the_wheel_holds_reminders_app_alone_with_migrations_and_templates(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}

    assert {top for top in tops if not top.endswith(".dist-info")} == {"reminders_app"}
    for needed in [
        "reminders_app/migrations/0001_initial.py",
        "reminders_app/templates/reminders/email/body.html",
        "reminders_app/templates/admin/reminders_app/reminderrun/change_form.html",
        "reminders_app/templatetags/reminder_admin.py",
        "reminders_app/management/commands/send_reminders.py",
    ]:
        assert needed in names
    metadata = zipfile.Path(wheel, next(n for n in names if n.endswith("METADATA"))).read_text()
    assert "Requires-Dist: Django" in metadata
    assert "Requires-Dist: django-q2" in metadata
    assert 'Requires-Dist: psycopg[binary]>=3.1; extra == "postgres"' in metadata


def test_the_wheel_installs_beside_the_django_it_is_tested_on(wheel):
    """pip, offline, takes the wheel with what this environment has (Django 5.2 here,
    6.1 in make test-django6's root): its requirements admit both."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )

    assert result.returncode == 0, result.stderr
    assert "Would install django-task-reminders-1.0.0" in result.stdout


@pytest.fixture
def host_db(tmp_path):
    """A database of the host's own: beside the test database on PostgreSQL, a file
    on SQLite."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'host.sqlite3'}"
        return
    db = connection.settings_dict
    user, address = db.get("USER") or "postgres", db.get("HOST") or "127.0.0.1"
    server = f"postgres://{user}@{address}:{db.get('PORT') or 5432}"
    name = f"{db['NAME']}_host"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def host(installed, database_url, *args, code: str | None = None):
    """Run `django-admin ARGS` (or `shell -c CODE`) in the host project; only the
    wheel's reminders_app is importable (the checkout is not on the path)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "REMINDER_", "Q_CLUSTER", "PYTHON"))
    }
    env |= {
        "PYTHONPATH": os.pathsep.join([str(installed), str(HOST)]),
        "DJANGO_SETTINGS_MODULE": "hostsite.settings",
        "DATABASE_URL": database_url,
    }
    command = [sys.executable, "-m", "django", *args]
    if code is not None:
        command += ["shell", "--no-imports", "-c", code]
    return subprocess.run(command, cwd=installed, env=env, capture_output=True, text=True)


SEED = f"""
from datetime import datetime, timedelta
from django.contrib.auth.models import User
from todo.models import Item
now = datetime.fromisoformat("{NOW.isoformat()}")
ann = User.objects.create_superuser("ann", "ann@example.com", "pw")
bob = User.objects.create_user("bob", "bob@example.com")
due = [
    Item.objects.create(name="Water the ficus", assignee=ann, deadline=now + timedelta(hours=2)),
    Item.objects.create(name="Pay the rent", assignee=bob, deadline=now + timedelta(hours=24)),
]
Item.objects.create(name="Done already", assignee=ann, deadline=now + timedelta(hours=3),
                    done_at=now)
Item.objects.create(name="Next week", assignee=ann, deadline=now + timedelta(days=7))
Item.objects.create(name="Some day", assignee=bob)
Item.objects.create(name="Missed", assignee=bob, deadline=now - timedelta(hours=1))
print(sorted(item.pk for item in due))
"""

INSPECT = """
import json
from django.test import Client
from django.contrib.auth.models import User
from reminders_app.models import ReminderLog
from todo.models import Item, Notification
import reminders_app
client = Client()
client.force_login(User.objects.get(username="ann"))
trail = client.get("/admin/reminders_app/reminderlog/")
item = Item.objects.get(name="Water the ficus")
page = client.get(f"/admin/todo/item/{item.pk}/change/")
print(json.dumps({
    "app": reminders_app.__file__,
    "reminded": sorted(ReminderLog.objects.filter(status="sent").values_list("task_id", flat=True)),
    "inbox": sorted(Notification.objects.values_list("item_id", flat=True)),
    "trail_status": trail.status_code,
    "trail": trail.content.decode(),
    "item_page_status": page.status_code,
    "item_page": page.content.decode(),
}))
"""


def test_a_host_project_reminds_its_own_items_through_its_own_channel(installed, host_db):
    migrate = host(installed, host_db, "migrate", "--no-input")
    assert migrate.returncode == 0, migrate.stderr
    check = host(installed, host_db, "check", "--fail-level", "WARNING")
    assert check.returncode == 0, check.stderr
    assert host(installed, host_db, "makemigrations", "--check", "--dry-run").returncode == 0

    seeded = host(installed, host_db, code=SEED)
    assert seeded.returncode == 0, seeded.stderr
    due_ids = json.loads(seeded.stdout)

    run = host(installed, host_db, "send_reminders", "--json", "--now", NOW.isoformat())
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert (summary["selected"], summary["sent"], summary["failed"]) == (2, 2, 0)

    again = host(installed, host_db, "send_reminders", "--json", "--now", NOW.isoformat())
    assert json.loads(again.stdout)["selected"] == 0

    facts = host(installed, host_db, code=INSPECT)
    assert facts.returncode == 0, facts.stderr
    facts = json.loads(facts.stdout)
    assert facts["app"].startswith(str(installed))  # the wheel's copy, not the checkout
    assert facts["reminded"] == due_ids
    assert facts["inbox"] == due_ids  # delivered by the host's own channel
    # The trail in the host's admin, in the host's words: its model's name as the
    # column, each item by its own name, linked to the item's page.
    assert facts["trail_status"] == 200
    assert 'class="column-task_link"' in facts["trail"]
    assert ">Item</a>" in facts["trail"] or ">Item<" in facts["trail"]
    assert f"{due_ids[0]}: Water the ficus" in facts["trail"]
    assert f"/admin/todo/item/{due_ids[0]}/change/" in facts["trail"]
    assert f"{due_ids[1]}: Pay the rent" in facts["trail"]
    # The item's own page shows its reminders (the inline reminders_app adds).
    assert facts["item_page_status"] == 200
    assert "reminders" in facts["item_page"].lower()
    assert "Sent" in facts["item_page"]


def test_a_host_with_a_wrong_mapping_is_told_in_one_line(installed, host_db, tmp_path):
    settings = tmp_path / "badsite"
    settings.mkdir()
    (settings / "__init__.py").write_text("")
    (settings / "settings.py").write_text(
        "from hostsite.settings import *\n"
        "REMINDER_TASK_FIELDS = {**REMINDER_TASK_FIELDS, 'due_at': 'due_date'}\n"
    )
    env_path = os.pathsep.join([str(installed), str(HOST), str(tmp_path)])
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=tmp_path,
        env=dict(
            os.environ,
            PYTHONPATH=env_path,
            DJANGO_SETTINGS_MODULE="badsite.settings",
            DATABASE_URL=host_db,
        ),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert (
        "reminders_app.E003) REMINDER_TASK_FIELDS: todo.Item has no field 'due_date' "
        "(the 'due_at' role)" in result.stderr
    )
