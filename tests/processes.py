"""Run `manage.py` as real child processes against the test database."""

import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

PROJECT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test database)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = db["NAME"]
        if name == ":memory:" or "mode=memory" in str(name):
            raise RuntimeError("child processes cannot share an in-memory SQLite database")
        return f"sqlite:///{name}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ, DATABASE_URL=database_url(), PYTHONUNBUFFERED="1")
    env.update(overrides)
    return env


def start_manage(*args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """Start `python manage.py ARGS...`; stdout and stderr are captured as text."""
    return subprocess.Popen(
        [sys.executable, str(PROJECT / "manage.py"), *args],
        cwd=PROJECT,
        env=env or child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def run_manage(*args: str, env=None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python manage.py ARGS...` to completion."""
    proc = start_manage(*args, env=env)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise AssertionError(f"manage.py {' '.join(args)} timed out; stderr:\n{stderr}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
