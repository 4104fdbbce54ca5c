"""`manage.py check` warns about the schedule row; bad cluster settings stop start-up."""

import os
from io import StringIO

import pytest
from django.core.management import call_command
from django_q.models import Schedule

from tests.processes import run_manage


def check_output() -> str:
    out, err = StringIO(), StringIO()
    call_command("check", stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


@pytest.mark.django_db
def test_no_warning_for_the_schedule_migrate_made(hourly_schedule):
    assert "reminders_app" not in check_output()


@pytest.mark.django_db
def test_warns_when_the_schedule_row_is_missing():
    Schedule.objects.all().delete()

    assert "(reminders_app.W001) The django-q2 schedule 'send-due-reminders' is missing" in (
        check_output()
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("func", "reason"),
    [
        ("reminders_app.jobs.process_reminder", "it does not exist"),
        ("reminders_app.no_such_module.process_reminders", "it does not exist"),
        ("reminders_app.claims.RETRY_BACKOFF", "it is not callable"),
    ],
)
def test_warns_when_the_schedule_names_a_function_that_does_not_load(hourly_schedule, func, reason):
    hourly_schedule.func = func
    hourly_schedule.save()

    expected = f"runs {func!r}, but {reason}: every scheduled run fails."
    assert f"(reminders_app.W002) The django-q2 schedule 'send-due-reminders' {expected}" in (
        check_output()
    )


def bare_env(tmp_path, **overrides) -> dict[str, str]:
    """The environment without Q_CLUSTER_* and claim settings, on a scratch SQLite file."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("Q_CLUSTER_", "REMINDER_"))
    }
    return env | {"DATABASE_URL": f"sqlite:///{tmp_path / 'scratch.sqlite3'}"} | overrides


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Q_CLUSTER_WORKERS": "0"}, "Q_CLUSTER_WORKERS must be greater than 0, not '0'"),
        ({"Q_CLUSTER_TIMEOUT": "ten"}, "Q_CLUSTER_TIMEOUT must be an integer, not 'ten'"),
        ({"Q_CLUSTER_POLL": "-1"}, "Q_CLUSTER_POLL must be greater than 0, not '-1'"),
        (
            {"Q_CLUSTER_TIMEOUT": "300", "Q_CLUSTER_RETRY": "300"},
            "Q_CLUSTER_TIMEOUT (300) must be below Q_CLUSTER_RETRY (300)",
        ),
    ],
)
def test_a_bad_cluster_setting_stops_start_up_naming_it(tmp_path, overrides, message):
    result = run_manage("qinfo", "--config", env=bare_env(tmp_path, **overrides))

    assert result.returncode == 2
    assert result.stderr == f"configuration error: {message}\n"


def test_a_claim_timeout_below_the_cluster_timeout_is_warned_about(tmp_path):
    env = bare_env(tmp_path, REMINDER_CLAIM_TIMEOUT_SECONDS="2")

    result = run_manage("check", env=env)

    assert result.returncode == 0, result.stderr
    assert "reminders_app.W003" in result.stderr
    assert "REMINDER_CLAIM_TIMEOUT_SECONDS (2) is not above Q_CLUSTER_TIMEOUT (540)" in (
        result.stderr
    )


def test_cluster_settings_come_from_the_environment(tmp_path):
    env = bare_env(
        tmp_path,
        Q_CLUSTER_WORKERS="3",
        Q_CLUSTER_TIMEOUT="700",
        Q_CLUSTER_RETRY="1000",
        REMINDER_CLAIM_TIMEOUT_SECONDS="800",
    )

    result = run_manage("qinfo", "--config", env=env)

    assert result.returncode == 0, result.stderr
    config = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert (config["WORKERS"], config["TIMEOUT"], config["RETRY"]) == ("3", "700", "1000")
    assert (config["ORM"], config["CATCH_UP"], config["ACK_FAILURES"]) == (
        "default",
        "False",
        "True",
    )
    assert config["MAX_ATTEMPTS"] == "3"


@pytest.mark.parametrize("path", ["nowhere.Channel", "reminders_app.models.ReminderLog"])
def test_a_channel_setting_that_names_no_channel_is_an_error(settings, path):
    from reminders_app.checks import check_channel

    settings.REMINDER_CHANNEL = path

    (error,) = check_channel()

    assert error.id == "reminders_app.E001"
    assert path in error.msg


def test_the_default_channel_passes_the_check():
    from reminders_app.checks import check_channel

    assert check_channel() == []
