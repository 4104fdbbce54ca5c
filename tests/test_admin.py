"""The admin: who may see the audit trail, that nobody can change it, and that its
pages find reminders quickly."""

import html
import logging
import os
import re
import subprocess
import sys
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.models import ProtectedError
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from reminders_app.models import ReminderLog, ReminderRun, Suppression
from reminders_app.viewers import REMINDER_VIEWERS, add_to_reminder_viewers
from tasks_app.models import Task
from tests.factories import ReminderLogFactory, ReminderRunFactory, TaskFactory, UserFactory
from tests.processes import PROJECT, message_lines

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)


def log_changelist():
    return reverse("admin:reminders_app_reminderlog_changelist")


def run_changelist():
    return reverse("admin:reminders_app_reminderrun_changelist")


def task_changelist():
    return reverse("admin:tasks_app_task_changelist")


@pytest.fixture
def viewer():
    user = UserFactory(username="viewer")
    add_to_reminder_viewers(user)
    return user


@pytest.fixture
def superuser():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_without_permission():
    return UserFactory(username="clerk", is_staff=True)


@pytest.fixture
def reminder():
    return ReminderLogFactory()


def client_for(client, user):
    if user is not None:
        client.force_login(user)
    return client


def shown(response):
    """The rows a changelist shows."""
    return list(response.context["cl"].result_list)


# --- Who may see what ------------------------------------------------------------


def audit_urls(reminder):
    return [
        log_changelist(),
        reverse("admin:reminders_app_reminderlog_change", args=[reminder.pk]),
        run_changelist(),
        reverse("admin:reminders_app_reminderrun_change", args=[reminder.run_id]),
        task_changelist(),
        reverse("admin:tasks_app_task_change", args=[reminder.task_id]),
    ]


def test_anonymous_users_are_sent_to_the_login_page(client, reminder):
    for url in audit_urls(reminder):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"{reverse('admin:login')}?next={url}"


def test_staff_without_the_view_permission_are_refused(client, staff_without_permission, reminder):
    client.force_login(staff_without_permission)
    for url in audit_urls(reminder):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("who", ["viewer", "superuser"])
def test_viewers_and_superusers_can_browse_the_trail(client, request, who, reminder):
    client.force_login(request.getfixturevalue(who))
    for url in audit_urls(reminder):
        assert client.get(url).status_code == 200, url


def test_the_migration_creates_the_reminder_viewers_group():
    group = Group.objects.get(name=REMINDER_VIEWERS)
    assert sorted(group.permissions.values_list("content_type__app_label", "codename")) == [
        ("reminders_app", "view_reminderlog"),
        ("reminders_app", "view_reminderrun"),
        ("reminders_app", "view_suppression"),
        ("tasks_app", "view_task"),
    ]


# --- Addresses not to mail ---------------------------------------------------------


def suppressions_url(*args, view="changelist"):
    return reverse(f"admin:reminders_app_suppression_{view}", args=args)


def test_viewers_list_and_search_suppressions_but_neither_add_nor_delete_them(client, viewer):
    kept = Suppression.objects.create(address="Ada@Example.com", reason="bounced", source="relay")
    Suppression.objects.create(address="bob@example.com", reason="complained", source="x")
    client.force_login(viewer)

    found = client.get(suppressions_url(), {"q": "ada@EXAMPLE"})

    assert found.status_code == 200
    assert [s.address for s in shown(found)] == ["Ada@Example.com"]
    assert client.get(suppressions_url(view="add")).status_code == 403
    assert client.post(suppressions_url(kept.pk, view="delete"), {"post": "yes"}).status_code == 403
    assert Suppression.objects.count() == 2


def test_staff_with_the_permissions_add_and_delete_but_never_edit_a_suppression(client):
    staff = UserFactory(username="postmaster", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_suppression", "add_suppression", "delete_suppression"]
        )
    )
    client.force_login(staff)

    added = client.post(
        suppressions_url(view="add"), {"address": "ada@example.com", "reason": "manual"}
    )
    again = client.post(
        suppressions_url(view="add"), {"address": "ADA@example.com", "reason": "manual"}
    )
    (suppression,) = Suppression.objects.all()
    page = client.get(suppressions_url(suppression.pk, view="change"))
    edited = client.post(
        suppressions_url(suppression.pk, view="change"),
        {"address": "eve@example.com", "reason": "manual"},
    )
    deleted = client.post(suppressions_url(suppression.pk, view="delete"), {"post": "yes"})

    assert added.status_code == 302
    assert "This address is suppressed already." in again.text
    assert (suppression.address, suppression.reason, suppression.source) == (
        "ada@example.com",
        "manual",
        "staff",
    )
    assert page.status_code == 200 and 'name="address"' not in page.text  # read-only
    assert edited.status_code == 403
    assert deleted.status_code == 302
    assert not Suppression.objects.exists()


def test_staff_without_the_permissions_see_no_suppressions(client, staff_without_permission):
    client.force_login(staff_without_permission)

    assert client.get(suppressions_url()).status_code == 403


def test_a_viewer_cannot_change_tasks(client, viewer):
    task = TaskFactory(title="Before")
    client.force_login(viewer)
    url = reverse("admin:tasks_app_task_change", args=[task.pk])

    response = client.post(url, {"title": "After", "owner": task.owner_id})

    assert response.status_code == 403
    task.refresh_from_db()
    assert task.title == "Before"
    assert 'name="_save"' not in client.get(url).text


# --- Nobody can alter the history --------------------------------------------------


@pytest.fixture(params=["viewer", "superuser"])
def anyone(request, client):
    client.force_login(request.getfixturevalue(request.param))
    return client


