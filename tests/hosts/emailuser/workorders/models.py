from django.conf import settings
from django.db import models
from django.db.models import Q


class WorkOrder(models.Model):
    summary = models.CharField(max_length=200)
    deadline = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="work_orders"
    )

    class Meta:
        indexes = [
            # Unfinished orders by deadline, as reminders_app's check (W004) asks.
            models.Index(
                fields=["deadline", "id"],
                name="workorder_open_deadline_idx",
                condition=Q(finished_at__isnull=True, deadline__isnull=False),
            )
        ]

    def __str__(self):
        return self.summary
