"""Host projects run from reminders_app's wheel (tests/hostproject, tests/hosts/*).

The wheel is built once per session and installed into a folder of its own, as a
host's pip would (the `wheel` and `installed` fixtures, tests/conftest.py); each host
runs as `django-admin` in child processes whose only reminders_app is the wheel's:
the checkout is not on their path.
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from django.db import connection

from tests.processes import PROJECT

HOSTS = PROJECT / "tests" / "hosts"
# With this folder first on the path, `import psycopg` fails as in an install without
# psycopg 3, and Django's PostgreSQL backend runs on psycopg2.
WITHOUT_PSYCOPG3 = PROJECT / "tests" / "without_psycopg3"
# What a checkout holds besides its sources.
NOT_SOURCES = [".git", ".venv", "build", "*.egg-info", "__pycache__", "*.sqlite3", ".*cache"]
NOT_SOURCES += ["test-artifacts", "staticfiles", ".hypothesis"]
PIP_ENV = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")


def build_wheel(out: Path, scratch: Path) -> Path:
    """`pip wheel --no-deps .` in a copy of the checkout (setuptools leaves build/ and
    egg-info behind, which a later build would pick up): reminders_app's wheel."""
    tree = scratch / "project"
    shutil.copytree(PROJECT, tree, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*pip, "-w", str(out), "."], check=True, cwd=tree, env=PIP_ENV)
    (built,) = out.glob("*.whl")
    return built


def install_wheel(wheel: Path, target: Path) -> Path:
    """The wheel installed into `target`, a folder of its own."""
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target"]
    subprocess.run([*pip, str(target), str(wheel)], check=True, env=PIP_ENV)
    return target


def server_url() -> str:
    """postgres://user@host:port of the server the test database is on."""
    db = connection.settings_dict
    user, address = db.get("USER") or "postgres", db.get("HOST") or "127.0.0.1"
    return f"postgres://{user}@{address}:{db.get('PORT') or 5432}"


def maintain(*statements: str) -> None:
    """Run statements on the server's maintenance database, outside a transaction,
    through the driver Django runs on (psycopg 3, or psycopg2)."""
    admin = connection.Database.connect(f"{server_url()}/postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        admin.close()


@dataclass(frozen=True)
class Host:
    """A host project: `root` (its folder, on the path with tests/hosts, where
    hostbase is), its settings module, and the folder the wheel is installed in.
    `path`: folders put first on the path (a settings variant, or WITHOUT_PSYCOPG3)."""

    root: Path
    settings: str
    site: Path
    database_url: str
    path: tuple[Path, ...] = ()

    def env(self) -> dict[str, str]:
        """This process's environment without the project's own settings."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "REMINDER_", "Q_CLUSTER", "PYTHON"))
        }
        folders = [*self.path, self.site, self.root, HOSTS]  # HOSTS: hostbase
        return env | {
            "PYTHONPATH": os.pathsep.join(map(str, folders)),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": self.settings,
            "DATABASE_URL": self.database_url,
        }

    def command(self, *args: str, code: str | None = None) -> list[str]:
        command = [sys.executable, "-m", "django", *args]
        if code is not None:
            command += ["shell", "--no-imports", "-c", code]
        return command

    def run(self, *args: str, code: str | None = None, timeout: float = 120):
        """`django-admin ARGS` (or `shell -c CODE`) in the host, to completion."""
        return subprocess.run(
            self.command(*args, code=code),
            cwd=self.site,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str, **popen) -> subprocess.Popen:
        """`django-admin ARGS` in the host, left running."""
        return subprocess.Popen(self.command(*args), cwd=self.site, env=self.env(), **popen)

    def variant(self, folder: Path, lines: str) -> "Host":
        """This host with its settings changed by `lines` (run after them), from a
        settings module of its own written in `folder`."""
        package = folder / "variant"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "settings.py").write_text(f"from {self.settings} import *  # noqa\n{lines}")
        return replace(self, settings="variant.settings", path=(folder, *self.path))

    def facts(self, code: str):
        """What a `shell -c` script printed as JSON on its last line."""
        result = self.run(code=code)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.splitlines()[-1])
