"""Erasing a person: `manage.py erase_user` and the user admin's "Erase personal data".

After it, nothing of the person (login, names, address, the titles and descriptions of
the tasks that name only them) is left in the database, as a pg_dump shows; the
reminder trail keeps every row and id, those of a task deleted before included.
"""

import io
import json
import os
import shutil
import subprocess
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog, ReminderPreference, ReminderRun
from tests.factories import TaskFactory, UserFactory
from tests.hosts.dated.chores.models import Chore
from tests.processes import run_manage
from tests.test_shapes import CHORES  # the chores' roles, as a host maps them

PASSWORD = "zelda-password-42"
USERNAME = "zelda-quartermain"
PERSON = {"first_name": "Zelda", "last_name": "Quartermaïn", "email": "zq.private@example.org"}
TITLES = ["Renew the passport of Zelda", "Pay Larkspur rent"]
DESCRIPTION = "Flat 4B, 221 Larkspur Lane; call 555-0199"
# Every string of the person, as a dump could hold it (names in the admin's JSON
# change messages are \u-escaped).
THEIRS = [USERNAME, *PERSON.values(), "Quartermaïn", *TITLES, DESCRIPTION, "555-0199"]


def log_in(client, username, password):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": reverse("admin:index")},
    )


def a_person_with_a_history(client) -> dict:
    """Zelda, a staff member with tasks, reminders sent for them, a preference, login
    records, a session, and admin history naming her; a task of hers reminded, then
    deleted; and someone else's task."""
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    # The admin's own "add user" form: a LogEntry whose object_repr is her username.
    added = client.post(
        reverse("admin:auth_user_add"),
        {
            "username": USERNAME,
            "password1": PASSWORD,
            "password2": PASSWORD,
            "usable_password": "true",
            # the page's reminder preference section, left empty
            "reminder_preference-TOTAL_FORMS": "0",
            "reminder_preference-INITIAL_FORMS": "0",
        },
    )
    assert added.status_code == 302
    zelda = get_user_model().objects.get(username=USERNAME)
    get_user_model().objects.filter(pk=zelda.pk).update(is_staff=True, **PERSON)
    ReminderPreference.objects.create(user=zelda, time_zone="Europe/Paris")
    due = timezone.now() + timedelta(hours=1)
    tasks = [TaskFactory(owner=zelda, title=t, description=DESCRIPTION, due_at=due) for t in TITLES]
    other = TaskFactory(title="Someone else's task", description="", due_at=due)
    gone = TaskFactory(owner=zelda, title="Old errand", description="", due_at=due)
    process_reminders(window_hours=2)
    # The admin deletes a reminded task of hers; its reminder stays in the trail.
    deleted = client.post(reverse("admin:tasks_app_task_delete", args=[gone.pk]), {"post": "yes"})
    assert deleted.status_code == 302
    assert ReminderLog.objects.filter(task_id=gone.pk, recipient=zelda).exists()

    # Her login (an access log and a session), then a typo (an attempt and a failure).
    zelda_client = Client()
    assert log_in(zelda_client, USERNAME, PASSWORD).status_code == 302
    assert log_in(Client(), USERNAME, "wrong-password").status_code == 200
    # The host's own history: about her task, naming her in JSON; about another
    # object, naming her address in plain text.
    LogEntry.objects.log_actions(
        user_id=root.pk,
        queryset=[tasks[0]],
        action_flag=CHANGE,
        change_message=[
            {"changed": {"name": "note", "object": "Call Zelda Quartermaïn", "fields": ["text"]}}
        ],
    )
    LogEntry.objects.log_actions(
        user_id=root.pk,
        queryset=[other],
        action_flag=CHANGE,
        change_message=f"Forwarded from {PERSON['email']}",
    )
    return {"zelda": zelda, "client": zelda_client, "tasks": tasks, "other": other, "gone": gone}


def the_trail():
    return (
        sorted(
            ReminderLog.objects.values_list("id", "task_id", "recipient_id", "run_id", "status")
        ),
        sorted(ReminderRun.objects.values_list("id", "sent")),
    )


def pg_dump() -> str:
    db = connection.settings_dict
    command = [
        shutil.which("pg_dump") or "pg_dump",
        f"--host={db.get('HOST') or '127.0.0.1'}",
        f"--port={db.get('PORT') or 5432}",
        f"--username={db.get('USER') or 'postgres'}",
        db["NAME"],
    ]
    env = dict(os.environ, PGPASSWORD=db.get("PASSWORD") or "")
    return subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout


def found_in(dump: str) -> list[str]:
    """The person's strings in the dump, as typed or \\u-escaped, in any case."""
    dump = dump.casefold()
    forms = {form for text in THEIRS for form in (text, json.dumps(text)[1:-1])}
    return sorted(form for form in forms if form.casefold() in dump)


