"""Erasing a person (a GDPR erasure request): `manage.py erase_user LOGIN` (LOGIN is the
user model's USERNAME_FIELD) and the user admin's "Erase personal data" action both
call erase_user().

What it does, in one transaction:

- the account: its login (USERNAME_FIELD) becomes `erased-<id>`, every other free-text
  field of the user model is blank (names and address, where the model has them; a
  unique one becomes `erased-<id>` too), an unusable password, inactive (where the
  model stores is_active);
- their tasks, the tasks that name only them (TaskRoles.tasks_naming_only(): the
  owner role names only them, or names nobody and the fallback owner is them): the
  title becomes "erased task" and every other free-text field of the host's task
  model (a CharField or TextField without choices) is blanked; dates, owners and ids
  stay, so the reminder trail still reads "11: erased task";
- a shared task (one that also names someone else) is left as it is: its words are
  the others' as much as theirs, and erasing them would erase other people's data.
  The person stays on it as the anonymous account, their reminders for it are
  suppressed (below), and staff edit its text by hand if it holds their words;
- their reminder preference: mail off (reminders still due to them are recorded
  suppressed, not failed for want of an address), the site's time zone;
- login records: django-axes' attempts, access logs and failure logs under their
  login, when axes is installed;
- the admin's history: entries about the account, its tasks and preference, and any
  entry naming their login or address, keep their row with the names replaced;
- their sessions are deleted (database-backed sessions; any other kind ends at its
  next request, as the password changed and the account is inactive).

The reminder trail (ReminderLog, ReminderRun) keeps every row and id, those of
deleted tasks included: it holds ids, times and error classes, never names
(claims.error_text()).
"""

import json
import logging
import re
from dataclasses import dataclass
from importlib import import_module

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q, Value
from django.db.models.functions import Cast, Concat

from reminders_app.conf import settings
from reminders_app.models import ReminderPreference
from reminders_app.roles import task_roles

logger = logging.getLogger("reminders_app.erasure")

ERASED_TITLE = "erased task"
ERASED_TEXT = "[erased]"
# django-axes' models that record a login (each where the installed version has it).
LOGIN_RECORDS = ["AccessAttempt", "AccessLog", "AccessFailureLog"]


@dataclass(frozen=True, slots=True)
class Erasure:
    """What erase_user() changed, as counts: nothing here names the person."""

    user_id: int
    login: str  # the new one (USERNAME_FIELD), erased-<id>
    tasks: int
    login_records: int
    admin_log_entries: int
    sessions: int


def erased_login(user_id: int) -> str:
    return f"erased-{user_id}"


def free_text_fields(model, *, keep=()) -> list[models.Field]:
    """The model's fields a person writes words into: CharField and TextField (and
    their kinds: EmailField, URLField...) without choices, except `keep`."""
    return [
        field
        for field in model._meta.concrete_fields
        if isinstance(field, (models.CharField, models.TextField))
        and not field.choices
        and not field.primary_key
        and field.name not in keep
    ]


def _erased_value(field: models.Field, text: str = ""):
    """What an erased field holds: `text`, or erased-<pk> where values are unique."""
    if field.unique:
        return Concat(Value("erased-"), Cast("pk", models.CharField()))
    return text


def erase_user(user) -> Erasure:
    """Remove the person's personal data from the database; keep the trail's rows."""
    User = get_user_model()
    with transaction.atomic():
        user = User._default_manager.select_for_update().get(pk=user.pk)
        roles = task_roles()
        tasks = roles.tasks_naming_only(user.pk)
        task_text = free_text_fields(roles.model)
        secrets = _their_strings(user, tasks, task_text)
        # What singles them out anywhere in the admin's history (names and titles
        # are too common to search every entry for).
        old_login = user.get_username()
        identifiers = [old_login, getattr(user, User.get_email_field_name(), "")]

        tasks_erased = tasks.update(
            **{
                field.name: _erased_value(
                    field, ERASED_TITLE if field.name == roles.fields.title else ""
                )
                for field in task_text
            }
        )
        ReminderPreference.objects.update_or_create(
            user=user, defaults={"email_enabled": False, "time_zone": ""}
        )
        sessions = _end_sessions(user.pk)
        user_text = free_text_fields(User, keep={User.USERNAME_FIELD, "password"})
        user.set_unusable_password()
        account = {
            User.USERNAME_FIELD: erased_login(user.pk),
            **{field.name: _erased_value(field) for field in user_text},
            "password": user.password,
        }
        # AbstractBaseUser's is_active is a constant True unless the model stores it.
        if any(field.name == "is_active" for field in User._meta.concrete_fields):
            account["is_active"] = False
        User._default_manager.filter(pk=user.pk).update(**account)
        login_records = _delete_login_records(old_login)
        entries = _rewrite_admin_log(user, tasks, secrets, identifiers)

    erasure = Erasure(
        user_id=user.pk,
        login=erased_login(user.pk),
        tasks=tasks_erased,
        login_records=login_records,
        admin_log_entries=entries,
        sessions=sessions,
    )
    logger.info(
        "user_erased",
        extra={
            "event": "user_erased",
            "user_id": user.pk,
            "tasks": tasks_erased,
            "login_records": login_records,
            "admin_log_entries": entries,
            "sessions": sessions,
        },
    )
    return erasure


