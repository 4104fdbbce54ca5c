"""The host's task model as reminders_app reads it: which field plays each role, what
kind of field it is, and the rules built on them, each defined once: which tasks are
open, who a task's recipients are, and when a date-only due date falls due.

Selection, mail, the admin, erasure and the system checks all read the task model
through task_roles(); none of them names a field of the host's model.

The roles (REMINDER_TASK_FIELDS maps each to a field name):

- due_at: a DateTimeField (due at that instant), or a DateField (due at
  REMINDER_DUE_TIME on that day in the recipient's zone); null: never due;
- completed_at: a nullable DateTimeField or DateField (open while null), or a
  BooleanField (open while false); not needed when REMINDER_TASK_OPEN says what open
  means as field lookups;
- owner: a ForeignKey or a ManyToManyField to the user model: each user it names is
  reminded;
- fallback_owner (optional): a ForeignKey to the user model, reminded when owner names
  nobody;
- title: a CharField or TextField.
"""

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, FieldError, ImproperlyConfigured
from django.db import models
from django.db.models import Q, QuerySet

from reminders_app.conf import TaskFields, parse_time_of_day, settings, task_fields, task_model

# The kinds of field each role may be, in the words of check reminders_app.E003.
DUE_KINDS = (models.DateTimeField, models.DateField)
DONE_KINDS = (models.DateTimeField, models.DateField, models.BooleanField)
OWNER_KINDS = (models.ForeignKey, models.ManyToManyField)
TITLE_KINDS = (models.CharField, models.TextField)


@dataclass(frozen=True)
class TaskRoles:
    """The task model and its field for each role."""

    model: type[models.Model]
    fields: TaskFields
    due: models.Field
    owner: models.Field
    fallback: models.Field | None
    open_lookups: dict  # field lookups an open task matches

    @property
    def date_only(self) -> bool:
        """A due date without a time: due at REMINDER_DUE_TIME in each recipient's zone.
        (A DateTimeField is a DateField too, so the test is the other way round.)"""
        return not isinstance(self.due, models.DateTimeField)

    @property
    def many_owners(self) -> bool:
        """Whether a task may name several owners: then a task is one reminder per
        person it names."""
        return self.owner.many_to_many

    def open_tasks(self) -> QuerySet:
        """The task model's open tasks: the one definition of "open"."""
        return self.model._default_manager.filter(**self.open_lookups)

    def title(self, task) -> str:
        return getattr(task, self.fields.title)

    def tasks_of(self, user_id) -> QuerySet:
        """The tasks that name the person: as an owner, or as the fallback owner."""
        named = Q(**{self.owner.name: user_id})
        if self.fallback is not None:
            named |= Q(**{self.fallback.name: user_id})
        return self.model._default_manager.filter(named)

    def tasks_naming_only(self, user_id) -> QuerySet:
        """The tasks that name the person and nobody else: the owner role names only
        them, or names nobody and the fallback owner is them. A task that also names
        someone else is shared: it is not among these."""
        owner = self.owner.name
        if not self.many_owners:
            only = Q(**{owner: user_id})
            if self.fallback is not None:
                only |= Q(**{f"{owner}__isnull": True, self.fallback.name: user_id})
            return self.model._default_manager.filter(only)
        # Several owners: through the join table's rows, each subquery on its indexes.
        through = self.owner.remote_field.through._default_manager
        task, person = self.owner.m2m_field_name(), self.owner.m2m_reverse_field_name()
        named = Q(pk__in=through.filter(**{person: user_id}).values(task))
        if self.fallback is not None:
            named |= Q(**{self.fallback.name: user_id})
        named_tasks = self.model._default_manager.filter(named)
        others = through.filter(**{f"{task}__in": named_tasks.values("pk")}).exclude(
            **{person: user_id}
        )
        return named_tasks.exclude(pk__in=others.values(task))


def task_roles() -> TaskRoles:
    """The roles as the settings map them; ImproperlyConfigured, in one line, for a
    mapping the job cannot use (task_role_problems() lists every problem)."""
    model, fields = task_model(), task_fields()
    if problems := task_role_problems(model, fields):
        raise ImproperlyConfigured(f"REMINDER_TASK_FIELDS: {problems[0]}")
    field = model._meta.get_field
    return TaskRoles(
        model=model,
        fields=fields,
        due=field(fields.due_at),
        owner=field(fields.owner),
        fallback=field(fields.fallback_owner) if fields.fallback_owner else None,
        open_lookups=open_lookups(model, fields),
    )


