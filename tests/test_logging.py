"""Logs: one JSON object per line on stderr, from every logger, Django's included."""

import json
import logging
import os

import pytest

from tests.processes import run_manage

SNIPPET = """
import logging
logging.getLogger("django.request").warning("Not Found: /nowhere")
logging.getLogger("reminders_app.jobs").info(
    "reminder_sent",
    extra={"event": "reminder_sent", "task_id": 7, "run_id": "r-1", "due_at": "2026-03-10"},
)
"""


def test_every_logger_writes_one_json_object_per_line_to_stderr(tmp_path):
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}")

    result = run_manage("shell", "--no-imports", "-c", SNIPPET, env=env)

    assert result.returncode == 0, result.stderr
    django_line, reminder_line = (json.loads(line) for line in result.stderr.splitlines())
    assert (django_line["logger"], django_line["level"]) == ("django.request", "WARNING")
    assert django_line["message"] == "Not Found: /nowhere"
    assert reminder_line["event"] == "reminder_sent"
    assert (reminder_line["task_id"], reminder_line["run_id"]) == (7, "r-1")
    assert reminder_line["level"] == "INFO"
    assert reminder_line["timestamp"].endswith("+00:00")


@pytest.mark.django_db
def test_a_request_for_another_host_is_one_warning_without_traceback(client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get("/admin/login/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    (record,) = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert record.levelname == "WARNING"
    assert record.exc_info is None and not record.exc_text
    assert "evil.example" in record.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_request_for_another_host_is_logged_as_one_json_line(tmp_path):
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}")
    snippet = (
        "from django.test import Client\n"
        "print(Client().get('/admin/login/', HTTP_HOST='evil.example').status_code)"
    )

    result = run_manage("shell", "--no-imports", "-c", snippet, env=env)

    assert result.stdout.strip() == "400"
    (line,) = [json.loads(line) for line in result.stderr.splitlines()]
    assert (line["logger"], line["level"]) == ("django.security.DisallowedHost", "WARNING")
    assert "Traceback" not in result.stderr and "exc_info" not in line
