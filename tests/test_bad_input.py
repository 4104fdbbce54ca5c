"""Bad input anywhere: one line on stderr, exit 2, no traceback, nothing written.

Every case runs `manage.py` as a child process, side by side. The children point
at a SQLite file that must still not exist afterwards: they stop before touching
any database.
"""

from datetime import timedelta

import pytest

from reminders_app.jobs import process_reminders
from reminders_app.models import ReminderLog, ReminderRun
from tests.factories import TaskFactory
from tests.processes import child_env, message_lines, run_many

BAD_ARGUMENTS = {
    "--now yesterday": ["--now", "yesterday"],
    "--now month 13": ["--now", "2026-13-01T00:00:00"],
    "--now empty": ["--now", ""],
    "--now missing": ["--now"],
    "--window-hours 0": ["--window-hours", "0"],
    "--window-hours -1": ["--window-hours", "-1"],
    "--window-hours abc": ["--window-hours", "abc"],
    "--window-hours nan": ["--window-hours", "nan"],
    "--window-hours inf": ["--window-hours", "inf"],
    "--window-hours huge": ["--window-hours", "1e12"],
    "--window-hours past a date": ["--window-hours", "876000", "--now", "9950-01-01T00:00:00"],
    "--window-hours tiny": ["--window-hours", "1e-300"],
    "--window-hours overflowing float": ["--window-hours", "1e400"],
    "--now last hour of 9999": ["--now", "9999-12-31T23:00:00"],
    "--now out of range in UTC": ["--now", "0001-01-01T00:30:00+01:00"],
    "unknown flag": ["--bogus"],
    "stray argument": ["now"],
}

