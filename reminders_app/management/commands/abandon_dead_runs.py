from reminders_app.management.base import ReminderCommand
from reminders_app.runs import reap_dead_runs


class Command(ReminderCommand):
    help = (
        "Record runs whose process died as `abandoned`. Every run does this as it starts "
        "and ends; reminders_status, /healthz and the admin only report such runs."
    )

    def handle(self, **options):
        self.stdout.write(f"runs recorded abandoned: {reap_dead_runs()}")
