"""A database that does not answer at start: exit 1, one line naming where, never
the password, nothing written."""

import pytest

from tests.processes import child_env, run_manage


def assert_one_line_naming(result, where: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert f"database error at {where}" in line


def test_an_unreachable_postgresql_server_is_named_without_its_password():
    result = run_manage(
        "send_reminders",
        env=child_env(DATABASE_URL="postgres://postgres:secretpw@127.0.0.1:1/nope"),
    )

    assert_one_line_naming(result, "127.0.0.1:1/nope")
    assert "secretpw" not in result.stderr


def test_an_sqlite_file_that_cannot_be_opened_is_named_and_not_created(tmp_path):
    missing = tmp_path / "no-such-dir" / "db.sqlite3"

    result = run_manage(
        "send_reminders", "--json", env=child_env(DATABASE_URL=f"sqlite:///{missing}")
    )

    assert_one_line_naming(result, str(missing))
    assert not missing.parent.exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_missing_postgresql_database_says_how_to_create_it():
    result = run_manage(
        "send_reminders",
        env=child_env(DATABASE_URL="postgres://postgres@127.0.0.1:5432/reminders_no_such_db"),
    )

    assert_one_line_naming(result, "127.0.0.1:5432/reminders_no_such_db")
    assert "create it with: createdb -h 127.0.0.1 -U postgres reminders_no_such_db" in result.stderr