def snapshot():
    return (
        list(ReminderLog.objects.order_by("pk").values()),
        list(ReminderRun.objects.order_by("pk").values()),
    )


def test_no_reminder_can_be_added_changed_or_deleted(anyone, reminder):
    before = snapshot()
    change = reverse("admin:reminders_app_reminderlog_change", args=[reminder.pk])
    form = {
        "task": reminder.task_id,
        "due_at_0": "2030-01-01",
        "due_at_1": "00:00:00",
        "status": "failed",
        "run": reminder.run_id,
        "attempts": 9,
        "_save": "Save",
    }
    delete = reverse("admin:reminders_app_reminderlog_delete", args=[reminder.pk])

    assert anyone.get(reverse("admin:reminders_app_reminderlog_add")).status_code == 403
    assert anyone.post(reverse("admin:reminders_app_reminderlog_add"), form).status_code == 403
    assert anyone.post(change, form).status_code == 403
    assert anyone.get(delete).status_code == 403
    assert anyone.post(delete, {"post": "yes"}).status_code == 403
    anyone.post(
        log_changelist(),
        {"action": "delete_selected", "_selected_action": [reminder.pk], "post": "yes"},
    )

    assert snapshot() == before


def test_no_run_can_be_added_changed_or_deleted(anyone, reminder):
    before = snapshot()
    run = reminder.run
    change = reverse("admin:reminders_app_reminderrun_change", args=[run.pk])
    delete = reverse("admin:reminders_app_reminderrun_delete", args=[run.pk])
    form = {"trigger": "command", "status": "failed", "sent": 0, "_save": "Save"}

    assert anyone.post(reverse("admin:reminders_app_reminderrun_add"), form).status_code == 403
    assert anyone.post(change, form).status_code == 403
    assert anyone.post(delete, {"post": "yes"}).status_code == 403
    anyone.post(
        run_changelist(),
        {"action": "delete_selected", "_selected_action": [str(run.pk)], "post": "yes"},
    )

    assert snapshot() == before


def test_the_pages_offer_no_way_to_change_history(anyone, reminder):
    pages = [
        log_changelist(),
        reverse("admin:reminders_app_reminderlog_change", args=[reminder.pk]),
        run_changelist(),
        reverse("admin:reminders_app_reminderrun_change", args=[reminder.run_id]),
    ]
    for url in pages:
        html = anyone.get(url).text
        assert 'name="_save"' not in html, url
        assert 'name="action"' not in html, url  # no bulk actions, delete included
        assert "reminderlog/add/" not in html and "reminderrun/add/" not in html, url
        assert "/delete/" not in html, url


def test_the_task_page_shows_its_reminders_read_only(client, superuser):
    reminder = ReminderLogFactory(status=ReminderLog.Status.FAILED, attempts=3, sent_at=None)
    gone = ReminderLogFactory(
        task=reminder.task, recipient=UserFactory(), due_at=reminder.due_at - H
    )
    get_user_model().objects.filter(pk=gone.recipient_id).delete()  # reminded, then deleted
    client.force_login(superuser)

    response = client.get(reverse("admin:tasks_app_task_change", args=[reminder.task_id]))

    inline = response.context["inline_admin_formsets"][0]
    assert [form.original for form in inline] == [gone, reminder]
    html = response.text
    recipients = re.findall(r'<td class="field-recipient_shown">(.*?)</td>', html, re.S)
    assert [re.sub(r"<[^>]+>", "", cell).strip() for cell in recipients] == [
        f"{gone.recipient_id} · deleted person",
        f"{reminder.recipient_id} · {reminder.recipient.get_username()}",
    ]
    assert 'name="reminders-0-status"' not in html  # shown, not editable
    assert 'name="reminders-0-DELETE"' not in html
    assert 'name="reminders-MAX_NUM_FORMS" value="0"' in html  # no row can be added
    assert reverse("admin:reminders_app_reminderrun_change", args=[reminder.run_id]) in html


