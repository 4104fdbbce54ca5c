"""A third-party chores app, as a host project might run it: a due day (no time), a
done flag, several assignees and the chore's creator. reminders_app is fitted to it
by settings alone (hostsite.settings); nothing here knows of reminders_app."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Chore(models.Model):
    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True, default="")
    due_on = models.DateField(null=True, blank=True)
    done = models.BooleanField(default=False)
    assignees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="chores")
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="created_chores",
    )

    class Meta:
        indexes = [
            # Open chores by due day, as reminders_app's check (W004) asks.
            models.Index(
                fields=["due_on", "id"],
                name="chore_open_due_idx",
                condition=Q(done=False, due_on__isnull=False),
            )
        ]

    def __str__(self):
        return self.title
