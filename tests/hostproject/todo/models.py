from django.conf import settings
from django.db import models
from django.db.models import Q


class Item(models.Model):
    name = models.CharField(max_length=100)
    notes = models.TextField(blank=True, default="")
    deadline = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="items"
    )

    class Meta:
        indexes = [
            # What reminders_app's check (W004) asks for: open, dated items by deadline.
            models.Index(
                fields=["deadline", "id"],
                name="item_open_deadline_idx",
                condition=Q(done_at__isnull=True, deadline__isnull=False),
            )
        ]

    def __str__(self):
        return self.name


class Notification(models.Model):
    """What InboxChannel delivers: one row per reminder, in the user's inbox."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE)
    reminder_id = models.BigIntegerField(unique=True)
    due_at = models.DateTimeField()

    def __str__(self):
        return f"Notification {self.reminder_id}"
