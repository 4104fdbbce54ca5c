"""A Django project that is not this one (tests/hostproject: its own settings, a
`todo.Item` model with other field names, a channel of its own, nothing of tasksite
or tasks_app) installs reminders_app from its wheel and uses it as
docs/reusable-app.md says: it migrates, reminds exactly its open items due within a
day, lists them in its admin by its own names, and delivers through its own channel.

Everything runs in child processes whose only copy of reminders_app is the one the
wheel installed."""

import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime

from tests.hosting import Host
from tests.processes import PROJECT

HOST = PROJECT / "tests" / "hostproject"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


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
    # The demo is this project's own (tasksite), with its public password.
    assert not [name for name in names if "demo" in name]
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


def host(installed, database_url, *args, code: str | None = None):
    """Run `django-admin ARGS` (or `shell -c CODE`) in the host project."""
    return Host(HOST, "hostsite.settings", installed, database_url).run(*args, code=code)


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
    bad = Host(HOST, "hostsite.settings", installed, host_db).variant(
        tmp_path, "REMINDER_TASK_FIELDS = {**REMINDER_TASK_FIELDS, 'due_at': 'due_date'}\n"
    )
    result = bad.run("check")
    assert result.returncode == 1
    assert (
        "reminders_app.E003) REMINDER_TASK_FIELDS: todo.Item has no field 'due_date' "
        "(the 'due_at' role)" in result.stderr
    )