def test_a_superuser_edits_a_task_then_deletes_it_and_the_trail_keeps_its_reminders(
    client, superuser
):
    reminder = ReminderLogFactory()
    task = reminder.task
    client.force_login(superuser)
    change = reverse("admin:tasks_app_task_change", args=[task.pk])

    response = client.post(
        change,
        {
            "title": "Renamed",
            "description": "",
            "owner": task.owner_id,
            "due_at_0": "",
            "due_at_1": "",
            "completed_at_0": "",
            "completed_at_1": "",
            "reminders-TOTAL_FORMS": "1",
            "reminders-INITIAL_FORMS": "1",
            "reminders-MIN_NUM_FORMS": "0",
            "reminders-MAX_NUM_FORMS": "1000",
            "reminders-0-id": reminder.pk,
            "reminders-0-task": task.pk,
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    task.refresh_from_db()
    assert (task.title, task.due_at) == ("Renamed", None)

    # Deleting it succeeds, and the trail keeps its rows with the task's id
    # (docs/architecture.md, "Deleting tasks and people").
    before = snapshot()
    delete = reverse("admin:tasks_app_task_delete", args=[task.pk])
    assert_deletable(client.get(delete), reminder)
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not Task.objects.filter(pk=task.pk).exists()
    assert snapshot() == before
    assert_shown_as_deleted(client, reminder, task=True)


# --- Deleting tasks and people keeps the trail ---------------------------------------


def assert_deletable(response, *reminders):
    """Django admin's confirmation, with nothing of the trail among what goes."""
    assert response.status_code == 200
    html = response.text
    assert "Yes, I’m sure" in html
    assert "protected related objects" not in html
    assert "permission to delete" not in html
    for reminder in reminders:
        assert f"Reminder {reminder.pk}<" not in html


def assert_shown_as_deleted(client, reminder, *, task=False, person=False):
    """The reminder stays in the list and on its page (200), its task or recipient
    read as deleted, with the id the trail kept."""
    assert reminder.pk in [r.pk for r in shown(client.get(log_changelist()))]
    for url in [
        log_changelist(),
        reverse("admin:reminders_app_reminderlog_change", args=[reminder.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        text = re.sub(r"<[^>]+>", "", response.text)
        assert (f"{reminder.task_id}: deleted task" in text) == task, url
        assert (f"{reminder.recipient_id} · deleted person" in text) == person, url


@pytest.fixture
def deleter():
    """Staff allowed to delete tasks and users, and nothing about reminders."""
    from django.contrib.auth.models import Permission

    user = UserFactory(username="deleter", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_task", "delete_task", "view_user", "delete_user"]
        )
    )
    return user


@pytest.mark.parametrize("who", ["superuser", "deleter"])
def test_deleting_a_task_with_reminders_keeps_the_trail(client, request, who, viewer):
    reminder = ReminderLogFactory()
    client.force_login(request.getfixturevalue(who))
    before = snapshot()
    delete = reverse("admin:tasks_app_task_delete", args=[reminder.task_id])

    assert_deletable(client.get(delete), reminder)
    assert client.post(delete, {"post": "yes"}).status_code == 302

    assert not Task.objects.filter(pk=reminder.task_id).exists()
    assert snapshot() == before
    client.force_login(viewer)
    assert_shown_as_deleted(client, reminder, task=True)


@pytest.mark.parametrize("who", ["superuser", "deleter"])
def test_deleting_selected_tasks_keeps_their_reminders(client, request, who, viewer):
    reminders = ReminderLogFactory.create_batch(2)
    plain = TaskFactory()
    client.force_login(request.getfixturevalue(who))
    before = snapshot()
    ids = [reminder.task_id for reminder in reminders] + [plain.pk]
    form = {"action": "delete_selected", "_selected_action": ids}

    assert_deletable(client.post(task_changelist(), form), *reminders)
    assert client.post(task_changelist(), form | {"post": "yes"}).status_code == 302

    assert not Task.objects.filter(pk__in=ids).exists()
    assert snapshot() == before
    client.force_login(viewer)
    for reminder in reminders:
        assert_shown_as_deleted(client, reminder, task=True)


@pytest.mark.parametrize("how", ["page", "action"])
@pytest.mark.parametrize("who", ["superuser", "deleter"])
def test_deleting_a_person_keeps_the_reminders_to_them_and_of_their_tasks(
    client, request, who, how, viewer
):
    # GIVEN a person reminded of their own task, and of a task someone else owns
    reminder = ReminderLogFactory()
    person = reminder.recipient
    of_another_task = ReminderLogFactory(recipient=person)
    client.force_login(request.getfixturevalue(who))
    before = snapshot()

    # WHEN staff delete them (their own tasks go with them: Task.owner is CASCADE)
    if how == "page":
        delete = reverse("admin:auth_user_delete", args=[person.pk])
        assert_deletable(client.get(delete), reminder, of_another_task)
        response = client.post(delete, {"post": "yes"})
    else:
        bulk = {"action": "delete_selected", "_selected_action": [person.pk], "post": "yes"}
        response = client.post(reverse("admin:auth_user_changelist"), bulk)

    # THEN they are gone, and the trail keeps every row with their id
    assert response.status_code == 302
    assert not type(person).objects.filter(pk=person.pk).exists()
    assert not Task.objects.filter(pk=reminder.task_id).exists()
    assert Task.objects.filter(pk=of_another_task.task_id).exists()
    assert snapshot() == before
    client.force_login(viewer)
    assert_shown_as_deleted(client, reminder, task=True, person=True)
    assert_shown_as_deleted(client, of_another_task, person=True)


def test_deleting_tasks_and_people_through_the_orm_keeps_the_trail(client, viewer):
    task_gone, person_gone, untouched = ReminderLogFactory.create_batch(3)
    before = snapshot()

    Task.objects.filter(pk=task_gone.task_id).delete()
    get_user_model().objects.filter(pk=person_gone.recipient_id).delete()

    assert snapshot() == before
    client.force_login(viewer)
    assert_shown_as_deleted(client, task_gone, task=True)
    assert_shown_as_deleted(client, person_gone, task=True, person=True)  # with their task
    assert_shown_as_deleted(client, untouched)


def test_a_run_with_reminders_cannot_be_deleted(reminder):
    """Runs are the trail's own rows: PROTECTed by their reminders."""
    with pytest.raises(ProtectedError):
        reminder.run.delete()

    assert ReminderRun.objects.filter(pk=reminder.run_id).exists()


def test_a_task_without_reminders_can_be_deleted(client, deleter):
    task = TaskFactory()
    client.force_login(deleter)
    delete = reverse("admin:tasks_app_task_delete", args=[task.pk])

    assert "Yes, I’m sure" in client.get(delete).text
    assert client.post(delete, {"post": "yes"}).status_code == 302

    assert not Task.objects.filter(pk=task.pk).exists()


# --- Finding reminders ---------------------------------------------------------------


def test_search_by_task_id(client, viewer):
    wanted = ReminderLogFactory()
    ReminderLogFactory(task=wanted.task, due_at=wanted.due_at + H)
    ReminderLogFactory(task__pk=wanted.task_id * 10 + 1)  # an id that contains the other
    client.force_login(viewer)

    response = client.get(log_changelist(), {"q": f" {wanted.task_id} "})

    assert {r.task_id for r in shown(response)} == {wanted.task_id}
    assert len(shown(response)) == 2


@pytest.mark.parametrize("spell", [str, lambda u: u.hex, lambda u: str(u).upper()])
def test_search_by_run_id(client, viewer, spell):
    run = ReminderRunFactory()
    mine = ReminderLogFactory.create_batch(2, run=run)
    ReminderLogFactory()
    client.force_login(viewer)

    response = client.get(log_changelist(), {"q": spell(run.pk)})

    assert sorted(r.pk for r in shown(response)) == sorted(r.pk for r in mine)


@pytest.mark.parametrize("term", ["milk", "12a", "-1", "1.5", "9" * 40, "٣", str(uuid.uuid4())])
def test_a_search_that_is_no_id_finds_nothing_without_error(client, viewer, reminder, term):
    client.force_login(viewer)

    response = client.get(log_changelist(), {"q": term})

    assert response.status_code == 200
    assert shown(response) == []


def test_filter_by_status(client, viewer):
    ReminderLogFactory.create_batch(2)
    failed = ReminderLogFactory(status=ReminderLog.Status.FAILED, sent_at=None, attempts=5)
    client.force_login(viewer)

    response = client.get(log_changelist(), {"status__exact": "failed"})

    assert shown(response) == [failed]
    assert "?status__exact=failed" in response.text  # the filter is offered


def test_filter_by_run_trigger_and_sent_date(client, viewer, now):
    by_hand = ReminderLogFactory(run__trigger=ReminderRun.Trigger.COMMAND, sent_at=now)
    ReminderLogFactory(sent_at=now)
    older = ReminderLogFactory(sent_at=now - 400 * 24 * H)
    client.force_login(viewer)

    assert shown(client.get(log_changelist(), {"run__trigger": "command"})) == [by_hand]
    in_year = shown(client.get(log_changelist(), {"sent_at__year": now.year}))
    assert older not in in_year and by_hand in in_year


def test_a_run_links_to_its_reminders(client, viewer):
    run = ReminderRunFactory(selected=2, sent=2)
    mine = ReminderLogFactory.create_batch(2, run=run)
    ReminderLogFactory()
    client.force_login(viewer)

    page = client.get(run_changelist()).text
    link = f"{log_changelist()}?run__id__exact={run.pk}"
    assert f'href="{link}"' in page

    assert sorted(r.pk for r in shown(client.get(link))) == sorted(r.pk for r in mine)


def test_task_columns_and_filters(client, viewer):
    overdue = TaskFactory(title="Overdue", due_at=timezone.now() - H)
    soon = TaskFactory(title="Soon", due_at=timezone.now() + H)
    later = TaskFactory(title="Later", due_at=timezone.now() + 48 * H)
    done = TaskFactory(title="Done", due_at=timezone.now() - H, completed_at=timezone.now())
    ReminderLogFactory(task=soon, status=ReminderLog.Status.FAILED, sent_at=None)
    ReminderLogFactory(task=soon, due_at=soon.due_at - H)  # an older reminder, sent
    client.force_login(viewer)

    def titles(**params):
        return {t.title for t in shown(client.get(task_changelist(), params))}

    assert titles(state="open") == {"Overdue", "Soon", "Later"}
    assert titles(state="completed") == {"Done"}
    assert titles(due="overdue") == {"Overdue"}
    assert titles(due="window") == {"Soon"}
    assert titles(q="soo") == {"Soon"}
    rows = {t.title: t for t in shown(client.get(task_changelist()))}
    assert rows["Soon"].last_reminder_status == "sent"  # the newest reminder
    assert rows["Later"].last_reminder_status is None
    assert {overdue, later, done} <= set(rows.values())


def test_the_due_filter_follows_the_reminder_window(client, viewer, settings):
    settings.REMINDER_WINDOW_HOURS = 72
    TaskFactory(title="Soon", due_at=timezone.now() + H)
    TaskFactory(title="Later", due_at=timezone.now() + 48 * H)
    TaskFactory(title="Much later", due_at=timezone.now() + 96 * H)
    client.force_login(viewer)

    response = client.get(task_changelist(), {"due": "window"})

    assert {t.title for t in shown(response)} == {"Soon", "Later"}
    assert "Within 72 hours" in response.text


# --- A fixed number of queries per page ----------------------------------------------


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("who", ["viewer", "superuser"])
def test_list_pages_run_the_same_queries_for_5_or_300_rows(client, request, who):
    client.force_login(request.getfixturevalue(who))
    urls = [
        log_changelist(),
        f"{log_changelist()}?status__exact=sent&run__trigger=schedule&sent_at__year=2026",
        run_changelist(),
        task_changelist(),
    ]

    def add(count):  # each with its own task, owner and run
        ReminderLogFactory.create_batch(count)

    add(5)
    client.get(log_changelist())  # warm caches (content types, session)
    few = [queries_for(client, url) for url in urls]
    add(295)
    many = [queries_for(client, url) for url in urls]

    print(f"\n{who} queries per page {dict(zip(urls, many, strict=True))}")
    assert many == few
    assert max(many) <= 12


def test_rows_whose_task_or_person_was_deleted_stay_listed_at_the_same_cost(client, viewer):
    client.force_login(viewer)
    ReminderLogFactory.create_batch(3)
    client.get(log_changelist())  # warm caches (content types, session)
    few = queries_for(client, log_changelist())

    reminders = ReminderLogFactory.create_batch(40)
    Task.objects.filter(pk__in=[r.task_id for r in reminders[::2]]).delete()
    get_user_model().objects.filter(pk__in=[r.recipient_id for r in reminders[1::4]]).delete()

    assert queries_for(client, log_changelist()) == few
    page = client.get(log_changelist())
    assert len(shown(page)) == 43
    assert page.text.count(": deleted task") == 30  # 20 tasks deleted, 10 with their owner
    assert page.text.count(" · deleted person") == 10


def test_every_page_copes_with_reminders_whose_task_or_person_is_gone(client, superuser, settings):
    """A real run's reminders, then their task deleted, their person deleted (with
    their tasks), and a person deleted from a task that stays: every page that reads
    the trail answers, none with a 500."""
    from django.core.management import call_command

    from reminders_app.jobs import process_reminders

    due = timezone.now() + H
    task_gone, person_gone, kept = TaskFactory.create_batch(3, due_at=due)
    helper = UserFactory()
    kept_for_helper = ReminderLogFactory(task=kept, recipient=helper, due_at=due - H)
    run_id = process_reminders()["run_id"]
    Task.objects.filter(pk=task_gone.pk).delete()
    get_user_model().objects.filter(pk__in=[person_gone.owner_id, helper.pk]).delete()
    client.force_login(superuser)
    settings.DEBUG = True  # /metrics without a token

    pages = [
        reverse("admin:index"),  # health and charts
        run_changelist(),
        reverse("admin:reminders_app_reminderrun_change", args=[run_id]),
        log_changelist(),
        f"{log_changelist()}?run__id__exact={run_id}",
        *(
            reverse("admin:reminders_app_reminderlog_change", args=[pk])
            for pk in ReminderLog.objects.values_list("pk", flat=True)
        ),
        task_changelist(),
        reverse("admin:tasks_app_task_change", args=[kept.pk]),
        "/metrics",
    ]
    for url in pages:
        assert client.get(url).status_code == 200, url
    assert client.get("/healthz").status_code in {200, 503}
    call_command("reminders_status", stdout=open(os.devnull, "w"))
    page = client.get(reverse("admin:tasks_app_task_change", args=[kept.pk])).text
    assert f"{kept_for_helper.recipient_id} · deleted person" in re.sub(r"<[^>]+>", "", page)


# --- The admin home --------------------------------------------------------------


def test_the_admin_home_shows_a_healthy_worker(client, viewer):
    run = ReminderRunFactory(started_at=timezone.now() - timedelta(minutes=5), sent=7)
    client.force_login(viewer)

    page = client.get(reverse("admin:index")).text

    assert "Reminder worker" in page and "Healthy" in page
    assert reverse("admin:reminders_app_reminderrun_change", args=[run.pk]) in page
    assert "Succeeded" in page and "7 sent" in page


def test_the_admin_home_shows_a_fresh_deploy_as_starting(client, viewer, hourly_schedule):
    client.force_login(viewer)

    page = client.get(reverse("admin:index")).text

    assert "Starting: no scheduled slot has come yet" in page
    assert "Needs attention" not in page


def test_the_admin_home_shows_a_stopped_worker(client, viewer):
    ReminderRunFactory(started_at=timezone.now() - 5 * H)
    ReminderRunFactory(
        started_at=timezone.now() - 3 * H, status=ReminderRun.Status.FAILED, error="boom"
    )
    client.force_login(viewer)

    page = client.get(reverse("admin:index")).text

    assert "Needs attention" in page and "Healthy" not in page
    assert "No run has succeeded since" in page
    assert "Failed" in page and "boom" in page


def test_the_admin_home_shows_health_only_to_those_who_may_see_runs(
    client, staff_without_permission
):
    client.force_login(staff_without_permission)

    page = client.get(reverse("admin:index")).text

    assert "Reminder worker" not in page


@pytest.mark.parametrize(
    ("took", "shown"),
    [
        (timedelta(milliseconds=8), "8 ms"),
        (timedelta(seconds=3.96), "3.96 s"),
        (timedelta(seconds=125), "2 min 5 s"),
    ],
)
def test_run_list_shows_durations_as_people_read_them(client, superuser, took, shown):
    run = ReminderRunFactory()
    ReminderRun.objects.filter(pk=run.pk).update(finished_at=run.started_at + took)
    client.force_login(superuser)

    page = client.get(run_changelist()).content.decode()

    assert f">{shown}<" in page


# --- A trail that answers questions --------------------------------------------------


def test_a_reminder_row_shows_its_recipient_channel_and_times_to_the_second(client, viewer):
    """The recipient is the person the reminder went to (ReminderLog.recipient), who
    need not be the task's owner now."""
    owner = UserFactory(username="olga", email="olga@example.com")
    recipient = UserFactory(username="ann", email="ann@example.com")
    sent_at = timezone.now().replace(microsecond=0)
    reminder = ReminderLogFactory(
        task__owner=owner,
        recipient=recipient,
        sent_at=sent_at,
        run__channel="reminders_app.channels.EmailChannel",
    )
    client.force_login(viewer)

    for url in [
        log_changelist(),
        reverse("admin:reminders_app_reminderlog_change", args=[reminder.pk]),
    ]:
        page = client.get(url).text
        assert f"{recipient.pk} · ann" in page, url
        assert "olga" not in page, url
        assert "ann@example.com" not in page, url
        assert ">EmailChannel<" in page, url
        assert sent_at.strftime("%Y-%m-%d %H:%M:%S UTC") in page, url
    heading = r'<th scope="col" class="column-recipient_shown">\s*<div class="text"><span>(\w+)<'
    assert re.findall(heading, client.get(log_changelist()).text) == ["Recipient"]


def test_a_reminder_claimed_before_recipients_were_recorded_shows_none(client, viewer):
    reminder = ReminderLogFactory(recipient=None)
    client.force_login(viewer)

    assert field_text(reminder_page(client, reminder), "recipient_shown") == "-"
    assert shown(client.get(log_changelist())) == [reminder]


def test_the_recipient_links_to_the_user_only_for_those_who_may_view_users(
    client, viewer, superuser
):
    reminder = ReminderLogFactory()
    user_page = reverse("admin:auth_user_change", args=[reminder.recipient_id])
    pages = [
        log_changelist(),
        reverse("admin:reminders_app_reminderlog_change", args=[reminder.pk]),
        task_changelist(),
        reverse("admin:tasks_app_task_change", args=[reminder.task_id]),
    ]

    client.force_login(viewer)
    for url in pages:
        assert user_page not in client.get(url).text, url
    client.force_login(superuser)
    for url in pages:
        assert user_page in client.get(url).text, url


def test_the_runs_list_shows_a_short_run_id_linking_to_the_run(client, viewer):
    run = ReminderRunFactory()
    client.force_login(viewer)

    page = client.get(run_changelist()).text

    change = reverse("admin:reminders_app_reminderrun_change", args=[run.pk])
    assert f'<a href="{change}"><span title="{run.pk}">{str(run.pk)[:8]}</span></a>' in page


def test_a_filtered_trail_says_which_filters_are_active(client, viewer):
    run = ReminderRunFactory()
    ReminderLogFactory(run=run, status=ReminderLog.Status.FAILED, sent_at=None)
    client.force_login(viewer)

    unfiltered = client.get(log_changelist())
    page = client.get(
        log_changelist(), {"status__exact": "failed", "run__id__exact": run.pk, "q": run.pk}
    ).text

    assert "Filtered by" not in unfiltered.text
    assert f"Filtered by status: Failed; run: {str(run.pk)[:8]}; search: {run.pk}" in page
    assert 'class="selected"' in page  # the sidebar highlights the choice
    assert "Clear all filters" in page


def test_there_is_no_view_site_link(client, viewer):
    client.force_login(viewer)

    assert "View site" not in client.get(reverse("admin:index")).text


# --- Send now ------------------------------------------------------------------------


def send_now_url():
    return reverse("admin:reminders_app_reminderrun_send_now")


@pytest.fixture
def sender(viewer):
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="send_reminders_now"))
    return viewer


@pytest.fixture
def cluster_running(monkeypatch):
    """A cluster has reported its statistics (what Stat.get_all() reads)."""
    monkeypatch.setattr("reminders_app.admin.send_now.running_clusters", lambda: ["a cluster"])


def queued_tasks():
    from django_q.models import OrmQ

    return [task.task for task in OrmQ.objects.all()]


def test_send_now_asks_for_confirmation_then_queues_one_admin_run(client, sender, cluster_running):
    client.force_login(sender)
    assert "Send now" in client.get(run_changelist()).text

    page = client.get(send_now_url())
    assert page.status_code == 200
    assert "Yes, queue a run now" in page.text and "csrfmiddlewaretoken" in page.text
    assert queued_tasks() == []  # the GET only asks

    response = client.post(send_now_url(), follow=True)

    (task,) = queued_tasks()
    assert task["func"] == "reminders_app.jobs.process_reminders"
    assert task["kwargs"] == {"trigger": "admin"}
    assert response.redirect_chain[-1][0] == f"{run_changelist()}?trigger__exact=admin"
    message = str(list(response.context["messages"])[0])
    assert "Queued a run of the reminder job" in message
    assert f'href="{run_changelist()}?trigger__exact=admin"' in message


def test_send_now_without_a_cluster_says_so_and_queues_nothing(client, sender, monkeypatch):
    monkeypatch.setattr("reminders_app.admin.send_now.running_clusters", lambda: [])
    client.force_login(sender)

    page = client.get(send_now_url())
    refused = client.post(send_now_url())

    assert "No worker cluster is running" in page.text
    assert "Yes, queue a run now" not in page.text
    assert refused.status_code == 409 and "nothing was queued" in refused.text
    assert queued_tasks() == []


def test_no_cluster_is_what_django_q_reports_when_none_runs(client, sender):
    client.force_login(sender)

    assert "No worker cluster is running" in client.get(send_now_url()).text


def test_send_now_needs_its_own_permission(client, viewer, cluster_running):
    client.force_login(viewer)

    assert "Send now" not in client.get(run_changelist()).text
    assert client.get(send_now_url()).status_code == 403
    assert client.post(send_now_url()).status_code == 403
    assert queued_tasks() == []


def test_send_now_is_csrf_protected(sender, cluster_running):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(sender)

    assert client.post(send_now_url()).status_code == 403
    assert queued_tasks() == []


def test_superusers_may_send_now_and_no_group_has_the_permission(client, superuser):
    client.force_login(superuser)

    assert "Send now" in client.get(run_changelist()).text
    assert not Group.objects.filter(permissions__codename="send_reminders_now").exists()


def test_the_date_drill_down_offers_the_periods_between_the_oldest_and_newest_reminder(
    client, viewer
):
    from datetime import UTC, datetime

    ReminderLogFactory(sent_at=datetime(2024, 11, 20, 9, tzinfo=UTC))
    newest = ReminderLogFactory(sent_at=datetime(2026, 2, 3, 9, tzinfo=UTC))
    client.force_login(viewer)

    def offered(**params):
        with CaptureQueriesContext(connection) as captured:
            page = client.get(log_changelist(), params).text
        # no scan of the log for the periods that hold rows
        assert not any("DISTINCT" in q["sql"] for q in captured.captured_queries)
        nav = page.split('<nav class="toplinks"', 1)[1].split("</nav>", 1)[0]
        label = " ".join(strip_tags(nav.split(">", 1)[1].split("<a ", 1)[0]).split())
        links = re.findall(r'<a href="[^"]*"[^>]*>([^<]+)</a>', nav)
        return [label, *(html.unescape(text).strip() for text in links)]

    # labelled as Django labels its own drill-down (Django 6.1: "Filter by sent at")
    django_own = render_to_string(
        "admin/date_hierarchy.html", {"show": True, "field_name": "sent at"}
    )
    label = " ".join(strip_tags(django_own).split())
    assert offered() == [label, "2024", "2025", "2026"]
    assert offered(sent_at__year=2024) == [label, "‹ All dates", "November 2024", "December 2024"]
    assert offered(sent_at__year=2026, sent_at__month=2) == [
        label,
        "‹ 2026",
        "February 1",
        "February 2",
        "February 3",
    ]
    page = client.get(
        log_changelist(), {"sent_at__year": 2026, "sent_at__month": 2, "sent_at__day": 3}
    )
    assert shown(page) == [newest]
    assert "Filtered by sent at: 2026-02-03" in page.text


# --- What a staff member trips over ----------------------------------------------------


def test_the_task_list_shows_ids_and_finds_a_task_by_its_id(client, viewer):
    tasks = TaskFactory.create_batch(3, title="Water the plants")
    numbered = TaskFactory(title=f"Order {tasks[0].pk} badges")
    client.force_login(viewer)

    page = client.get(task_changelist()).text
    found = {t.pk for t in shown(client.get(task_changelist(), {"q": str(tasks[0].pk)}))}

    assert f'<th class="field-id"><a href="{task_changelist()}{tasks[1].pk}/change/">' in page
    assert found == {tasks[0].pk, numbered.pk}  # the id, and a title naming the number
    assert {t.pk for t in shown(client.get(task_changelist(), {"q": "plants"}))} == {
        t.pk for t in tasks
    }


@pytest.mark.parametrize("term", ["milk", "12a", "-1", "1.5", "9" * 40, "٣"])
def test_a_task_search_that_is_no_id_searches_titles_without_error(client, viewer, term):
    TaskFactory(title="Buy milk")
    client.force_login(viewer)

    response = client.get(task_changelist(), {"q": term})

    assert response.status_code == 200
    assert [t.title for t in shown(response)] == (["Buy milk"] if term == "milk" else [])


def reminder_page(client, reminder):
    url = reverse("admin:reminders_app_reminderlog_change", args=[reminder.pk])
    return client.get(url).text


def field_text(page: str, name: str) -> str:
    """The text of a read-only field on a change page, tags stripped."""
    block = page.split(f"field-{name}", 1)[1].split('<div class="readonly">', 1)[1]
    return re.sub(r"<[^>]+>", "", block.split("</div>", 1)[0]).strip()


def test_a_reminder_failed_for_good_says_so_on_its_page(client, viewer, settings, now):
    settings.REMINDER_MAX_ATTEMPTS = 5
    permanent = ReminderLogFactory(
        status=ReminderLog.Status.FAILED, sent_at=None, attempts=1, error="permanent: no address"
    )
    exhausted = ReminderLogFactory(
        status=ReminderLog.Status.FAILED, sent_at=None, attempts=5, next_attempt_at=now
    )
    pending = ReminderLogFactory(
        status=ReminderLog.Status.FAILED, sent_at=None, attempts=2, next_attempt_at=now
    )
    sent = ReminderLogFactory()
    client.force_login(viewer)

    assert field_text(reminder_page(client, permanent), "retry") == (
        "Failed for good: no run will retry it (1 of 5 attempts made). All failed for good"
    )
    assert field_text(reminder_page(client, exhausted), "retry").startswith(
        "Failed for good: no run will retry it (5 of 5 attempts made)."
    )
    assert field_text(reminder_page(client, pending), "retry") == (
        "Will be retried by the first run from 2026-03-10 12:00:00 UTC (2 of 5 attempts made)."
    )
    assert field_text(reminder_page(client, sent), "retry") == "-"
    page = reminder_page(client, permanent)
    assert 'href="/admin/reminders_app/reminderlog/?retry=given_up"' in page


def test_a_run_page_shows_an_empty_lag_and_duration_as_a_dash(client, viewer):
    run = ReminderRunFactory(lag=None, finished_at=None, status=ReminderRun.Status.RUNNING)
    client.force_login(viewer)

    page = client.get(reverse("admin:reminders_app_reminderrun_change", args=[run.pk])).text

    assert field_text(page, "lag_shown") == "-"
    assert field_text(page, "duration_shown") == "-"
    assert "None" not in re.sub(r"<[^>]+>", "", page)


def test_the_preference_section_names_the_preference_not_a_user_id(client, superuser):
    from reminders_app.models import ReminderPreference

    owner = UserFactory(username="ann")
    ReminderPreference.objects.create(user=owner, time_zone="Europe/Paris")
    client.force_login(superuser)

    page = client.get(reverse("admin:auth_user_change", args=[owner.pk])).text
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))

    assert "Reminder preference: Europe/Paris, mail on" in text
    assert "of user" not in text
    assert "REMINDER_DEFAULT_TIME_ZONE" not in text
    assert "Due times in reminder mails are shown in this zone." in text


