from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from reminders_app.models import ReminderLog, ReminderRun
from tasks_app.models import Task


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    title = factory.Faker("sentence", nb_words=4)
    description = factory.Faker("paragraph")
    owner = factory.SubFactory(UserFactory)
    due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
    completed_at = None


class ReminderRunFactory(factory.django.DjangoModelFactory):
    """A finished, successful run."""

    class Meta:
        model = ReminderRun

    trigger = ReminderRun.Trigger.SCHEDULE
    status = ReminderRun.Status.SUCCEEDED
    started_at = factory.LazyFunction(timezone.now)
    heartbeat_at = factory.SelfAttribute("started_at")
    finished_at = factory.LazyAttribute(lambda r: r.started_at + timedelta(seconds=2))
    window_start = factory.SelfAttribute("started_at")
    window_end = factory.LazyAttribute(lambda r: r.started_at + timedelta(hours=24))


class ReminderLogFactory(factory.django.DjangoModelFactory):
    """A reminder sent to its task's owner for its due date."""

    class Meta:
        model = ReminderLog

    task = factory.SubFactory(TaskFactory)
    recipient = factory.SelfAttribute("task.owner")
    due_at = factory.SelfAttribute("task.due_at")
    run = factory.SubFactory(ReminderRunFactory)
    status = ReminderLog.Status.SENT
    attempts = 1
    sent_at = factory.LazyFunction(timezone.now)


def create_due_tasks(count: int, *, first_due, spacing=timedelta(seconds=1), **fields) -> list[int]:
    """`count` tasks of one owner, due from `first_due` every `spacing`, in one
    bulk insert; returns their ids. For tests that need thousands of tasks."""
    owner = fields.pop("owner", None) or UserFactory()
    tasks = Task.objects.bulk_create(
        [
            Task(title=f"Task {n}", owner=owner, due_at=first_due + n * spacing, **fields)
            for n in range(count)
        ],
        batch_size=5000,
    )
    return [task.pk for task in tasks]
