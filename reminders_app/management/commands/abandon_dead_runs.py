from datetime import timedelta

from django.conf import settings

from reminders_app.jobs import abandon_dead_runs
from reminders_app.management.base import ReminderCommand


class Command(ReminderCommand):
    help = (
        "Record runs whose process died as `abandoned` and hand their claims to the next "
        "run. Every run does this as it starts and ends; reminders_status, /healthz and "
        "the admin only report such runs."
    )

    def handle(self, **options):
        timeout = timedelta(seconds=settings.REMINDER_CLAIM_TIMEOUT_SECONDS)
        self.stdout.write(f"runs recorded abandoned: {abandon_dead_runs(claim_timeout=timeout)}")
