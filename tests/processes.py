"""Run `manage.py` as real child processes against the test database."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from django.db import connection

from reminders_app.models import ReminderLog

PROJECT = Path(__file__).resolve().parent.parent
# A key the production settings accept (50+ characters, many different ones).
STRONG_SECRET_KEY = "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ" * 2


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
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{user}{password}@{host}/{db['NAME']}"


def child_env(**overrides: str) -> dict[str, str]:
    """The environment for a child; DATABASE_URL is the test database unless given."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.update(overrides)
    if "DATABASE_URL" not in overrides:
        env["DATABASE_URL"] = database_url()
    return env


def start_manage(*args: str, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """Start `python manage.py ARGS...`; stdout and stderr are captured as text
    unless `popen` sends them elsewhere (a file, for a long-running process whose
    output would fill a pipe nobody reads)."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen(
        [sys.executable, str(PROJECT / "manage.py"), *args],
        cwd=PROJECT,
        env=env or child_env(),
        text=True,
        **popen,
    )


def stop(*procs: subprocess.Popen, timeout: float = 30) -> list[int]:
    """SIGTERM them all, then wait; SIGKILL any still running after `timeout` s.
    Returns their exit statuses, -9 for those that had to be killed."""
    for proc in procs:
        proc.terminate()
    deadline = time.monotonic() + timeout
    statuses = []
    for proc in procs:
        try:
            statuses.append(proc.wait(timeout=max(deadline - time.monotonic(), 0)))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            statuses.append(-signal.SIGKILL)
    return statuses


def finish(proc: subprocess.Popen, timeout: float = 120) -> subprocess.CompletedProcess:
    """Wait for a started child; its output as a CompletedProcess."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        raise AssertionError(f"{' '.join(proc.args[1:])} timed out; stderr:\n{stderr}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def run_manage(*args: str, env=None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python manage.py ARGS...` to completion."""
    return finish(start_manage(*args, env=env), timeout)


def run_many(
    invocations: Sequence[tuple[Sequence[str], dict[str, str]]], timeout: float = 120
) -> list[subprocess.CompletedProcess]:
    """Run several `manage.py` invocations (args, env) side by side; results in order."""
    procs = [start_manage(*args, env=env) for args, env in invocations]
    return [finish(proc, timeout) for proc in procs]


def message_lines(stderr: str) -> list[str]:
    """A child's stderr without its JSON log lines: the messages meant for people."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]


def wait_for(condition: Callable[[], object], *, timeout: float = 60, what: str):
    """Poll `condition()` until it returns something truthy, and return that; fail
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return result


@contextmanager
def claims_held():
    """Hold every write to the reminder table until the block ends: runs started
    meanwhile record themselves, then wait at their first claim, and all race on
    release. The lock is held on a connection of its own, so the test's own writes
    commit as usual. PostgreSQL only."""
    table = connection.ops.quote_name(ReminderLog._meta.db_table)
    # The driver Django runs on (psycopg 3 or psycopg2, `make test-psycopg2`).
    holder = connection.Database.connect(database_url())
    try:
        with holder.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
        yield
        holder.commit()  # unlocks
    finally:
        holder.close()


# Each cluster starts with Q_CLUSTER_GUARD_CYCLE=30, so django-q2 calls its scheduler
# on its first guard cycle instead of 30 s after start, and polls the ORM queue every
# 0.1 s.
CLUSTER_ENV = {"Q_CLUSTER_GUARD_CYCLE": "30", "Q_CLUSTER_POLL": "0.1"}


class Clusters:
    def __init__(self, logs):
        self.logs = logs
        self.running = []

    def start(self, count: int, **env: str) -> None:
        for _ in range(count):
            log = (self.logs / f"cluster{len(self.running)}.log").open("w")
            env = child_env(**CLUSTER_ENV | env)
            # A session of its own: kill() takes the cluster and its workers at once.
            proc = start_manage("qcluster", env=env, stdout=log, stderr=log, start_new_session=True)
            self.running.append((proc, log))

    def wait_running(self, timeout: float = 60) -> None:
        """Until each cluster says it is running (or has exited)."""
        for proc, log in self.running:
            path = Path(log.name)
            wait_for(
                lambda path=path, proc=proc: (
                    proc.poll() is not None or "running." in path.read_text()
                ),
                timeout=timeout,
                what=f"{path.name} to start",
            )

    def kill(self, index: int) -> None:
        """SIGKILL cluster `index` and every process of it, as when its host dies."""
        proc, log = self.running.pop(index)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()

    def stop(self) -> None:
        """SIGTERM each cluster once it is up; each must stop by itself and exit 0.

        A cluster signalled while Python is still importing it has no handler yet
        and dies of the signal: that says nothing about how a running one stops."""
        self.wait_running()
        statuses = stop(*(proc for proc, _ in self.running))
        for proc, log in self.running:
            with suppress(ProcessLookupError):  # what a cluster killed at the timeout left
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()
        self.running = []
        assert set(statuses) <= {0}, f"exit statuses {statuses}\n{self.output()}"

    def output(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-4000:]}" for path in sorted(self.logs.iterdir())
        )