# (variable, value, what the message must name). Each gets DJANGO_DEBUG=true and a
# secret key unless the case sets them, so only the variable under test is wrong.
BAD_ENVIRONMENT = [
    ("DATABASE_URL", "postgres://u:hunter2@db:notaport/tasks", "DATABASE_URL"),
    ("DATABASE_URL", "mysql://u:hunter2@db/tasks", "DATABASE_URL"),
    ("DATABASE_URL", "tasks.sqlite3", "DATABASE_URL"),
    ("DATABASE_URL", "postgres://u:hunter2@db:5432/", "DATABASE_URL"),
    ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG"),
    ("DJANGO_DEBUG", "false", "DJANGO_SECRET_KEY"),
    ("DJANGO_HSTS_SECONDS", "-1", "DJANGO_HSTS_SECONDS"),
    ("DJANGO_LOGIN_FAILURE_LIMIT", "0", "DJANGO_LOGIN_FAILURE_LIMIT"),
    ("DJANGO_LOGIN_COOLOFF_MINUTES", "soon", "DJANGO_LOGIN_COOLOFF_MINUTES"),
    ("DJANGO_LOGIN_USER_FAILURE_LIMIT", "0", "DJANGO_LOGIN_USER_FAILURE_LIMIT"),
    ("DJANGO_LOGIN_USER_FAILURE_LIMIT", "1000000", "DJANGO_LOGIN_USER_FAILURE_LIMIT"),
    ("DJANGO_TRUSTED_PROXIES", "-1", "DJANGO_TRUSTED_PROXIES"),
    ("DJANGO_TRUSTED_PROXIES", "two", "DJANGO_TRUSTED_PROXIES"),
    ("DJANGO_TRUSTED_PROXIES", "50", "DJANGO_TRUSTED_PROXIES"),
    ("EMAIL_USE_TLS", "maybe", "EMAIL_USE_TLS"),
    ("EMAIL_TIMEOUT", "0", "EMAIL_TIMEOUT"),
    ("REMINDER_WINDOW_HOURS", "-1", "REMINDER_WINDOW_HOURS"),
    ("REMINDER_WINDOW_HOURS", "0", "REMINDER_WINDOW_HOURS"),
    ("REMINDER_WINDOW_HOURS", "abc", "REMINDER_WINDOW_HOURS"),
    ("REMINDER_WINDOW_HOURS", "nan", "REMINDER_WINDOW_HOURS"),
    ("REMINDER_CLAIM_TIMEOUT_SECONDS", "0", "REMINDER_CLAIM_TIMEOUT_SECONDS"),
    ("REMINDER_CLAIM_TIMEOUT_SECONDS", "x", "REMINDER_CLAIM_TIMEOUT_SECONDS"),
    ("REMINDER_CLAIM_TIMEOUT_SECONDS", "1.5", "REMINDER_CLAIM_TIMEOUT_SECONDS"),
    ("REMINDER_MAX_ATTEMPTS", "0", "REMINDER_MAX_ATTEMPTS"),
    ("REMINDER_MAX_ATTEMPTS", "x", "REMINDER_MAX_ATTEMPTS"),
    ("REMINDER_BATCH_SIZE", "0", "REMINDER_BATCH_SIZE"),
    ("REMINDER_BATCH_SIZE", "many", "REMINDER_BATCH_SIZE"),
    ("REMINDER_BATCH_SIZE", "1000000000", "REMINDER_BATCH_SIZE"),
    ("REMINDER_WINDOW_HOURS", "1e12", "REMINDER_WINDOW_HOURS"),
    ("REMINDER_WINDOW_HOURS", "1e400", "REMINDER_WINDOW_HOURS"),
    ("REMINDER_CLAIM_TIMEOUT_SECONDS", "99999999999999999999", "REMINDER_CLAIM_TIMEOUT_SECONDS"),
    ("REMINDER_MAX_ATTEMPTS", "40000", "REMINDER_MAX_ATTEMPTS"),
    ("EMAIL_PORT", "70000", "EMAIL_PORT"),
    ("Q_CLUSTER_TIMEOUT", "1e30", "Q_CLUSTER_TIMEOUT"),
    ("Q_CLUSTER_POLL", "1e308", "Q_CLUSTER_POLL"),
    ("Q_CLUSTER_WORKERS", "100000", "Q_CLUSTER_WORKERS"),
    ("EMAIL_USE_TLS", "sometimes", "EMAIL_USE_TLS"),
    ("EMAIL_TIMEOUT", "-3", "EMAIL_TIMEOUT"),
    ("EMAIL_TIMEOUT", "inf", "EMAIL_TIMEOUT"),
    ("REMINDER_DELIVERY_CONCURRENCY", "0", "REMINDER_DELIVERY_CONCURRENCY"),
    ("REMINDER_DELIVERY_CONCURRENCY", "100000", "REMINDER_DELIVERY_CONCURRENCY"),
    ("SITE_URL", "reminders.example.com", "SITE_URL"),
    ("SITE_URL", "ftp://reminders.example.com", "SITE_URL"),
    ("REMINDER_DEFAULT_TIME_ZONE", "Mars/Olympus", "REMINDER_DEFAULT_TIME_ZONE"),
    ("REMINDER_DEFAULT_TIME_ZONE", "../../etc/passwd", "REMINDER_DEFAULT_TIME_ZONE"),
    ("DEFAULT_FROM_EMAIL", "Task reminders", "DEFAULT_FROM_EMAIL"),
    ("REMINDER_TASK_URL", "https://app.example.com/tasks/", "REMINDER_TASK_URL"),
    ("REMINDER_TASK_URL", "app.example.com/tasks/{task_id}/", "REMINDER_TASK_URL"),
    ("Q_CLUSTER_ALLOWED_FUNCTIONS", "myapp.tasks.ok, rm -rf /", "Q_CLUSTER_ALLOWED_FUNCTIONS"),
    ("LANGUAGE_CODE", "fr", "LANGUAGE_CODE"),
    ("LANGUAGE_CODE", "en-us", "LANGUAGE_CODE"),
    ("ANYMAIL_WEBHOOK_SECRET", "hunter2", "ANYMAIL_WEBHOOK_SECRET"),
    ("ANYMAIL_WEBHOOK_SECRET", ":hunter2", "ANYMAIL_WEBHOOK_SECRET"),
]


def assert_one_line_usage_error(result, *, naming: str, case: str) -> None:
    assert result.returncode == 2, (case, result.stderr)
    assert "Traceback" not in result.stderr, case
    assert result.stdout == "", case
    (line,) = result.stderr.strip().splitlines()  # not even a JSON log line
    assert naming in line, (case, line)
    assert "hunter2" not in line, case


