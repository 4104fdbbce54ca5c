import importlib
from datetime import UTC, datetime

import pytest

# A fixed clock for the job: tests pass it as `now` (or `--now`).
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def now():
    return NOW


@pytest.fixture(autouse=True)
def _postgres_required_when_asked(request):
    """Tests marked `postgres` skip on SQLite but must never skip on a PostgreSQL run."""
    if request.node.get_closest_marker("postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")


def pytest_sessionstart(session):
    """On CI's PostgreSQL pass, a misread DATABASE_URL must fail, not quietly run SQLite."""
    import os

    if os.environ.get("REQUIRE_POSTGRES") == "1":
        from django.conf import settings

        engine = settings.DATABASES["default"]["ENGINE"]
        if engine != "django.db.backends.postgresql":
            raise pytest.UsageError(f"REQUIRE_POSTGRES=1 but the database engine is {engine}")


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
