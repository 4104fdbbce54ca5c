from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

# A task waits for a reminder while it is open, has a due date, and its reminder for
# that due date is not yet settled. The reminder job (reminders_app.selection) filters
# on exactly this condition so PostgreSQL and SQLite can use the partial index below.
AWAITING_REMINDER = (
    Q(completed_at__isnull=True)
    & Q(due_at__isnull=False)
    & (Q(reminded_due_at__isnull=True) | ~Q(reminded_due_at=F("due_at")))
)


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
    reminded_due_at = models.DateTimeField(
        null=True,
        blank=True,
        default=None,
        editable=False,
        help_text=(
            "The due date whose reminder is settled (sent, or failed for good). "
            "Written by the reminder job; a task whose due date moves is reminded again."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            # Used by reminders_app.selection.due_tasks(), the reminder job's due-task
            # query: open, dated tasks whose reminder is not settled, walked in
            # (due_at, id) order. Reminded tasks leave the index, so a run with
            # nothing to send touches no index entries at all.
            models.Index(
                fields=["due_at", "id"],
                name="task_awaiting_reminder_idx",
                condition=AWAITING_REMINDER,
            ),
        ]

    def __str__(self):
        return f"Task {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.completed_at is None
