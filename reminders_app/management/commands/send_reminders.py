import argparse
import json
import subprocess
import sys
import time

from django.core.management.base import CommandError
from django.template.defaultfilters import pluralize

from reminders_app import runs
from reminders_app.jobs import RunSummary, process_part, process_reminders
from reminders_app.management.base import (
    EXIT_FAILED,
    EXIT_USAGE,
    ReminderCommand,
    aware_datetime,
    stop_on_signals,
    window_hours_type,
    workers_type,
)
from reminders_app.models import ReminderRun, run_outcome
from reminders_app.plan import InvalidPlan


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
            type=window_hours_type,
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
        parser.add_argument(
            "--workers",
            type=workers_type,
            default=1,
            help="Run the job in N parts, each in a process of this host, each with "
            "REMINDER_DELIVERY_CONCURRENCY connections (default 1, at most 64).",
        )
        # One part of a run started by --workers, in a child process (JSON of
        # reminders_app.jobs.process_part's arguments).
        parser.add_argument("--part", type=json.loads, help=argparse.SUPPRESS)

    def handle(self, *, now, window_hours, dry_run, as_json, workers, part, **options):
        # SIGTERM (a deploy) and Ctrl-C ask the run to stop after the delivery in hand.
        with stop_on_signals() as stop:
            if part is not None:
                summary = process_part(**part, stop=stop)
                self.stdout.write(json.dumps(summary.as_dict() if summary else None))
                return
            children = Children(stop)
            try:
                summary = process_reminders(
                    now=now,
                    window_hours=window_hours,
                    dry_run=dry_run,
                    trigger="command",
                    stop=stop,
                    workers=workers,
                    launch=children.start,
                )
            except InvalidPlan as exc:
                raise CommandError(
                    f"Error: --now and --window-hours: {exc}", returncode=EXIT_USAGE
                ) from None
            finally:
                children.wait()
        if workers > 1 and not dry_run:  # the whole run, all its parts
            first = summary
            summary = RunSummary.of(ReminderRun.objects.get(pk=summary.run_id).parent)
            summary.without_recipient = first.without_recipient
        facts = summary.as_dict() | {"dry_run": dry_run}
        if not dry_run:
            # Of the failed: retried by a later run, or failed for good.
            split = runs.failures(facts["run_id"]) if facts["failed"] else (0, 0)
            facts["retrying"], facts["failed_for_good"] = split
        if as_json:
            self.stdout.write(json.dumps(facts, sort_keys=True))
        elif dry_run:
            self.stdout.write(
                f"dry run: {reminders(facts['selected'])} due between "
                f"{facts['window_start']} and {facts['window_end']}"
                + (f", {len(facts['held'])} held for quiet hours" if facts["held"] else "")
                + "; nothing recorded"
                + nobody(facts.get("without_recipient"))
            )
            for due in facts["reminders"]:
                self.stdout.write(
                    f"would remind user {due['recipient_id']} of task {due['task_id']}, "
                    f"due {due['due_at']}"
                )
            for held in facts["held"]:
                self.stdout.write(
                    f"held for quiet hours: user {held['recipient_id']}'s reminder of task "
                    f"{held['task_id']}, due {held['due_at']}, goes with the first run from "
                    f"{held['goes_at']}"
                )
        else:
            # "succeeded" only when the exit status says so too.
            outcome = run_outcome(facts["status"], failed=facts["failed"])
            self.stdout.write(
                f"run {facts['run_id']} {outcome}: selected {facts['selected']}, "
                f"sent {facts['sent']}, skipped {facts['skipped']}, failed {facts['failed']}, "
                f"released {facts['released']}, suppressed {facts['suppressed']} "
                f"(window {facts['window_start']} to {facts['window_end']})"
                f"{nobody(facts.get('without_recipient'))}"
            )
        if facts.get("status") == ReminderRun.Status.FAILED:
            raise CommandError(
                f"run {facts['run_id']} failed: the mail relay could not be reached; "
                f"{reminders(facts['released'])} go to the next run, attempts unspent",
                returncode=EXIT_FAILED,
            )
        if facts.get("status") == ReminderRun.Status.INTERRUPTED:
            raise CommandError(
                f"run {facts['run_id']} interrupted by a signal; committed batches are kept",
                returncode=EXIT_FAILED,
            )
        if facts["failed"]:
            raise CommandError(
                f"{reminders(facts['failed'])} failed in run {facts['run_id']}: "
                f"{reminders(facts['retrying'])} will be retried by a later run, "
                f"{reminders(facts['failed_for_good'])} failed for good",
                returncode=EXIT_FAILED,
            )


def reminders(count: int) -> str:
    """ "1 reminder", "2 reminders"."""
    return f"{count} reminder{pluralize(count)}"


def nobody(count: int) -> str:
    """What the summary line adds for tasks due that name nobody to remind."""
    if not count:
        return ""
    return f"; {count} task{pluralize(count)} due name{pluralize(count, 's,')} nobody to remind"


class Children:
    """The other parts of a `--workers` run, each `manage.py send_reminders --part`
    in a process of its own; their log lines go to this command's stderr."""

    def __init__(self, stop):
        self.stop = stop
        self.running: list[subprocess.Popen] = []

    def start(self, **part) -> None:
        self.running.append(
            subprocess.Popen(
                [sys.executable, sys.argv[0], "send_reminders", "--part", json.dumps(part)],
                stdout=subprocess.DEVNULL,
            )
        )

    def wait(self) -> None:
        """Until every part has ended; a stop asked of this process goes to them."""
        signalled = False
        while any(child.poll() is None for child in self.running):
            if self.stop.is_set() and not signalled:
                for child in self.running:
                    child.terminate()
                signalled = True
            time.sleep(0.05)
