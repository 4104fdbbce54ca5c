import json

from django.core.management.base import CommandError

from reminders_app.health import check_health
from reminders_app.management.base import EXIT_FAILED, ReminderCommand


class Command(ReminderCommand):
    help = (
        "Show whether the hourly reminder job is running: the last finished run, runs in "
        "progress and reminders that failed for good. Exit status: 0 healthy or starting "
        "(no run has finished yet and none is overdue), 1 unhealthy (no successful run "
        "within two hours, schedule missing, paused or overdue) or the database was "
        "unreachable."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json",
            dest="as_json",
            action="store_true",
            help="Print the facts as one JSON object.",
        )

    def handle(self, *, as_json, **options):
        health = check_health()
        if as_json:
            self.stdout.write(json.dumps(health.as_dict(), sort_keys=True))
        else:
            self._print(health.as_dict())
        if not health.healthy:
            raise CommandError(f"unhealthy: {'; '.join(health.problems)}", returncode=EXIT_FAILED)

    def _print(self, facts: dict) -> None:
        write = self.stdout.write
        write(f"status: {facts['status'] if facts['healthy'] else 'UNHEALTHY'}")
        for problem in facts["problems"]:
            write(f"problem: {problem}")
        schedule = facts["schedule"]
        if schedule is None:
            write("schedule: missing")
        else:
            state = "paused" if schedule["paused"] else "active"
            write(
                f"schedule: {schedule['name']} (#{schedule['id']}), {state}, "
                f"next run {schedule['next_run']}"
            )
        write(f"last finished run: {_describe(facts['last_finished'])}")
        if facts["last_succeeded"] != facts["last_finished"]:
            write(f"last successful run: {_describe(facts['last_succeeded'])}")
        if not facts["in_progress"]:
            write("in progress: none")
        for run in facts["in_progress"]:
            write(
                f"in progress: run {run['run_id']} ({run['trigger']}) since {run['started_at']}, "
                f"last heartbeat {run['heartbeat_at']}, pid {run['pid']} on {run['hostname']}; "
                f"so far sent {run['sent']}, skipped {run['skipped']}, failed {run['failed']}"
            )
        write(f"reminders failed for good: {facts['failed_reminders']}")


def _describe(run: dict | None) -> str:
    if run is None:
        return "none"
    if run["scheduled_for"] is None:
        slot = "no slot (run by hand)"
    else:
        slot = f"slot {run['scheduled_for']}, lag {run['lag_seconds']:.1f} s"
    error = f" ({run['error']})" if run["error"] else ""
    return (
        f"run {run['run_id']} ({run['trigger']}) {run['outcome']}{error} at "
        f"{run['finished_at']}; {slot}; selected {run['selected']}, sent {run['sent']}, "
        f"skipped {run['skipped']}, failed {run['failed']}"
    )
