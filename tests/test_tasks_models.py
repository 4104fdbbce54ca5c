"""tasks_app's queryset: the one definition of "open" and "due between"."""

from datetime import timedelta

import pytest

from tasks_app.models import Task
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
US = timedelta(microseconds=1)


def test_due_between_includes_both_ends(now):
    inside = {TaskFactory(due_at=now).pk, TaskFactory(due_at=now + H).pk}
    TaskFactory(due_at=now - US)
    TaskFactory(due_at=now + H + US)
    TaskFactory(due_at=None)

    assert set(Task.objects.due_between(now, now + H).values_list("pk", flat=True)) == inside


def test_open_and_overdue(now):
    open_task = TaskFactory(due_at=now - H)
    TaskFactory(due_at=now - H, completed_at=now)
    later = TaskFactory(due_at=now + H)

    assert set(Task.objects.open()) == {open_task, later}
    assert list(Task.objects.overdue(now)) == [open_task]