@pytest.mark.parametrize(("login_field", "term"), [("username", "ann"), ("email", "ann@example")])
def test_preferences_are_found_by_the_login_whatever_the_user_model_calls_it(
    client, superuser, monkeypatch, login_field, term
):
    from reminders_app.models import ReminderPreference

    ann = UserFactory(username="ann", email="ann@example.com")
    for person in (ann, UserFactory(username="bob", email="bob@example.com")):
        ReminderPreference.objects.create(user=person)
    monkeypatch.setattr(get_user_model(), "USERNAME_FIELD", login_field)
    client.force_login(superuser)

    url = reverse("admin:reminders_app_reminderpreference_changelist")
    response = client.get(url, {"q": term})

    assert [preference.user for preference in shown(response)] == [ann]


# --- A host that has not named its task model yet --------------------------------------


def test_a_host_without_a_task_model_gets_the_system_check_not_a_traceback(tmp_path):
    """Importing the admin reads no task model: `check` reaches reminders_app.E003,
    which says in one line what to set."""
    (tmp_path / "no_task_model.py").write_text(
        "from tests.settings import *  # noqa: F403\n\ndel REMINDER_TASK_MODEL  # noqa: F821\n"
    )
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="no_task_model",
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(PROJECT)]),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )

    checked = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert "Traceback" not in checked.stderr
    assert checked.returncode == 1
    assert (
        "?: (reminders_app.E003) REMINDER_TASK_MODEL is not set: name the model your tasks "
        "are, such as REMINDER_TASK_MODEL = 'todo.Item' (docs/reusable-app.md)"
    ) in message_lines(checked.stderr)