@pytest.mark.postgres
def test_after_erase_user_no_string_of_the_person_is_in_a_pg_dump(transactional_db, client):
    # GIVEN a person with a history, committed
    person = a_person_with_a_history(client)
    trail = the_trail()
    assert len(trail[0]) == 4
    assert set(THEIRS) <= set(found_in(pg_dump()))  # the dump shows every one

    # WHEN an operator runs the command for an unknown username, then for hers
    unknown = run_manage("erase_user", "nobody-here")
    erased = run_manage("erase_user", USERNAME)

    # THEN the unknown one is one line and exit 2; hers says what it did
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "CommandError: no user named 'nobody-here'"
    assert erased.returncode == 0, erased.stderr
    zelda_id = person["zelda"].pk
    assert erased.stdout.strip() == (
        f"erased user {zelda_id}, now 'erased-{zelda_id}': 2 tasks and 3 admin log entries "
        f"rewritten, 2 login records deleted, 1 session ended"
    )
    # AND nothing of hers is in the database, while the trail keeps its rows and ids
    assert found_in(pg_dump()) == []
    assert the_trail() == trail


@pytest.mark.django_db
def test_erasure_leaves_an_anonymous_inactive_account_and_ends_its_session(client):
    person = a_person_with_a_history(client)
    zelda, zelda_client = person["zelda"], person["client"]
    assert zelda_client.get(reverse("admin:index")).status_code == 200
    trail = the_trail()
    assert AccessLog.objects.filter(username=USERNAME).count() == 1
    assert AccessAttempt.objects.filter(username=USERNAME).count() == 1

    call_command("erase_user", USERNAME, stdout=io.StringIO())

    zelda.refresh_from_db()
    assert (zelda.username, zelda.first_name, zelda.last_name, zelda.email) == (
        f"erased-{zelda.pk}",
        "",
        "",
        "",
    )
    assert not zelda.is_active and not zelda.has_usable_password()
    assert sorted(t.title for t in zelda.tasks.all()) == ["erased task", "erased task"]
    assert {t.description for t in zelda.tasks.all()} == {""}
    person["other"].refresh_from_db()
    assert person["other"].title == "Someone else's task"
    preference = ReminderPreference.of(zelda)
    assert (preference.time_zone, preference.email_enabled) == ("", False)
    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        assert not model.objects.filter(username=USERNAME).exists(), model
    assert not any(
        s.get_decoded().get("_auth_user_id") == str(zelda.pk) for s in Session.objects.all()
    )
    assert zelda_client.get(reverse("admin:index")).status_code == 302  # to the login page
    assert the_trail() == trail
    # The admin's history keeps its entries, rewritten.
    reprs = {e.object_repr: e.get_change_message() for e in LogEntry.objects.all()}
    assert f"erased-{zelda.pk}" in reprs and USERNAME not in reprs
    assert reprs["Task " + str(person["tasks"][0].pk)] == "Changed text for note “Call [erased]”."
    assert reprs[str(person["other"])] == "Forwarded from [erased]"
    # The task's page shows the trail with the new title.
    root = get_user_model().objects.get(username="root")
    client.force_login(root)
    page = client.get(reverse("admin:reminders_app_reminderlog_changelist")).text
    assert f"{person['tasks'][0].pk}: erased task" in page
    # The reminder of her deleted task reads as such, to her anonymous account.
    assert f"<em>{person['gone'].pk}: deleted task</em>" in page
    assert page.count(f"{zelda.pk} · erased-{zelda.pk}") == 3

    # Erasing the erased account again rewrites nothing more.
    history = sorted(LogEntry.objects.values_list("object_repr", "change_message"))
    call_command("erase_user", f"erased-{zelda.pk}", stdout=io.StringIO())
    assert sorted(LogEntry.objects.values_list("object_repr", "change_message")) == history


@pytest.mark.django_db
def test_an_unknown_username_is_a_usage_error():
    UserFactory(username="someone")

    with pytest.raises(CommandError) as error:
        call_command("erase_user", "no-one")

    assert error.value.returncode == 2
    assert str(error.value) == "no user named 'no-one'"
    assert get_user_model().objects.get().username == "someone"


# --- Tasks shared with others, other user models ------------------------------------


