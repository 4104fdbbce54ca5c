"""The cluster runs only allowed functions (reminders_app.allowed), once the project
turns the guard on (this one does): the schedule admin refuses any other, for every
kind of staff; a schedule naming one is an error for `check --deploy` and a problem
for `reminders_status` and /healthz, and stops no command; only superusers resubmit
stored tasks. With the guard off (the app's default) nothing of the host's django-q2
use is refused. tests/test_cluster.py shows a real cluster refusing to run one."""

import html
import json
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from django_q.models import Failure, Schedule, Success

from reminders_app.allowed import JOB_ONLY_MESSAGE, refusal
from reminders_app.health import check_health
from reminders_app.schedule import JOB_FUNC, PART_FUNC
from tests.factories import UserFactory
from tests.smtp import free_port, send_mail_to

pytestmark = pytest.mark.django_db

ROGUE = {"os.system": "'touch /tmp/owned'", "subprocess.call": "['touch', '/tmp/owned']"}
# A function the operator listed in Q_CLUSTER_ALLOWED_FUNCTIONS, for schedules of their own.
LISTED = "django.core.management.call_command"


@pytest.fixture(autouse=True)
def _listed(settings):
    settings.Q_CLUSTER_ALLOWED_FUNCTIONS = (LISTED,)


def staff_with(*codenames: str):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def existing(db):
    """A schedule of an allowed function, as an operator would keep one."""
    return Schedule.objects.create(
        name="cleanup",
        func=LISTED,
        args="'clearsessions'",
        schedule_type=Schedule.DAILY,
        next_run=timezone.now(),
    )


def form(**fields) -> dict:
    return {
        "name": "innocent",
        "func": LISTED,
        "hook": "",
        "args": "'clearsessions'",
        "kwargs": "",
        "schedule_type": Schedule.ONCE,
        "repeats": "-1",
        "next_run_0": "2030-01-01",
        "next_run_1": "13:00:00",
        "_save": "Save",
    } | fields


def refused(response, func: str) -> bool:
    return (
        response.status_code == 200
        and f"{func!r} is not a function the cluster may run" in html.unescape(response.text)
    )


@pytest.mark.parametrize("func, args", ROGUE.items())
@pytest.mark.parametrize("who", ["superuser", "add_schedule only"])
def test_no_staff_may_add_a_schedule_running_another_function(client, who, func, args):
    if who == "superuser":
        user = UserFactory(is_staff=True, is_superuser=True)
    else:
        user = staff_with("add_schedule")
    client.force_login(user)

    response = client.post(reverse("admin:django_q_schedule_add"), form(func=func, args=args))

    assert refused(response, func)
    assert not Schedule.objects.filter(name="innocent").exists()


@pytest.mark.parametrize("func, args", ROGUE.items())
@pytest.mark.parametrize("who", ["superuser", "change_schedule only"])
def test_no_staff_may_change_a_schedule_to_another_function(client, existing, who, func, args):
    user = UserFactory(is_staff=True, is_superuser=True) if who == "superuser" else None
    client.force_login(user or staff_with("view_schedule", "change_schedule"))
    url = reverse("admin:django_q_schedule_change", args=[existing.pk])

    response = client.post(url, form(name="cleanup", func=func, args=args))

    assert refused(response, func)
    existing.refresh_from_db()
    assert (existing.func, existing.args) == (LISTED, "'clearsessions'")