# --- Odd input: a 4xx, never a 500 -----------------------------------------------------


def test_view_on_site_with_an_id_a_run_cannot_have_is_a_404(client, viewer):
    """The admin's /admin/r/<content type>/<id>/: a run's id is a UUID."""
    from django.contrib.contenttypes.models import ContentType

    run = ReminderRunFactory()
    runs_type = ContentType.objects.get_for_model(ReminderRun).pk
    reminders_type = ContentType.objects.get_for_model(ReminderLog).pk
    client.force_login(viewer)

    for object_id in ["not-a-uuid", "123", str(run.pk)]:
        assert client.get(f"/admin/r/{runs_type}/{object_id}/").status_code == 404, object_id
    assert client.get(f"/admin/r/{reminders_type}/abc/").status_code == 404
    assert client.get("/admin/r/x/1/").status_code == 404


@pytest.mark.parametrize("changelist", [log_changelist, task_changelist, run_changelist])
def test_a_search_of_5000_digits_finds_nothing_without_error(client, superuser, changelist):
    """int() refuses a number of 4,300 digits or more."""
    ReminderLogFactory()
    client.force_login(superuser)

    response = client.get(changelist(), {"q": "1" * 5000})

    assert response.status_code == 200
    assert shown(response) == []


@pytest.mark.parametrize(
    "url",
    [
        lambda: f"{task_changelist()}?owner__email__startswith=a",
        lambda: f"{log_changelist()}?recipient__password__startswith=p",
        lambda: f"{run_changelist()}?reminders__task__title__contains=x",
    ],
    ids=["task owner's address", "recipient's password", "reminders' titles"],
)
def test_a_lookup_the_admin_refuses_is_a_400_and_one_warning_line(client, superuser, caplog, url):
    client.force_login(superuser)

    with caplog.at_level(logging.INFO):
        response = client.get(url())

    assert response.status_code == 400
    (record,) = [r for r in caplog.records if r.name.startswith("django.security.")]
    assert (record.name, record.levelname) == (
        "django.security.DisallowedModelAdminLookup",
        "WARNING",
    )
    assert record.exc_info is None and not record.exc_text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# --- True words ------------------------------------------------------------------------


