from datetime import timedelta

from reminders_app.conf import settings
from reminders_app.management.base import ReminderCommand
from reminders_app.runs import abandon_dead_runs


class Command(ReminderCommand):
    help = (
        "Record runs whose process died as `abandoned` and hand their claims to the next "
        "run. Every run does this as it starts and ends; reminders_status, /healthz and "
        "the admin only report such runs."
    )

    def handle(self, **options):
        timeout = timedelta(seconds=settings.REMINDER_CLAIM_TIMEOUT_SECONDS)
        self.stdout.write(f"runs recorded abandoned: {abandon_dead_runs(claim_timeout=timeout)}")
