"""deploy/: the example environment names every variable the settings read, and the
settings accept it as it stands, deploy checks included."""

import os
import re
import subprocess

from tests.processes import PROJECT, STRONG_SECRET_KEY, run_manage

EXAMPLE = PROJECT / "deploy" / "reminders.env.example"
READER = re.compile(
    r"(?:env_bool|env_number|env_list|env_non_negative|env_choice|env_basic_auth"
    r'|os\.environ\.get)\(\s*"([A-Z_]+)"'
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


def active_lines() -> dict[str, str]:
    """The lines that set a variable, as written: {name: text after the `=`}."""
    return dict(
        line.split("=", 1) for line in EXAMPLE.read_text().splitlines() if line[:1].isalpha()
    )


def sourced_example() -> dict[str, str]:
    """The environment a real bash ends with after `set -a; . file; set +a`, starting
    from an empty one; fails on anything bash says on stderr (a syntax error)."""
    result = subprocess.run(
        ["env", "-i", "bash", "--noprofile", "--norc", "-c", 'set -a; . "$0"; set +a; env -0']
        + [str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stderr == ""
    shell_own = {"PWD", "SHLVL", "_", "OLDPWD"}
    return {
        name: value
        for name, _, value in (item.partition("=") for item in result.stdout.split("\0") if item)
        if name not in shell_own
    }


def test_the_example_sources_in_bash_with_every_value_as_written():
    written = {
        name: text[1:-1] if text[:1] == '"' else text for name, text in active_lines().items()
    }

    assert "DEFAULT_FROM_EMAIL" in written and "EMAIL_USE_TLS" in written  # the last ones
    assert sourced_example() == written


def test_every_value_reads_the_same_in_bash_and_systemd():
    """systemd's EnvironmentFile strips one pair of quotes and expands nothing; bash
    expands $, backquotes and backslashes and splits on spaces unless quoted. A value
    without those characters, in double quotes when it has spaces or < >, reads alike."""
    same_in_both = re.compile(r'"[^"$`\\]*"|[^\s"\'$`\\<>;&|()]*')

    for name, text in active_lines().items():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), name
        assert same_in_both.fullmatch(text), f"{name}={text}"


def test_the_settings_accept_the_example_and_pass_the_deploy_check(tmp_path):
    """... in the form the running Django wants: no deprecation warning (the example
    sets the EMAIL_* variables, which Django 6.1 takes as MAILERS)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMAIL_"))}
    env |= sourced_example() | {
        "DJANGO_SETTINGS_MODULE": "tasksite.settings",
        "DJANGO_SECRET_KEY": STRONG_SECRET_KEY,
        "ANYMAIL_WEBHOOK_SECRET": "provider:a-long-random-webhook-password",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'scratch.sqlite3'}",
    }
    env["PYTHONWARNINGS"] = "error::DeprecationWarning,error::PendingDeprecationWarning"

    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stderr


def test_the_worker_unit_stops_qcluster_as_the_readme_says():
    unit = (PROJECT / "deploy" / "reminders-worker.service").read_text()

    assert "ExecStart=/srv/reminders/.venv/bin/python manage.py qcluster" in unit
    assert "KillMode=mixed" in unit
    assert "EnvironmentFile=/etc/reminders/reminders.env" in unit


def test_the_web_unit_and_make_serve_start_gunicorn_with_its_json_log_config():
    unit = (PROJECT / "deploy" / "reminders-web.service").read_text()
    makefile = (PROJECT / "Makefile").read_text()

    assert "gunicorn -c tasksite/gunicorn.conf.py tasksite.wsgi" in unit
    assert "gunicorn -c tasksite/gunicorn.conf.py tasksite.wsgi" in makefile