def test_a_run_whose_reminders_all_failed_does_not_read_succeeded(client, viewer):
    """Its status stays `succeeded` (nothing stopped it); every page says what happened."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    run = ReminderRunFactory(selected=1, failed=1)
    client.force_login(viewer)

    listed = client.get(run_changelist()).text
    page = client.get(reverse("admin:reminders_app_reminderrun_change", args=[run.pk])).text
    home = client.get(reverse("admin:index")).text
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("reminders_status", stdout=out)
    facts = client.get("/healthz").json()["last_finished"]

    assert '<td class="field-status_shown">Finished with 1 failed</td>' in listed
    assert field_text(page, "status_shown") == "Finished with 1 failed"
    last_run = home.split('id="reminder-last-run"', 1)[1].split("</td>", 1)[0]
    assert "<strong>Finished with 1 failed</strong>" in last_run
    assert "Succeeded" not in last_run
    assert f"run {run.pk} (schedule) finished with 1 failed at" in out.getvalue()
    assert (facts["status"], facts["outcome"]) == ("succeeded", "finished with 1 failed")


def test_counts_of_one_read_in_the_singular(client, viewer, settings):
    settings.REMINDER_WINDOW_HOURS = 1
    settings.REMINDER_MAX_ATTEMPTS = 1
    run = ReminderRunFactory(selected=1, sent=1)
    failed = ReminderLogFactory(status=ReminderLog.Status.FAILED, sent_at=None, attempts=1, run=run)
    client.force_login(viewer)

    run_page = client.get(reverse("admin:reminders_app_reminderrun_change", args=[run.pk])).text
    home = client.get(reverse("admin:index")).text
    tasks = client.get(task_changelist()).text

    assert "What this run did with the 1 reminder it selected" in run_page
    assert "Duration of the last run (seconds, UTC)" in home
    assert "One bar for each of the last 1 finished run, oldest first" in home
    assert "(1 of 1 attempt made)" in field_text(reminder_page(client, failed), "retry")
    assert "Within 1 hour<" in tasks
