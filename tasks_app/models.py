from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# Open tasks with a due date: the only ones that can be reminded. The reminder job
# (reminders_app.selection.due_tasks) filters on exactly this condition so the
# planner can use the partial index below.
OPEN_AND_DATED = Q(completed_at__isnull=True, due_at__isnull=False)


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

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            # Used by reminders_app.selection.due_tasks(), the reminder job's due-task
            # query: open, dated tasks in (due_at, id) order, read index-only and
            # merged with reminderlog_sent_due_idx to find those not yet reminded.
            models.Index(
                fields=["due_at", "id"],
                name="task_open_due_idx",
                condition=OPEN_AND_DATED,
            ),
        ]

    def __str__(self):
        return f"Task {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.completed_at is None
