"""A real gunicorn serving the site, started as `make serve` and the systemd unit start it."""

import re
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from django.db import connection

from tests.processes import (
    PROJECT,
    STRONG_SECRET_KEY,
    child_env,
    database_url,
    run_manage,
    stop,
    wait_for,
)


@contextmanager
def scratch_database(tmp: Path, name: str):
    """The URL of an empty database of the run's own kind, dropped afterwards: a SQLite
    file in `tmp`, or on PostgreSQL a database beside the test database, so that a
    server the test starts writes nothing the other tests see."""
    if connection.vendor != "postgresql":
        yield f"sqlite:///{tmp / f'{name}.sqlite3'}"
        return
    test_url = database_url()
    scratch = f"{connection.settings_dict['NAME']}_{name}"
    admin = test_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{scratch}"')
    try:
        yield test_url.rsplit("/", 1)[0] + f"/{scratch}"
    finally:
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def production_env(tmp: Path, **overrides: str) -> dict[str, str]:
    """Production settings (debug off, a strong key), static files in `tmp`, the
    database DATABASE_URL in `overrides`; only the HTTPS redirect is off, so plain HTTP
    on localhost reaches the pages."""
    return child_env(
        **{
            "DJANGO_SETTINGS_MODULE": "tasksite.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": STRONG_SECRET_KEY,
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_STATIC_ROOT": str(tmp / "static"),
            **overrides,
        }
    )


def prepare(env: dict[str, str], *commands: list[str]) -> None:
    """Run each `manage.py` command line; fail with its stderr."""
    for args in commands:
        result = run_manage(*args, env=env)
        assert result.returncode == 0, result.stderr


@contextmanager
def gunicorn(env: dict[str, str], log: Path, *args: str):
    """gunicorn with tasksite/gunicorn.conf.py on a free port of 127.0.0.1, one worker;
    yields its base URL. Its stdout and stderr go to `log`."""
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "tasksite/gunicorn.conf.py", "tasksite.wsgi"]
            + ["--bind", "127.0.0.1:0", "--workers", "1", *args],
            cwd=PROJECT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield wait_for(
            lambda: re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text()),
            what="gunicorn to listen",
        ).group(1)
    finally:
        stop(server)


def fetch(url, headers=None, opener=None, data=None):
    """A request to the server; urllib raises HTTPError for a 4xx or 5xx answer."""
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    return (opener or urllib.request.build_opener()).open(request, timeout=30)


def csrf_token(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def log_in(address: str, username: str, password: str):
    """An opener holding the session of `username`, logged in through the admin's
    login form; and the address and text of the page the login led to."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with fetch(f"{address}/admin/login/", opener=opener) as page:
        token = csrf_token(page.read().decode())
    form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
    with fetch(
        f"{address}/admin/login/?next=/admin/", opener=opener, data=urlencode(form).encode()
    ) as response:
        return opener, response.url, response.read().decode()
