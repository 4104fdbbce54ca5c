"""deploy/: the example environment names every variable the settings read, and the
settings accept it as it stands, deploy checks included."""

import os
import re

from tests.processes import PROJECT, STRONG_SECRET_KEY, run_manage

EXAMPLE = PROJECT / "deploy" / "reminders.env.example"
READER = re.compile(
    r'(?:env_bool|env_number|env_list|env_non_negative|os\.environ\.get)\(\s*"([A-Z_]+)"'
)


def example_variables() -> dict[str, str]:
    """Every variable in the file, commented-out defaults included."""
    found = {}
    for line in EXAMPLE.read_text().splitlines():
        if match := re.match(r"#?([A-Z][A-Z0-9_]+)=(.*)$", line):
            found[match.group(1)] = match.group(2)
    return found


def test_the_example_lists_every_variable_the_settings_read():
    read = set(READER.findall((PROJECT / "tasksite" / "settings.py").read_text()))

    assert read, "the pattern found no variable"
    assert read - set(example_variables()) == set()


def test_the_settings_accept_the_example_and_pass_the_deploy_check(tmp_path):
    active = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMAIL_"))}
    env |= active | {
        "DJANGO_SETTINGS_MODULE": "tasksite.settings",
        "DJANGO_SECRET_KEY": STRONG_SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'scratch.sqlite3'}",
    }

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stderr


def test_the_worker_unit_stops_qcluster_as_the_readme_says():
    unit = (PROJECT / "deploy" / "reminders-worker.service").read_text()

    assert "ExecStart=/srv/reminders/.venv/bin/python manage.py qcluster" in unit
    assert "KillMode=mixed" in unit
    assert "EnvironmentFile=/etc/reminders/reminders.env" in unit