def test_every_bad_send_reminders_argument_exits_2_with_one_line(tmp_path):
    database = tmp_path / "untouched.sqlite3"
    env = child_env(DATABASE_URL=f"sqlite:///{database}")

    results = run_many([(["send_reminders", *args], env) for args in BAD_ARGUMENTS.values()])

    for (case, args), result in zip(BAD_ARGUMENTS.items(), results, strict=True):
        naming = "unrecognized" if case in {"unknown flag", "stray argument"} else args[0]
        assert_one_line_usage_error(result, naming=naming, case=case)
    assert not database.exists()


def test_a_bad_reminders_status_argument_exits_2_with_one_line(tmp_path):
    database = tmp_path / "untouched.sqlite3"
    env = child_env(DATABASE_URL=f"sqlite:///{database}")
    cases = {"unknown flag": ["--bogus"], "stray argument": ["--json", "now"]}

    results = run_many([(["reminders_status", *args], env) for args in cases.values()])

    for case, result in zip(cases, results, strict=True):
        assert_one_line_usage_error(result, naming="unrecognized", case=case)
    assert not database.exists()


@pytest.mark.parametrize("command", ["send_reminders", "reminders_status", "check"])
def test_every_bad_environment_variable_exits_2_naming_it(tmp_path, command):
    database = tmp_path / "untouched.sqlite3"
    sane = {
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_DEBUG": "true",
        "DJANGO_SECRET_KEY": "",
    }
    invocations = [
        ([command], child_env(**(sane | {var: value}))) for var, value, _ in BAD_ENVIRONMENT
    ]

    results = run_many(invocations)

    for (var, value, naming), result in zip(BAD_ENVIRONMENT, results, strict=True):
        assert_one_line_usage_error(result, naming=naming, case=f"{var}={value}")
    assert not database.exists()


def test_tls_and_ssl_together_or_an_unknown_mail_backend_exit_2(tmp_path):
    database = tmp_path / "untouched.sqlite3"
    email = {"REMINDER_CHANNEL": "reminders_app.channels.EmailChannel"}
    cases = {
        "EMAIL_USE_TLS": {"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"},
        "EMAIL_BACKEND": email | {"EMAIL_BACKEND": "no.such.Backend"},
    }
    env = child_env(DATABASE_URL=f"sqlite:///{database}", EMAIL_HOST_PASSWORD="hunter2")

    results = run_many([(["send_reminders"], env | extra) for extra in cases.values()])

    for naming, result in zip(cases, results, strict=True):
        assert_one_line_usage_error(result, naming=naming, case=naming)
    assert not database.exists()


def test_an_unknown_channel_exits_2_naming_reminder_channel(tmp_path):
    database = tmp_path / "untouched.sqlite3"
    env = child_env(DATABASE_URL=f"sqlite:///{database}", REMINDER_CHANNEL="no.such.Channel")

    (result,) = run_many([(["send_reminders"], env)])

    assert_one_line_usage_error(result, naming="REMINDER_CHANNEL", case="REMINDER_CHANNEL")
    assert not database.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_failing_invocation_loses_nothing_already_recorded(now):
    TaskFactory.create_batch(2, due_at=now + timedelta(hours=1))
    TaskFactory(due_at=now + timedelta(hours=2), completed_at=now)
    process_reminders(now=now)
    before = (list(ReminderLog.objects.values()), list(ReminderRun.objects.values()))
    bad = [
        (["send_reminders", "--window-hours", "0"], child_env()),
        (["send_reminders", "--now", "soon"], child_env()),
        (["send_reminders"], child_env(REMINDER_MAX_ATTEMPTS="0")),
        (["send_reminders"], child_env(REMINDER_CHANNEL="no.such.Channel")),
    ]

    results = run_many(bad)

    assert [r.returncode for r in results] == [2] * len(bad)
    assert all(len(message_lines(r.stderr)) == 1 for r in results)
    assert (list(ReminderLog.objects.values()), list(ReminderRun.objects.values())) == before