def _their_strings(user, tasks, task_text) -> list[str]:
    """Every non-empty free text of the account and of their tasks, before erasure."""
    names = [field.name for field in free_text_fields(type(user), keep={"password"})]
    values = [getattr(user, name) for name in names]
    if hasattr(user, "get_full_name"):
        values.append(user.get_full_name())
    for row in tasks.values_list(*[field.name for field in task_text]):
        values.extend(row)
    # What an earlier erasure left is nobody's: erasing twice rewrites nothing more.
    left = {ERASED_TITLE, erased_login(user.pk)}
    kept = {value for value in values if value and value.strip() and value not in left}
    return sorted(kept, key=len, reverse=True)


def _end_sessions(user_id: int) -> int:
    """Delete the sessions logged in as the user, where the session store keeps them
    in the database (the db and cached_db engines). Reads each stored session: there
    is no index by user."""
    engine = import_module(settings.SESSION_ENGINE)
    store = engine.SessionStore
    if not hasattr(store, "get_model_class"):
        return 0
    theirs = [
        session.session_key
        for session in store.get_model_class().objects.iterator()
        if session.get_decoded().get("_auth_user_id") == str(user_id)
    ]
    for key in theirs:
        store(session_key=key).delete()
    return len(theirs)


def _delete_login_records(login: str) -> int:
    """django-axes' records of logins under `login` (this app does not import axes;
    axes keeps what was typed in the login form's username box: the USERNAME_FIELD)."""
    if not apps.is_installed("axes"):
        return 0
    deleted = 0
    for name in LOGIN_RECORDS:
        try:
            model = apps.get_model("axes", name)
        except LookupError:  # a version of axes without it
            continue
        deleted += model.objects.filter(username=login).delete()[1].get(model._meta.label, 0)
    return deleted


def _rewrite_admin_log(user, tasks, secrets: list[str], identifiers: list[str]) -> int:
    """Rewrite the admin history's text about the person; the entries stay.

    Entries about their account, tasks and preference, and any entry whose text names
    one of `identifiers` (their former login and address): each of their strings
    in it becomes "[erased]", and an entry about one of their objects takes that
    object's new name."""
    if not secrets:
        return 0
    own = {}  # (content type id, object id) -> the object's name after erasure
    user.refresh_from_db()
    own[(_type_id(user), str(user.pk))] = str(user)
    for task in tasks:
        own[(_type_id(task), str(task.pk))] = str(task)
    for preference in ReminderPreference.objects.filter(user=user):
        own[(_type_id(preference), str(preference.pk))] = str(preference)

    about_them = Q()
    for type_id, object_id in own:
        about_them |= Q(content_type_id=type_id, object_id=object_id)
    for identifier in set(identifiers) & set(secrets):
        for text in {identifier, json.dumps(identifier)[1:-1]}:
            about_them |= Q(object_repr__icontains=text) | Q(change_message__icontains=text)

    pattern = re.compile("|".join(re.escape(text) for text in secrets), re.IGNORECASE)
    changed = []
    for entry in LogEntry.objects.filter(about_them).iterator():
        entry.object_repr = own.get(
            (entry.content_type_id, entry.object_id), pattern.sub(ERASED_TEXT, entry.object_repr)
        )
        entry.change_message = _scrub_change_message(entry.change_message, pattern)
        changed.append(entry)
    LogEntry.objects.bulk_update(changed, ["object_repr", "change_message"], batch_size=500)
    return len(changed)


def _type_id(obj) -> int:
    return ContentType.objects.get_for_model(obj, for_concrete_model=False).pk


def _scrub_change_message(message: str, pattern: re.Pattern) -> str:
    """Django stores a change message as JSON (names escaped by json.dumps); older
    entries hold plain text."""
    try:
        data = json.loads(message)
    except ValueError:
        return pattern.sub(ERASED_TEXT, message)

    def scrub(value):
        if isinstance(value, str):
            return pattern.sub(ERASED_TEXT, value)
        if isinstance(value, list):
            return [scrub(item) for item in value]
        if isinstance(value, dict):
            return {key: scrub(item) for key, item in value.items()}
        return value

    return json.dumps(scrub(data))
