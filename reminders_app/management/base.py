"""What the reminder commands share: one-line errors and the exit codes of
docs/operations.md ("The send_reminders command")."""

import argparse
import signal
import threading
from contextlib import contextmanager
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from reminders_app.conf import MAX_WINDOW_HOURS, MAX_WORKERS, positive, settings

# some reminders failed, the run was interrupted, the worker is unhealthy, or the
# database was unreachable or lost
EXIT_FAILED = 1
EXIT_USAGE = 2  # bad arguments or configuration


class ReminderCommand(BaseCommand):
    # System checks would print multi-line reports on stderr, where these commands
    # keep one JSON log line per event, and a failing check would exit 1 instead of
    # 2. `manage.py check` and `qcluster` still run them.
    requires_system_checks = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message):
            # argparse would print the usage too; one line is enough to act on.
            if parser.called_from_command_line:
                parser.exit(EXIT_USAGE, f"{parser.prog}: error: {message}\n")
            raise CommandError(f"Error: {message}", returncode=EXIT_USAGE)

        parser.error = error
        return parser

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DatabaseError as exc:
            raise CommandError(database_error(exc), returncode=EXIT_FAILED) from None


def database_error(exc: BaseException) -> str:
    """One line naming the database's host and name, never its password."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        where = str(db["NAME"])
    else:
        where = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if f'database "{db["NAME"]}" does not exist' in detail:
        user = f" -U {db['USER']}" if db.get("USER") else ""
        host = db.get("HOST") or "localhost"
        detail += f"; create it with: createdb -h {host}{user} {db['NAME']}"
    return f"database error at {where}: {detail}"


def aware_datetime(value: str) -> datetime:
    """argparse type: an ISO-8601 time; one without an offset is read as UTC.

    The result is in UTC, so one instant shows as one window whatever its spelling."""
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value[:40]!r} is not an ISO-8601 time, e.g. 2026-11-28T09:00:00+00:00"
        ) from None
    except OverflowError:  # an offset that moves it out of years 1-9999
        raise argparse.ArgumentTypeError(f"{value!r} is out of range in UTC") from None


def window_hours_type(value: str) -> float:
    """argparse type: a number of hours, as REMINDER_WINDOW_HOURS takes it."""
    try:
        return positive(value, maximum=MAX_WINDOW_HOURS)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value[:40]!r} {exc}") from None


def workers_type(value: str) -> int:
    """argparse type: a number of parts, as REMINDER_WORKERS takes it."""
    try:
        return positive(value, maximum=MAX_WORKERS, integer=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value[:40]!r} {exc}") from None


@contextmanager
def stop_on_signals(signals=(signal.SIGTERM, signal.SIGINT)):
    """Turn SIGTERM (a deploy) and SIGINT (Ctrl-C) into a request to stop: yields
    the Event the job watches. The handlers are this command's, restored on exit.

    Only the main thread can install signal handlers; elsewhere (a test calling
    the command from a thread) the Event is never set by a signal.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in signals}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
