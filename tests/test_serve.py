"""gunicorn serves the site in production mode, static files included, as `make serve` does,
and every line it writes is JSON.

A real gunicorn process with production settings (debug off, a strong key) on a
scratch database (tests/gunicorn.py); only the HTTPS redirect is off, so plain HTTP on
localhost reaches the pages.
"""

import gzip
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.gunicorn import fetch, gunicorn, log_in, prepare, production_env, scratch_database
from tests.processes import PROJECT

PASSWORD = "a-long-admin-password-1"


class Site(NamedTuple):
    address: str
    static_root: Path
    log: Path  # gunicorn's stdout and stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A fresh deploy: collectstatic, migrate and a superuser, then gunicorn on a free
    port; no worker has run."""
    tmp = tmp_path_factory.mktemp("serve")
    with scratch_database(tmp, "serve") as url:
        env = production_env(tmp, DATABASE_URL=url, DJANGO_SUPERUSER_PASSWORD=PASSWORD)
        prepare(
            env,
            ["collectstatic", "--no-input", "-v0"],
            ["migrate", "--no-input", "-v0"],
            ["createsuperuser", "--no-input", "--username", "root", "--email", "root@x.example"],
        )
        with gunicorn(env, tmp / "gunicorn.log") as address:
            yield Site(address, tmp / "static", tmp / "gunicorn.log")


def test_the_login_page_is_served_with_its_hashed_stylesheet(site):
    address, static_root, _ = site
    hashed = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    css = hashed["admin/css/base.css"]
    assert css != "admin/css/base.css"

    with fetch(f"{address}/admin/login/") as response:
        page = response.read().decode()

    assert response.status == 200
    assert f"/static/{css}" in page
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_static_file_is_served_under_its_hashed_name_and_gzipped_on_request(site):
    address, static_root, _ = site
    css = json.loads((static_root / "staticfiles.json").read_text())["paths"]["admin/css/base.css"]
    original = (static_root / css).read_bytes()

    with fetch(f"{address}/static/{css}") as plain:
        assert plain.status == 200
        assert plain.read() == original
        assert "immutable" in plain.headers["Cache-Control"]
    with fetch(f"{address}/static/{css}", {"Accept-Encoding": "gzip"}) as compressed:
        assert compressed.status == 200
        assert compressed.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(compressed.read()) == original


def test_an_administrator_logs_in(site):
    address = site.address

    _, landed, home = log_in(address, "root", PASSWORD)

    assert landed == f"{address}/admin/"
    assert "Log out" in home


def test_a_fresh_deploy_is_ready_and_its_worker_starting(site):
    with fetch(f"{site.address}/readyz") as ready:
        assert (ready.status, json.loads(ready.read())) == (200, {"ready": True})
    with fetch(f"{site.address}/healthz") as health:
        facts = json.loads(health.read())

    assert health.status == 200
    assert (facts["status"], facts["healthy"], facts["problems"]) == ("starting", True, [])


def json_lines(log: Path) -> list[dict]:
    """Every line in the log, each parsed as JSON (a line that is not fails the test)."""
    lines = log.read_text().splitlines()
    assert lines
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line: {line[:300]}")
    return [json.loads(line) for line in lines]


def test_every_line_gunicorn_writes_is_json_its_own_lines_included(site):
    with fetch(f"{site.address}/admin/login/?next=/admin/&q=Alice+Owner") as response:
        assert response.status == 200

    lines = json_lines(site.log)

    own = [line["message"] for line in lines if line["logger"] == "gunicorn.error"]
    assert any(message.startswith("Listening at: http://127.0.0.1:") for message in own)
    assert any(message.startswith("Booting worker with pid: ") for message in own)
    requests = [line["message"] for line in lines if line["logger"] == "gunicorn.access"]
    assert any(re.fullmatch(r"GET /readyz 200 \d+ bytes \d+ ms", m) for m in requests), requests
    # The query string (an admin search may hold a name) and the client are not logged.
    assert any(m.startswith("GET /admin/login/ 200 ") for m in requests), requests
    assert not [m for m in requests if "Alice" in m or "127.0.0.1" in m]
    assert all({"level", "logger", "timestamp"} <= set(line) for line in lines)


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory):
    """gunicorn whose database refuses connections."""
    tmp = tmp_path_factory.mktemp("unreachable")
    env = production_env(tmp, DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere")
    with gunicorn(env, tmp / "gunicorn.log") as address:
        yield address, tmp / "gunicorn.log"


def test_readyz_answers_503_without_its_database_in_one_warning_line(unreachable):
    address, log = unreachable

    with pytest.raises(urllib.error.HTTPError) as answer:
        fetch(f"{address}/readyz")

    assert answer.value.code == 503
    assert json.loads(answer.value.read()) == {"ready": False, "problem": "OperationalError"}
    lines = json_lines(log)
    (logged,) = [line for line in lines if line["logger"] == "django.request"]
    assert (logged["level"], logged["message"]) == ("WARNING", "Service Unavailable: /readyz")
    assert not [line for line in lines if line["level"] in {"ERROR", "CRITICAL"}]


def test_a_bad_environment_variable_stops_gunicorn_with_one_line(tmp_path):
    # gunicorn started directly, as a process manager other than systemd may
    env = production_env(tmp_path, DATABASE_URL="sqlite:///unused.sqlite3", DJANGO_SECRET_KEY="")

    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "tasksite/gunicorn.conf.py", "tasksite.wsgi"]
        + ["--bind", "127.0.0.1:0"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    messages = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert messages == [
        "configuration error: DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false"
    ]


def test_healthz_answers_503_naming_the_database_it_cannot_reach(unreachable):
    address, log = unreachable

    with pytest.raises(urllib.error.HTTPError) as answer:
        fetch(f"{address}/healthz")

    assert answer.value.code == 503
    assert json.loads(answer.value.read()) == {
        "status": "unhealthy",
        "healthy": False,
        "problems": ["the database cannot be reached (OperationalError)"],
    }
    assert "Traceback" not in log.read_text()
