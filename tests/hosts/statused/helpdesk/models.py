from django.conf import settings
from django.db import models
from django.db.models import Q


class Ticket(models.Model):
    class Status(models.IntegerChoices):
        NEW = 1
        OPEN = 2
        WAITING = 3
        SOLVED = 4
        CLOSED = 5

    subject = models.CharField(max_length=200)
    status = models.PositiveSmallIntegerField(choices=Status, default=Status.NEW)
    due = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )

    class Meta:
        indexes = [
            # Unsolved tickets by due time, as reminders_app's check (W004) asks.
            models.Index(
                fields=["due", "id"],
                name="ticket_unsolved_due_idx",
                condition=Q(status__in=[1, 2, 3], due__isnull=False),
            )
        ]

    def __str__(self):
        return self.subject
