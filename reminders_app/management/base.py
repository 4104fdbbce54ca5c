"""What the reminder commands share: one-line errors and DESIGN.md's exit codes."""

import argparse
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from tasksite.env import positive

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
    return f"database error at {where}: {detail}"


def aware_datetime(value: str) -> datetime:
    """argparse type: an ISO-8601 time; one without an offset is read as UTC.

    The result is in UTC, so one instant shows as one window whatever its spelling."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO-8601 time, e.g. 2026-11-28T09:00:00+00:00"
        ) from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def positive_number(value: str) -> float:
    """argparse type: a finite number greater than zero."""
    try:
        return positive(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number") from None
