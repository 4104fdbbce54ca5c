import importlib
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.hosting import build_wheel, install_wheel, maintain, server_url
from tests.processes import PROJECT

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
    """On CI's PostgreSQL passes, a misread DATABASE_URL must fail, not quietly run
    SQLite; on its psycopg2 pass, so must a psycopg 3 that was not hidden."""
    import os

    if os.environ.get("REQUIRE_POSTGRES") == "1":
        from django.conf import settings

        engine = settings.DATABASES["default"]["ENGINE"]
        if engine != "django.db.backends.postgresql":
            raise pytest.UsageError(f"REQUIRE_POSTGRES=1 but the database engine is {engine}")
    if os.environ.get("REQUIRE_PSYCOPG2") == "1":  # `make test-psycopg2`
        from django.db.backends.postgresql.psycopg_any import is_psycopg3

        if is_psycopg3:
            raise pytest.UsageError(
                "REQUIRE_PSYCOPG2=1 but Django's PostgreSQL backend is on psycopg 3"
            )


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


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = PROJECT / "test-artifacts"


@pytest.fixture
def browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        reason = f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("REQUIRE_BROWSER_TESTS") == "1":
            pytest.fail(f"REQUIRE_BROWSER_TESTS=1 but {reason}")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for argument in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)  # a bounded wait for each element lookup
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# Tests of the Redis broker use this database of the server at 127.0.0.1:6379 (or
# TEST_REDIS_URL), emptied before each; CI's PostgreSQL pass sets REQUIRE_REDIS=1.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")


@pytest.fixture
def redis_url():
    """A real Redis server's database, emptied; skips without one unless
    REQUIRE_REDIS=1, which makes its absence a failure."""
    import redis

    client = redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        reason = f"no Redis at {TEST_REDIS_URL} ({type(exc).__name__})"
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but {reason}")
        pytest.skip(reason)
    yield TEST_REDIS_URL
    client.flushdb()


@pytest.fixture
def clusters(tmp_path):
    from tests.processes import Clusters

    clusters = Clusters(tmp_path)
    yield clusters
    clusters.stop()


# --- host projects (tests/hosting.py) ---------------------------------------------


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """reminders_app's wheel, built from a copy of the checkout."""
    return build_wheel(tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed into a folder of its own, as a host's pip would."""
    return install_wheel(wheel, tmp_path_factory.mktemp("site"))


@pytest.fixture
def host_db(tmp_path):
    """A database of the host's own: beside the test database on PostgreSQL, a file
    on SQLite."""
    from django.db import connection

    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'host.sqlite3'}"
        return
    name = f"{connection.settings_dict['NAME']}_host"
    maintain(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    yield f"{server_url()}/{name}"
    maintain(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