@pytest.mark.django_db
@override_settings(**CHORES)
def test_erasure_rewrites_the_tasks_that_name_only_them_and_leaves_shared_ones():
    """A host whose tasks name several people (assignees) and a fallback (the creator):
    a task shared with others is theirs too, and keeps its words."""
    zelda, bob = UserFactory(username=USERNAME), UserFactory(username="bob")

    def chore(title, assignees, creator=None):
        made = Chore.objects.create(title=title, notes=f"notes of {title}", creator=creator)
        made.assignees.set(assignees)
        return made.pk

    theirs = [
        chore("Zelda alone", [zelda]),
        chore("Zelda alone, made by Bob", [zelda], creator=bob),
        chore("Nobody assigned, made by Zelda", [], creator=zelda),
    ]
    shared = [
        chore("Zelda and Bob", [zelda, bob]),
        chore("Bob's, made by Zelda", [bob], creator=zelda),
        chore("Bob alone", [bob]),
    ]

    out = io.StringIO()
    call_command("erase_user", USERNAME, stdout=out)

    assert out.getvalue().startswith(f"erased user {zelda.pk}, now 'erased-{zelda.pk}': 3 tasks ")
    chores = {c.pk: (c.title, c.notes) for c in Chore.objects.all()}
    assert [chores[pk] for pk in theirs] == [("erased task", "")] * 3
    assert [chores[pk][0] for pk in shared] == [
        "Zelda and Bob",
        "Bob's, made by Zelda",
        "Bob alone",
    ]
    # Relations stay: she is on the shared chore as the anonymous account.
    assert set(Chore.objects.get(pk=shared[0]).assignees.all()) == {zelda, bob}


@pytest.mark.django_db
def test_erase_user_finds_the_person_by_the_user_models_login_field(client, monkeypatch):
    """LOGIN is the USERNAME_FIELD (get_by_natural_key), here the address; the admin's
    confirmation names the column after it."""
    person = a_person_with_a_history(client)
    zelda = person["zelda"]
    monkeypatch.setattr(get_user_model(), "USERNAME_FIELD", "email")

    page = act(client, [zelda]).text  # client: a superuser's
    assert '<th scope="col">email address</th>' in page
    assert f"<td>{PERSON['email']}</td><td>Zelda Quartermaïn</td>" in page

    with pytest.raises(CommandError):
        call_command("erase_user", USERNAME)  # no longer what she logs in with
    out = io.StringIO()
    call_command("erase_user", PERSON["email"], stdout=out)

    assert out.getvalue().startswith(f"erased user {zelda.pk}, now 'erased-{zelda.pk}': ")
    zelda.refresh_from_db()
    assert (zelda.email, zelda.username, zelda.first_name) == (
        f"erased-{zelda.pk}",
        f"erased-{zelda.pk}",  # a unique text field
        "",
    )
    assert sorted(t.title for t in zelda.tasks.all()) == ["erased task", "erased task"]


# --- The admin action ----------------------------------------------------------------


@pytest.fixture
def superuser(client):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(root)
    return root


def act(client, people, **extra):
    return client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "erase_personal_data", "_selected_action": [p.pk for p in people], **extra},
    )


@pytest.mark.django_db
def test_a_superuser_confirms_then_erases_the_selected_people(client, superuser):
    ann = UserFactory(username="ann", first_name="Ann", last_name="Lee", email="ann@example.com")
    bob = UserFactory(username="bob")
    TaskFactory.create_batch(2, owner=ann)
    keep = UserFactory(username="carol")

    listed = client.get(reverse("admin:auth_user_changelist")).text
    assert '<option value="erase_personal_data">Erase personal data</option>' in listed

    # The action first shows who will be erased, and erases nobody yet
    page = act(client, [ann, bob])
    assert page.status_code == 200
    assert "Erase personal data?" in page.text
    assert "<td>ann</td><td>Ann Lee</td><td>ann@example.com</td><td>2</td>" in page.text
    assert "<td>bob</td>" in page.text and "carol" not in page.text
    assert get_user_model().objects.filter(username__in=["ann", "bob"]).count() == 2

    # Confirming erases them, and says so without their names
    done = act(client, [ann, bob], post="yes")
    assert done.status_code == 302
    message = client.get(done.url).text
    assert f"Erased the personal data of 2 users: erased-{ann.pk}, erased-{bob.pk}" in message
    usernames = set(get_user_model().objects.values_list("username", flat=True))
    assert usernames == {"root", f"erased-{ann.pk}", f"erased-{bob.pk}", keep.username}
    entry = LogEntry.objects.get(object_id=str(ann.pk), change_message="Erased personal data.")
    assert entry.user == superuser and entry.object_repr == f"erased-{ann.pk}"


@pytest.mark.django_db
def test_a_superuser_cannot_erase_their_own_account(client, superuser):
    response = act(client, [superuser], post="yes")

    assert response.status_code == 302
    message = client.get(response.url).text
    assert "You cannot erase your own account while logged in to it." in message
    superuser.refresh_from_db()
    assert superuser.username == "root" and superuser.is_active


@pytest.mark.django_db
def test_staff_who_may_change_users_are_not_offered_the_action(client):
    from django.contrib.auth.models import Permission

    staff = UserFactory(username="staff", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    client.force_login(staff)
    ann = UserFactory(username="ann")

    listed = client.get(reverse("admin:auth_user_changelist")).text
    response = act(client, [ann], post="yes")

    assert "erase_personal_data" not in listed
    assert response.status_code == 200  # the list again, nothing done
    assert "Erase personal data?" not in response.text
    ann.refresh_from_db()
    assert ann.username == "ann"
