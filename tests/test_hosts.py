"""Host projects of other shapes (tests/hosts) install reminders_app's wheel beside
their own code and set only the mapping: each migrates and checks clean, reminds
exactly the right people on the right due instant across zones, reminds nobody on a
rerun, deletes reminded tasks and people through its own code (the ORM and its
admin's delete view) while the trail keeps every row, and serves its admin.

- dated: a household's chores (a due day, a done flag, several assignees, the creator
  as fallback) on AutoField ids, with a django-q2 schedule of its own that a real
  `qcluster` runs beside the reminder job;
- statused: a help desk's tickets (a due time, open as a status among several, one
  nullable assignee); without REMINDER_TASK_MODEL, it is told what to set in one line;
- emailuser: a user model that logs in by email, on psycopg2 (PostgreSQL only).

Each step is one child process whose only reminders_app is the wheel's
(tests/hosting.py)."""

import json
import re
import subprocess
from datetime import datetime, timedelta

import pytest

from tests.conftest import NOW
from tests.hosting import HOSTS, WITHOUT_PSYCOPG3, Host
from tests.processes import stop, wait_for

# Deletes reminded tasks and people through the host's own code, the ORM's delete()
# and the admin's delete view, then opens the admin's pages as staff. Prints the trail
# before and after, what the deletions answered and left, each page's status and the
# text of those that name people. `order` (prepended) names the rows: ids of the staff
# user, the tasks and people to delete, and a task and a person left standing.
DELETE_AND_BROWSE = """
import json
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils.http import urlencode
from reminders_app.models import ReminderLog, ReminderPreference

Task, User = apps.get_model(settings.REMINDER_TASK_MODEL), get_user_model()


def trail():
    rows = ReminderLog.objects.order_by("id")
    return [[r.id, r.task_id, r.recipient_id, r.due_at.isoformat(), r.status] for r in rows]


def url(model, view, *args):
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def answer(method, page, *data):  # the response, or the error it raised, in a line
    try:
        return method(page, *data)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def status(response):
    return getattr(response, "status_code", response)


before = trail()
staff = Client()
staff.force_login(User._default_manager.get(pk=order["staff"]))
Task._default_manager.get(pk=order["task_by_orm"]).delete()
User._default_manager.get(pk=order["person_by_orm"]).delete()
answers = {
    "task": answer(staff.post, url(Task, "delete", order["task_by_admin"]), {"post": "yes"}),
    "person": answer(staff.post, url(User, "delete", order["person_by_admin"]), {"post": "yes"}),
}
left = {
    "tasks": Task._default_manager.filter(
        pk__in=[order["task_by_orm"], order["task_by_admin"]]
    ).count(),
    "people": User._default_manager.filter(
        pk__in=[order["person_by_orm"], order["person_by_admin"]]
    ).count(),
}
standing = User._default_manager.get(pk=order["person"])
of_gone_task = ReminderLog.objects.filter(task_id=order["task_by_orm"]).first()
of_gone_person = ReminderLog.objects.filter(recipient_id=order["person_by_orm"]).first()
pages = {
    "reminders": url(ReminderLog, "changelist"),
    "reminder of a deleted task": url(ReminderLog, "change", of_gone_task.pk),
    "reminder of a deleted person": url(ReminderLog, "change", of_gone_person.pk),
    "tasks": url(Task, "changelist"),
    "task": url(Task, "change", order["task"]),
    "people": url(User, "changelist"),
    "person": url(User, "change", order["person"]),
    "preferences": url(ReminderPreference, "changelist"),
    "preferences found by login": url(ReminderPreference, "changelist")
    + "?" + urlencode({"q": standing.get_username()}),
}
texts = ["reminders", "reminder of a deleted task", "reminder of a deleted person"]
texts.append("preferences found by login")
answered = {name: answer(staff.get, page) for name, page in pages.items()}
print(json.dumps({
    "before": before,
    "after": trail(),
    "answers": {name: status(response) for name, response in answers.items()},
    "left": left,
    "pages": {name: status(response) for name, response in answered.items()},
    "texts": {name: getattr(answered[name], "text", "") for name in texts},
    "login": standing.get_username(),
    "person_page": pages["person"],
}))
"""


def ready(host: Host) -> None:
    """`migrate`, then `check` and `makemigrations` say nothing is amiss."""
    for step in (
        ["migrate", "--no-input", "-v0"],
        ["check", "--fail-level", "WARNING"],
        ["makemigrations", "--check", "--dry-run"],
    ):
        result = host.run(*step)
        assert result.returncode == 0, f"{step[0]}: {result.stdout}{result.stderr}"


