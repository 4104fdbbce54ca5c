import importlib
from datetime import UTC, datetime

import pytest

# A fixed clock for the job: tests pass it as `now` (or `--now`).
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def now():
    return NOW


@pytest.fixture(autouse=True)
def _postgres_required_when_asked(request, settings):
    """Tests marked `postgres` skip on SQLite but must never skip on a PostgreSQL run."""
    if request.node.get_closest_marker("postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")


@pytest.fixture
def hourly_schedule(db):
    """The schedule row exactly as migration 0002 makes it (transactional tests
    flush the one `migrate` made)."""
    from django.apps import apps
    from django_q.models import Schedule

    from reminders_app.schedule import SCHEDULE_NAME

    migration = importlib.import_module("reminders_app.migrations.0002_hourly_schedule")
    migration.create_schedule(apps, None)
    return Schedule.objects.get(name=SCHEDULE_NAME)
