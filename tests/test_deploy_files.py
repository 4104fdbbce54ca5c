"""deploy/ and docs/deploy.md: the example environment names every variable the
settings read, and the settings accept it as it stands, deploy checks included; the
guide's commands, paths, proxy and lock agree with the files and the code."""

import os
import re
import subprocess

import pytest

from tests.processes import PROJECT, STRONG_SECRET_KEY, run_manage

EXAMPLE = PROJECT / "deploy" / "reminders.env.example"
GUIDE = PROJECT / "docs" / "deploy.md"
UNITS = ("reminders-web.service", "reminders-worker.service")
# Every reader in tasksite/env.py (env_bool, env_url, env_redis_url...), and os.environ.
READER = re.compile(r'(?:env_\w+|os\.environ\.get)\(\s*"([A-Z][A-Z0-9_]+)"')
# gunicorn's own, which the example sets for the web process.
GUNICORN_OWN = {"WEB_CONCURRENCY", "PORT"}


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


# --- The guide (docs/deploy.md) -------------------------------------------------------


def settings_read() -> set[str]:
    return set(READER.findall((PROJECT / "tasksite" / "settings.py").read_text()))


def guide_code() -> str:
    """The guide's fenced blocks, each line once."""
    return "\n".join(re.findall(r"^```[^\n]*\n(.*?)^```", GUIDE.read_text(), re.M | re.S))


def test_every_variable_the_guide_names_is_one_the_settings_read():
    named = set(
        re.findall(
            r"\b((?:DJANGO|REMINDER|Q_CLUSTER|EMAIL)_[A-Z0-9_]+|DATABASE_URL|SITE_URL"
            r"|METRICS_TOKEN|DEFAULT_FROM_EMAIL|WEB_CONCURRENCY|PORT)\b",
            GUIDE.read_text(),
        )
    )

    assert {"DJANGO_SECURE_PROXY_SSL_HEADER", "Q_CLUSTER_REDIS"} <= named  # the pattern works
    assert named - settings_read() - GUNICORN_OWN == set()
    assert named - set(example_variables()) == set()


def test_the_units_run_as_the_user_in_the_directory_with_the_environment_the_guide_makes():
    code = guide_code()
    user = re.search(r"^useradd .* (\S+)$", code, re.M).group(1)
    home = re.search(r"--home-dir (\S+)", code).group(1)
    cloned_to = re.search(r"git clone \S+ (\S+)", code).group(1)
    env_file = re.search(r"install -m 640 -g \S+ deploy/reminders.env.example (\S+)", code)
    sourced = re.search(r"set -a; \. (\S+); set \+a; cd (\S+) &&", code)

    assert home == cloned_to == sourced.group(2)
    assert env_file.group(1) == sourced.group(1)
    for name in UNITS:
        unit = dict(
            line.split("=", 1)
            for line in (PROJECT / "deploy" / name).read_text().splitlines()
            if re.match(r"[A-Z]\w*=", line)
        )
        assert (unit["User"], unit["Group"]) == (user, user), name
        assert unit["WorkingDirectory"] == cloned_to, name
        assert unit["EnvironmentFile"] == env_file.group(1), name
        assert unit["ExecStart"].startswith(f"{cloned_to}/.venv/bin/"), name
        assert f"cp deploy/{name}" in code or f"deploy/{name} " in code, name
    (enabled,) = re.findall(r"systemctl daemon-reload && systemctl enable --now (.+)$", code, re.M)
    assert sorted(f"{unit}.service" for unit in enabled.split()) == sorted(UNITS)


def test_the_guide_installs_the_runtime_lock_with_its_hashes_and_no_test_tool():
    code = guide_code()
    installs = re.findall(r"pip install (.+)$", code, re.M)

    assert installs and set(installs) == {"--require-hashes -r requirements-deploy.lock"}
    for development in ("make install", "requirements.lock", "requirements-dev", "sudo "):
        assert development not in GUIDE.read_text(), development


def test_the_runtime_lock_holds_no_test_tool():
    lock = PROJECT / "requirements-deploy.lock"
    if not lock.exists():
        pytest.skip("requirements-deploy.lock is made with the locks' split (make lock)")
    pinned = re.findall(r"^([a-z0-9][a-z0-9._-]*)==", lock.read_text().lower(), re.M)

    assert {"django", "django-q2", "gunicorn"} <= set(pinned)
    assert {"pytest", "selenium", "hypothesis", "ruff", "aiosmtpd"} & set(pinned) == set()
    assert "--hash=sha256:" in lock.read_text()


def test_the_caddy_example_matches_the_environment_file_and_the_web_unit():
    site, upstream = re.search(
        r"^(\S+) \{\n\treverse_proxy (\S+)\n\}$", guide_code(), re.M
    ).groups()
    web = (PROJECT / "deploy" / "reminders-web.service").read_text()
    written = example_variables()

    assert written["DJANGO_ALLOWED_HOSTS"] == site
    assert f"--bind {upstream}" in web
    assert "DJANGO_SECURE_PROXY_SSL_HEADER" in active_lines()  # set: Caddy sends the header
    assert written["DJANGO_SECURE_PROXY_SSL_HEADER"] == "true"
    # Caddy is the one proxy: the default; the public origin is the host Caddy passes on.
    assert "DJANGO_TRUSTED_PROXIES" not in active_lines()
    assert written["DJANGO_TRUSTED_PROXIES"] == "1"
    assert "DJANGO_CSRF_TRUSTED_ORIGINS" not in active_lines()


def test_the_guides_commands_and_addresses_exist():
    """Each `manage.py` command the guide runs, with its flags, and each path it fetches."""
    from django.core.management import get_commands, load_command_class
    from django.urls import resolve

    code = guide_code()
    runs = re.findall(r"manage\.py (\w+)((?: --[\w-]+)*)", code)
    assert {"migrate", "reminders_status", "send_reminders"} <= {name for name, _ in runs}
    for name, flags in runs:
        command = load_command_class(get_commands()[name], name)
        command.create_parser("manage.py", name).parse_args(flags.split())
    for path in re.findall(r"https?://[^/\s]+(/\w+)\b", code):
        assert resolve(path).url_name in {"readyz", "healthz"}, path
