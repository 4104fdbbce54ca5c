from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# The partial index below covers exactly the tasks a reminder can be for: open and
# dated. TaskQuerySet.open().due_between() implies this condition (a range on due_at
# excludes NULL), so the planner uses the index for the reminder job's query.
OPEN_AND_DATED = Q(completed_at__isnull=True, due_at__isnull=False)


class TaskQuerySet(models.QuerySet):
    """The one definition of "open" and "due between", for the reminder job, the
    status command and the admin's filters alike."""

    def open(self) -> "TaskQuerySet":
        """Tasks not completed yet."""
        return self.filter(completed_at__isnull=True)

    def due_between(self, start: datetime, end: datetime) -> "TaskQuerySet":
        """Tasks due in [start, end], both ends included (docs/architecture.md)."""
        return self.filter(due_at__gte=start, due_at__lte=end)

    def overdue(self, now: datetime) -> "TaskQuerySet":
        """Open tasks whose due date has passed."""
        return self.open().filter(due_at__lt=now)


class Task(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty while the task is open."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            # Used by reminders_app.selection.due_reminders(), the reminder job's
            # due-task query: open, dated tasks in (due_at, id) order with their owner
            # (the recipient), read index-only and merged with
            # reminderlog_settled_due_idx to find those not yet reminded.
            models.Index(
                fields=["due_at", "id"],
                include=["owner"],
                name="task_open_due_idx",
                condition=OPEN_AND_DATED,
            ),
        ]

    def __str__(self):
        return f"Task {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.completed_at is None