def prove(
    host: Host, seed: str, *, tasks: tuple[str, str, str], people: tuple[str, str, str]
) -> dict:
    """What every host must do, one child process a step: migrate and check clean, run
    `seed`, `send_reminders` at NOW and again (the rerun reminds nobody), then delete
    `tasks` and `people` (by title and login: the first with the ORM, the second in the
    admin; the third is left standing) and browse the admin as the seed's staff user.

    Returns what was reminded, as sorted (task title, recipient login, due instant)
    rows, the database driver's module, and what the admin showed (admin_serves())."""
    ready(host)
    ids = host.facts(seed)
    task, person = ids["tasks"], ids["people"]
    runs = [host.run("send_reminders", "--json", "--now", NOW.isoformat()) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, again = (json.loads(run.stdout) for run in runs)
    assert (first["failed"], again["selected"], again["sent"]) == (0, 0, 0)

    order = {
        "staff": ids["staff"],
        "task_by_orm": task[tasks[0]],
        "task_by_admin": task[tasks[1]],
        "task": task[tasks[2]],
        "person_by_orm": person[people[0]],
        "person_by_admin": person[people[1]],
        "person": person[people[2]],
    }
    facts = host.facts(f"order = {order!r}\n{DELETE_AND_BROWSE}")
    # Deleted through the host's own code: the admin's deletions went through
    # (302: back to the list) and nothing deleted is left.
    assert facts["answers"] == {"task": 302, "person": 302}
    assert facts["left"] == {"tasks": 0, "people": 0}
    # The trail keeps every row, ids and all.
    assert facts["after"] == facts["before"]

    title = {pk: name for name, pk in task.items()}
    login = {pk: name for name, pk in person.items()}
    sent = [row for row in facts["before"] if row[4] == "sent"]
    assert first["sent"] == len(sent)
    return {
        "reminded": sorted((title[t], login[p], due) for _, t, p, due, _ in sent),
        "driver": ids["driver"],
        "admin": facts,
    }


def admin_serves(outcome: dict, *, tasks_called: str) -> None:
    """After the deletions, every admin page answered 200 (a reminder whose task or
    person is gone included); the reminder list names the person left standing by
    their login and links to their page in the user admin; a reminder of a deleted
    task (in the host's word for its tasks) or person says so; the preferences are
    found by login."""
    admin = outcome["admin"]
    assert admin["pages"] == dict.fromkeys(admin["pages"], 200)
    texts = admin["texts"]
    assert shows(texts["reminders"], admin["login"])
    assert f'href="{admin["person_page"]}"' in texts["reminders"]
    assert f"deleted {tasks_called}" in texts["reminder of a deleted task"]
    assert "deleted person" in texts["reminder of a deleted person"]
    assert shows(texts["preferences found by login"], admin["login"])


# A seed's frame: `person(login, zone)` makes a person (with a preference when a zone
# is given), `staff` is a superuser, `now` is NOW; at the end it prints the ids of
# every task (by title) and person (by login), the staff user's, and the module of the
# database driver's connection.
SEED_START = """
import json
from datetime import date, datetime, timedelta
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from reminders_app.models import ReminderPreference

User = get_user_model()


def person(login, zone=""):
    user = User._default_manager.create_user(login)
    if zone:
        ReminderPreference.objects.create(user=user, time_zone=zone)
    return user
"""
SEED_END = """
from django.db import connection
Task = apps.get_model(settings.REMINDER_TASK_MODEL)
title = settings.REMINDER_TASK_FIELDS.get("title", "title")
print(json.dumps({
    "tasks": dict(Task._default_manager.values_list(title, "pk")),
    "people": dict(User._default_manager.values_list(User.USERNAME_FIELD, "pk")),
    "staff": staff.pk,
    "driver": type(connection.connection).__module__,
}))
"""


def seed(body: str, *, staff: str = "boss") -> str:
    """A host's seed script: its `body` in the frame above."""
    return (
        f"{SEED_START}\nnow = datetime.fromisoformat({NOW.isoformat()!r})\n"
        f"staff = User._default_manager.create_superuser({staff!r})\n{body}{SEED_END}"
    )


def shows(page: str, word: str) -> bool:
    """Whether a page's text has `word` as a word of its own."""
    return re.search(rf"(?<![\w.@]){re.escape(word)}(?![\w.@])", page) is not None


def at(day: int, hour: int) -> str:
    """An instant of March 2026 in UTC, as the trail prints it."""
    return datetime(2026, 3, day, hour, tzinfo=NOW.tzinfo).isoformat()


def later(hours: float) -> str:
    """NOW + hours, as the trail prints it."""
    return (NOW + timedelta(hours=hours)).isoformat()


# --- dated: a household's chores -------------------------------------------------

SEED_DATED = seed(
    """
from django.utils import timezone
from django_q.models import Schedule
from chores.models import Chore


def chore(title, day, assignees=(), creator=None, done=False):
    made = Chore.objects.create(title=title, due_on=day, creator=creator, done=done)
    made.assignees.set(assignees)


ann = person("ann")  # no preference: the default zone, UTC
kiri = person("kiri", "Pacific/Kiritimati")  # UTC+14, far east
baker = person("baker", "Etc/GMT+12")  # UTC-12, far west
bob = person("bob", "Europe/Berlin")  # UTC+1 in March
march = lambda day: date(2026, 3, day)
chore("Water the plants", march(11), [ann, kiri, baker])
chore("Take out the bins", march(10), [baker, bob])
chore("Fix the gate", march(11), creator=bob)
chore("Sweep the porch", march(11), [kiri], creator=ann)
chore("Clean the oven", march(11), [ann], done=True)
chore("Defrost the freezer", march(9), [ann, kiri, baker])
chore("Wash the car", march(12), [ann, kiri, baker])
chore("Mend the fence", march(11))
chore("Some day", None, [ann])
# Due by the real clock, for the cluster's scheduled run: Sam lives where it is about
# 21:00 now, so 09:00 tomorrow there is about 12 hours away.
offset = (21 - timezone.now().hour) % 24
offset -= 24 if offset > 14 else 0
sam = person("sam", f"Etc/GMT{-offset:+d}")
chore("Feed the cat", (timezone.now() + timedelta(hours=offset + 12)).date(), [sam])
# The household's sweep and the reminder job both due now, as if their hour had come:
# at minute 0, where `migrate` keeps the reminder job's next run.
due = Schedule.objects.filter(name__in=["nightly-sweep", "send-due-reminders"])
assert due.update(next_run=timezone.now().replace(minute=0, second=0, microsecond=0)) == 2
"""
)

# After the cluster ran: what the sweep did, and the scheduled reminder run.
AFTER_CLUSTER = """
import json
from django_q.models import Success
from reminders_app.models import ReminderRun
from chores.models import Chore
from household.models import Sweep

run = ReminderRun.objects.get(trigger="schedule")
print(json.dumps({
    "succeeded": sorted(Success.objects.values_list("func", flat=True)),
    "sweeps": list(Sweep.objects.values_list("removed", flat=True)),
    "done_chores": Chore.objects.filter(done=True).count(),
    "run": [run.status, run.sent],
    "reminded": list(run.reminders.values_list("task__title", "recipient__username")),
}))
"""
SWEEP, JOB = "household.tasks.sweep", "reminders_app.jobs.process_reminders"


def test_a_household_reminds_each_assignee_on_their_own_day_and_keeps_its_own_schedule(
    installed, host_db, tmp_path
):
    host = Host(HOSTS / "dated", "homesite.settings", installed, host_db)
    outcome = prove(
        host,
        SEED_DATED,
        tasks=("Fix the gate", "Water the plants", "Sweep the porch"),
        people=("baker", "kiri", "bob"),
    )

    # A due day falls due at 09:00 in each person's zone: Kiritimati's 11 March is
    # still 10 March in UTC, Baker Island's 10 March is late that day in UTC; the
    # creator is reminded of a chore without assignees, never of one with them.
    assert outcome["reminded"] == sorted(
        [
            ("Water the plants", "ann", at(11, 9)),
            ("Water the plants", "kiri", at(10, 19)),
            ("Take out the bins", "baker", at(10, 21)),
            ("Fix the gate", "bob", at(11, 8)),
            ("Sweep the porch", "kiri", at(10, 19)),
        ]
    )

    # A redeploy (migrate, then the cluster) with the household's own schedule
    # present, both schedules due (SEED_DATED). The guard is off (the host leaves
    # Q_CLUSTER_ALLOWED_FUNCTIONS unset): the cluster runs the household's sweep as
    # well as the reminder job.
    migrate = host.run("migrate", "--no-input", "-v0")
    assert migrate.returncode == 0, migrate.stderr
    log = tmp_path / "qcluster.log"

    def ran(func: str) -> bool:  # django-q2's line for a task it ran, either way
        return any(f"{word} '{func}'" in log.read_text() for word in ("Processed", "Failed"))

    with log.open("w") as out:
        cluster = host.start(
            "qcluster", stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_for(
                lambda: cluster.poll() is not None or all(ran(func) for func in (SWEEP, JOB)),
                what="the cluster to run both schedules",
            )
        finally:
            status = stop(cluster)
    assert f"Processed '{SWEEP}'" in log.read_text(), log.read_text()
    assert f"Processed '{JOB}'" in log.read_text(), log.read_text()
    assert status == [0]

    after = host.facts(AFTER_CLUSTER)
    assert after["succeeded"] == sorted([SWEEP, JOB])
    assert (after["sweeps"], after["done_chores"]) == ([1], 0)  # "Clean the oven"
    assert after["run"] == ["succeeded", 1]
    assert after["reminded"] == [["Feed the cat", "sam"]]

    admin_serves(outcome, tasks_called="chore")


# --- statused: a help desk's tickets ---------------------------------------------

SEED_STATUSED = seed(
    """
from helpdesk.models import Ticket

east = person("east", "Pacific/Kiritimati")
west = person("west", "Etc/GMT+12")
kim = person("kim", "Asia/Tokyo")
NEW, OPEN, WAITING, SOLVED, CLOSED = Ticket.Status


def ticket(subject, status, hours=None, assignee=None):
    due = None if hours is None else now + timedelta(hours=hours)
    Ticket.objects.create(subject=subject, status=status, due=due, assignee=assignee)


ticket("Printer on fire", NEW, 1, east)
ticket("VPN drops", OPEN, 23, west)
ticket("Invoice missing", WAITING, 24, kim)  # the window's end is inclusive
ticket("Password reset", SOLVED, 2, east)
ticket("Old laptop", CLOSED, 2, west)
ticket("Nobody's ticket", OPEN, 2)
ticket("Overdue", OPEN, -1, kim)
ticket("Next week", OPEN, 25, kim)
ticket("Some day", OPEN, None, kim)
"""
)


def test_a_help_desk_reminds_the_assignee_of_each_ticket_open_in_one_of_its_statuses(
    installed, host_db
):
    host = Host(HOSTS / "statused", "desksite.settings", installed, host_db)
    outcome = prove(
        host,
        SEED_STATUSED,
        tasks=("Printer on fire", "VPN drops", "Invoice missing"),
        people=("east", "west", "kim"),
    )

    # Open means new, open or waiting (REMINDER_TASK_OPEN); a due time is the same
    # instant in every zone.
    assert outcome["reminded"] == sorted(
        [
            ("Printer on fire", "east", later(1)),
            ("VPN drops", "west", later(23)),
            ("Invoice missing", "kim", later(24)),
        ]
    )
    admin_serves(outcome, tasks_called="ticket")


def test_a_host_that_names_no_task_model_is_told_what_to_set_in_one_line(
    installed, host_db, tmp_path
):
    host = Host(HOSTS / "statused", "desksite.settings", installed, host_db)
    unmapped = host.variant(tmp_path, "del REMINDER_TASK_MODEL\n")
    for step in (["check"], ["migrate", "--no-input"]):
        result = unmapped.run(*step)
        assert result.returncode != 0, step
        assert "Traceback" not in result.stderr, result.stderr
        errors = [line for line in result.stderr.splitlines() if "reminders_app.E" in line]
        assert errors == [
            "?: (reminders_app.E003) REMINDER_TASK_MODEL is not set: name the model your tasks "
            "are, such as REMINDER_TASK_MODEL = 'todo.Item' (docs/reusable-app.md)"
        ], result.stderr


# --- emailuser: members who log in by email, on psycopg2 -------------------------

SEED_EMAILUSER = seed(
    """
from workorders.models import WorkOrder

east = person("east@example.com", "Pacific/Kiritimati")
west = person("west@example.com", "Etc/GMT+12")
plain = person("plain@example.com")


def order(summary, hours, owner, finished=False):
    WorkOrder.objects.create(
        summary=summary,
        deadline=now + timedelta(hours=hours),
        owner=owner,
        finished_at=now if finished else None,
    )


order("Replace the boiler", 2, east)
order("Oil the hinges", 10, east)
order("Inspect the roof", 20, west)
order("Check the alarm", 3, plain)
order("Paint the hall", 5, plain, finished=True)
order("Fix the lift", 30, plain)
""",
    staff="boss@example.com",
)


@pytest.mark.postgres
def test_a_crew_whose_members_log_in_by_email_is_reminded_on_psycopg2(installed, host_db):
    host = Host(
        HOSTS / "emailuser", "crewsite.settings", installed, host_db, path=(WITHOUT_PSYCOPG3,)
    )
    outcome = prove(
        host,
        SEED_EMAILUSER,
        tasks=("Replace the boiler", "Inspect the roof", "Oil the hinges"),
        # The first's work orders go with them (the host's CASCADE), reminded ones too.
        people=("plain@example.com", "west@example.com", "east@example.com"),
    )

    assert outcome["driver"] == "psycopg2.extensions"  # the host's own connection
    assert outcome["reminded"] == sorted(
        [
            ("Replace the boiler", "east@example.com", later(2)),
            ("Oil the hinges", "east@example.com", later(10)),
            ("Inspect the roof", "west@example.com", later(20)),
            ("Check the alarm", "plain@example.com", later(3)),
        ]
    )
    admin_serves(outcome, tasks_called="work order")
