import json

from django.core.management.base import CommandError

from reminders_app.jobs import process_reminders
from reminders_app.management.base import (
    EXIT_FAILED,
    ReminderCommand,
    aware_datetime,
    positive_number,
)
from reminders_app.models import ReminderRun


class Command(ReminderCommand):
    help = (
        "Send every reminder due within the window, as the hourly schedule does. "
        "Exit status: 0 all handled, 1 some failed or the database was lost, 2 bad input."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            type=aware_datetime,
            help="The job's clock, ISO-8601; without an offset it is read as UTC.",
        )
        parser.add_argument(
            "--window-hours",
            type=positive_number,
            help="Look-ahead window in hours (default: REMINDER_WINDOW_HOURS).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be sent; write nothing."
        )
        parser.add_argument(
            "--json",
            dest="as_json",
            action="store_true",
            help="Print the summary as one JSON object.",
        )

    def handle(self, *, now, window_hours, dry_run, as_json, **options):
        summary = process_reminders(
            now=now, window_hours=window_hours, dry_run=dry_run, trigger="command"
        )
        summary["dry_run"] = dry_run
        if as_json:
            self.stdout.write(json.dumps(summary, sort_keys=True))
        elif dry_run:
            self.stdout.write(
                f"dry run: {summary['selected']} reminders due between "
                f"{summary['window_start']} and {summary['window_end']}; nothing recorded"
            )
            for task_id in summary["task_ids"]:
                self.stdout.write(f"would remind task {task_id}")
        else:
            self.stdout.write(
                f"run {summary['run_id']} {summary['status']}: selected {summary['selected']}, "
                f"sent {summary['sent']}, skipped {summary['skipped']}, "
                f"failed {summary['failed']} "
                f"(window {summary['window_start']} to {summary['window_end']})"
            )
        if summary.get("status") == ReminderRun.Status.INTERRUPTED:
            raise CommandError(
                f"run {summary['run_id']} interrupted by a signal; committed batches are kept",
                returncode=EXIT_FAILED,
            )
        if summary["failed"]:
            raise CommandError(
                f"{summary['failed']} reminders failed in run {summary['run_id']}; "
                "later runs retry them",
                returncode=EXIT_FAILED,
            )