def open_lookups(model, fields: TaskFields) -> dict:
    """REMINDER_TASK_OPEN, or what the completed_at role says: null, or false."""
    if settings.REMINDER_TASK_OPEN is not None:
        return dict(settings.REMINDER_TASK_OPEN)
    done = model._meta.get_field(fields.completed_at)
    if isinstance(done, models.BooleanField):
        return {done.name: False}
    return {f"{done.name}__isnull": True}


def task_role_problems(model, fields: TaskFields) -> list[str]:
    """What is wrong with the mapping, a sentence each (check reminders_app.E003)."""
    label = model._meta.label
    wanted = {
        "due_at": DUE_KINDS,
        "owner": OWNER_KINDS,
        "fallback_owner": (models.ForeignKey,),
        "title": TITLE_KINDS,
    }
    if settings.REMINDER_TASK_OPEN is None:
        wanted["completed_at"] = DONE_KINDS
    problems = []
    for role, kinds in wanted.items():
        name = getattr(fields, role)
        if name is None:  # fallback_owner, which is optional
            continue
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            problems.append(f"{label} has no field {name!r} (the {role!r} role)")
            continue
        if not isinstance(field, kinds) or (role == "owner" and field.one_to_one):
            names = " or ".join(kind.__name__ for kind in kinds)
            problems.append(
                f"{label}.{name} (the {role!r} role) is a {type(field).__name__}, not a {names}"
            )
        elif role == "completed_at" and not isinstance(field, models.BooleanField):
            if not field.null:
                problems.append(
                    f"{label}.{name} (the 'completed_at' role) must be nullable (null while "
                    "open), or a BooleanField (false while open)"
                )
        elif role in {"owner", "fallback_owner"} and field.related_model is not get_user_model():
            problems.append(f"{label}.{name} (the {role!r} role) must point at the user model")
    return problems


def task_open_problem(model) -> str | None:
    """What is wrong with REMINDER_TASK_OPEN, in one sentence; None when it is sound or
    unset."""
    lookups = settings.REMINDER_TASK_OPEN
    if lookups is None:
        return None
    if not (isinstance(lookups, dict) and lookups and all(isinstance(k, str) for k in lookups)):
        return (
            "REMINDER_TASK_OPEN must be a dict of field lookups an open task matches, such "
            "as {'status__in': [1, 2]}"
        )
    try:
        str(model._default_manager.filter(**lookups).query)
    except (FieldError, FieldDoesNotExist, ValueError, TypeError) as exc:
        reason = " ".join(str(exc).split())
        return f"REMINDER_TASK_OPEN does not filter {model._meta.label}: {reason}"
    return None


# --- date-only due dates ---------------------------------------------------------


def due_time() -> time:
    """REMINDER_DUE_TIME: when a date-only due date falls due in the recipient's zone."""
    try:
        return parse_time_of_day(settings.REMINDER_DUE_TIME)
    except ValueError as exc:
        raise ImproperlyConfigured(f"REMINDER_DUE_TIME {exc}") from None


def due_instant(day: date, zone: zoneinfo.ZoneInfo, at: time | None = None) -> datetime:
    """The instant (in UTC) a task due on `day` falls due for a recipient in `zone`:
    REMINDER_DUE_TIME on that day there. A time the clocks skip (a daylight-saving
    gap) is read with the offset before the change, as the zone's rules say."""
    return datetime.combine(day, at or due_time(), tzinfo=zone).astimezone(UTC)


def due_days(start: datetime, end: datetime) -> tuple[date, date]:
    """The days whose due instants can fall in [start, end], in every zone: UTC-12 to
    UTC+14 moves a day's instants at most a day either way, so the window's own UTC
    dates widened by one day each side. A date-only task model's candidates are read
    by this range on its (indexed) due date, then their instants computed per
    recipient."""
    return start.date() - timedelta(days=1), end.date() + timedelta(days=1)


def due_instants(start: datetime, end: datetime) -> tuple[tuple[str, date, datetime], ...]:
    """For a date-only task model, once per run: (zone name, day, due instant) for the
    zone of every recipient with a preference and the default zone (named ""), over
    due_days(start, end). A stored zone that no longer loads maps to the default
    zone's instants, as ReminderPreference.zone does. Empty for due times."""
    from reminders_app.models import ReminderPreference

    if not task_roles().date_only:
        return ()
    default = zoneinfo.ZoneInfo(settings.REMINDER_DEFAULT_TIME_ZONE)
    stored = ReminderPreference.objects.exclude(time_zone="").values_list("time_zone", flat=True)
    zones = {"": default}
    for name in stored.order_by().distinct():
        try:
            zones[name] = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zones[name] = default
    first, last = due_days(start, end)
    at = due_time()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return tuple(
        (name, day, due_instant(day, zone, at)) for name, zone in zones.items() for day in days
    )
