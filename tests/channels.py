"""Delivery channels for tests. Child processes pick one with the REMINDER_CHANNEL
environment variable (e.g. REMINDER_CHANNEL=tests.channels.AlwaysFails); tests in
this process set settings.REMINDER_CHANNEL.

Their failures quote the task's title, as a careless mail library might, so tests
can prove that no exception message reaches a log line or a ReminderLog row.
"""

import os
import time
from pathlib import Path

from django.conf import settings

from reminders_app.channels import Channel, EmailChannel, EventChannel, RelayUnavailable, Reminder
from tasks_app.models import Task


class _Refusing(EventChannel):
    """Reads the batch's titles in prepare(), as a channel must (deliver() may run on
    another thread), so that its failures can quote them."""

    def prepare(self, reminders: list[Reminder], *, now) -> None:
        ids = [r.task_id for r in reminders]
        self.titles = dict(Task.objects.filter(pk__in=ids).values_list("pk", "title"))

    def refuse(self, reminder: Reminder) -> None:
        raise RuntimeError(f"mail server refused {self.titles[reminder.task_id]!r}")


class AlwaysFails(_Refusing):
    """Every delivery fails."""

    def deliver(self, reminder: Reminder) -> None:
        self.refuse(reminder)


class FailsForUndeliverable(_Refusing):
    """Deliveries fail for tasks whose title contains "undeliverable"."""

    def deliver(self, reminder: Reminder) -> None:
        if "undeliverable" in self.titles[reminder.task_id]:
            self.refuse(reminder)


class FailsOnce(_Refusing):
    """The first attempt at each reminder fails; later attempts succeed."""

    def deliver(self, reminder: Reminder) -> None:
        if reminder.attempts == 0:
            self.refuse(reminder)


class UnreachableWhileDown(EventChannel):
    """A transactional channel whose service cannot be reached while the setting
    TEST_SERVICE_DOWN is true."""

    def deliver(self, reminder: Reminder) -> None:
        if getattr(settings, "TEST_SERVICE_DOWN", False):
            raise RelayUnavailable("connection refused")


class FailsOnceExternal(FailsOnce):
    """FailsOnce with two-phase claims, like EmailChannel."""

    transactional = False


class External(Channel):
    """A non-transactional channel (claims committed before delivery, like email).

    REMINDER_TEST_DELAY: seconds each delivery takes (default 0).
    REMINDER_TEST_DELIVERIES: a file that gets one line per delivery, the task id.
    """

    def deliver(self, reminder: Reminder) -> None:
        time.sleep(float(os.environ.get("REMINDER_TEST_DELAY", "0")))
        if path := os.environ.get("REMINDER_TEST_DELIVERIES"):
            with open(path, "a") as deliveries:  # O_APPEND: one write per line
                deliveries.write(f"{reminder.task_id}\n")


class _Barrier:
    """Makes runs in separate processes reach selection at the same moment.

    The job builds its channel before it selects anything. Each process marks
    itself ready in REMINDER_TEST_BARRIER (a directory) and waits until
    REMINDER_TEST_PARTIES processes are ready.
    """

    def __init__(self):
        barrier = Path(os.environ["REMINDER_TEST_BARRIER"])
        parties = int(os.environ["REMINDER_TEST_PARTIES"])
        (barrier / str(os.getpid())).touch()
        deadline = time.monotonic() + 60
        while len(list(barrier.iterdir())) < parties:
            if time.monotonic() > deadline:
                raise RuntimeError("the other runs never reached the barrier")
            time.sleep(0.005)


class EventTogether(_Barrier, EventChannel):
    """The default channel, behind the barrier."""


class ExternalTogether(_Barrier, External):
    """The external channel, behind the barrier."""


class CutShortAfterTwo(Channel):
    """Two-phase; two deliveries go out, then the third is cut short the way
    django-q2's timeout cuts a job (a SystemExit raised inside the worker)."""

    delivered = 0

    def deliver(self, reminder: Reminder) -> None:
        if type(self).delivered == 2:
            raise SystemExit("timed out")
        type(self).delivered += 1


class EmailTogether(_Barrier, EmailChannel):
    """The email channel, behind the barrier."""

    def __init__(self):
        EmailChannel.__init__(self)
        _Barrier.__init__(self)
