from django.db import models


class Sweep(models.Model):
    """One run of the nightly sweep (household.tasks.sweep)."""

    ran_at = models.DateTimeField(auto_now_add=True)
    removed = models.PositiveIntegerField()

    def __str__(self):
        return f"Sweep {self.pk}"