def test_a_hook_must_be_allowed_too(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(reverse("admin:django_q_schedule_add"), form(hook="os.system"))

    assert refused(response, "os.system")
    assert not Schedule.objects.filter(name="innocent").exists()


def test_a_function_listed_in_the_setting_may_be_scheduled(client):
    client.force_login(staff_with("add_schedule"))

    response = client.post(reverse("admin:django_q_schedule_add"), form())

    assert response.status_code == 302, response.context and response.context["errors"]
    assert Schedule.objects.get(name="innocent").func == LISTED


# --- A row written straight into the table: check, status and /healthz name it ------


@pytest.fixture
def rogue_row(hourly_schedule):
    return Schedule.objects.create(
        name="rogue", func="os.system", args="'touch /tmp/owned'", next_run=timezone.now()
    )


def test_check_deploy_names_a_schedule_of_another_function_as_an_error(rogue_row):
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("check", deploy=True, stdout=out, stderr=err)

    assert "SystemCheckError" in type(raised.value).__name__
    assert (
        f"(reminders_app.E002) The schedule #{rogue_row.pk} names a function or hook the "
        "cluster refuses to run: delete it, or list its function in "
        "Q_CLUSTER_ALLOWED_FUNCTIONS (its function is 'os.system')."
    ) in str(raised.value)
    assert "touch" not in str(raised.value)
    assert "rogue" not in str(raised.value)


def test_a_refused_schedule_stops_neither_check_nor_migrate(rogue_row):
    """The cluster starts with it too (tests/test_cluster.py): it runs the allowed work
    and refuses the rest."""
    call_command("check", stdout=StringIO(), stderr=StringIO())
    call_command("migrate", verbosity=0)

    assert Schedule.objects.filter(name="rogue").exists()


@pytest.mark.parametrize("func, args", ROGUE.items())
def test_with_the_guard_off_nothing_is_refused(client, settings, hourly_schedule, func, args):
    """The app's own default: a host keeps its django-q2 use as it was."""
    settings.Q_CLUSTER_ALLOWED_FUNCTIONS = None
    # a real relay: Django 6.1's deploy check refuses the test runner's in-memory mailer
    send_mail_to(settings, free_port())
    client.force_login(staff_with("add_schedule"))

    response = client.post(reverse("admin:django_q_schedule_add"), form(func=func, args=args))
    Schedule.objects.create(name="host's own", func=func, next_run=timezone.now())
    out = StringIO()
    call_command("check", deploy=True, stdout=out, stderr=StringIO(), fail_level="ERROR")

    assert response.status_code == 302
    assert "E002" not in out.getvalue()
    assert not any("refuses" in problem for problem in check_health().problems)


def test_status_and_healthz_name_it_by_its_id_alone(client, rogue_row):
    problem = f"the schedule #{rogue_row.pk} names a function or hook the cluster refuses"
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("reminders_status", stdout=out)
    health = json.loads(client.get("/healthz").text)

    assert raised.value.returncode == 1
    assert f"problem: {problem}" in out.getvalue()
    assert any(p.startswith(problem) for p in health["problems"])
    for typed in ("touch", "rogue", "os.system"):
        assert typed not in out.getvalue() + str(health)


def test_the_reminder_schedule_hijacked_is_warned_about_not_an_error(hourly_schedule):
    """`migrate` repairs it, and an error would stop `migrate`."""
    Schedule.objects.filter(pk=hourly_schedule.pk).update(func="os.system")
    err = StringIO()

    call_command("check", stdout=StringIO(), stderr=err)

    assert "reminders_app.W002" in err.getvalue()
    assert "E002" not in err.getvalue()


# --- Resubmit: superusers only --------------------------------------------------------


@pytest.fixture
def stored_tasks(db):
    now = timezone.now()
    common = {"func": JOB_FUNC, "started": now, "stopped": now, "args": (), "kwargs": {}}
    Success.objects.create(id="a" * 32, name="done", success=True, **common)
    Failure.objects.create(id="b" * 32, name="failed", success=False, **common)


@pytest.mark.parametrize("model", ["success", "failure"])
def test_only_superusers_are_offered_resubmit(client, stored_tasks, model):
    url = reverse(f"admin:django_q_{model}_changelist")
    viewer = staff_with("view_success", "view_failure")
    superuser = UserFactory(is_staff=True, is_superuser=True)

    offered = {}
    for name, user in {"viewer": viewer, "superuser": superuser}.items():
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200
        offered[name] = 'value="resubmit_task"' in response.text

    assert offered == {"viewer": False, "superuser": True}
    client.force_login(viewer)
    posted = client.post(url, {"action": "resubmit_task", "_selected_action": ["a" * 32]})
    assert posted.status_code in (200, 302)
    assert Failure.objects.count() == 1  # FailAdmin's resubmit deletes what it queues


# --- The job runs only as the app queues it -------------------------------------------


def task(**fields) -> dict:
    return {"id": "t", "func": JOB_FUNC, "args": (), "kwargs": {}} | fields


@pytest.mark.parametrize(
    "queued",
    [
        task(group="send-due-reminders", kwargs={"scheduled_for": "2026-03-10T12:00:00+00:00"}),
        task(kwargs={"trigger": "admin"}),  # Send now
        task(func=PART_FUNC, kwargs={"run_id": "r", "part": 1, "slices": [], "grace": 5}),
    ],
    ids=["its schedule", "send now", "a part"],
)
def test_the_job_as_the_app_queues_it_runs(queued):
    assert refusal(queued) is None


@pytest.mark.parametrize(
    "queued",
    [
        task(group="yearly sweep"),  # another schedule's, whatever its arguments
        task(group=12),  # a schedule without a name: django-q2 groups it by id
        task(kwargs={"trigger": "admin", "window_hours": 876000}),
        task(args=("2026-03-10",)),
        task(func=PART_FUNC, kwargs={"run_id": "r", "now": "1970-01-01"}),
    ],
    ids=["another schedule", "an unnamed one", "a window of years", "positional", "a part"],
)
def test_the_job_called_otherwise_is_refused(queued):
    assert refusal(queued) == JOB_ONLY_MESSAGE


def test_with_the_guard_off_the_job_may_be_called_with_any_arguments(settings):
    settings.Q_CLUSTER_ALLOWED_FUNCTIONS = None

    assert refusal(task(group="host's own", kwargs={"window_hours": 48})) is None
