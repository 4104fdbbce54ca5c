"""Logs: one JSON object per line on stderr, from every logger, Django's included."""

import json
import os

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
