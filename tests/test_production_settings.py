"""Production is the default: with DJANGO_DEBUG unset the settings are secure, a weak
secret key stops start-up in one line, and `check --deploy` has nothing to say once the
providers' webhook secret is set too."""

import json
import os

import pytest

from tests.processes import STRONG_SECRET_KEY, run_many

PRINT_SETTINGS = """
import json
from django.conf import settings as s
print(json.dumps({name: getattr(s, name) for name in [
    "DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE", "CSRF_TRUSTED_ORIGINS", "SECURE_REDIRECT_EXEMPT",
    "AXES_FAILURE_LIMIT", "AXES_COOLOFF_TIME", "SECRET_KEY_FALLBACKS",
]}, default=str))
"""


def production_env(tmp_path, **overrides) -> dict[str, str]:
    """Only what an operator must set: no DJANGO_* variable but the key and the hosts."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DJANGO_")}
    return env | {
        "DJANGO_SETTINGS_MODULE": "tasksite.settings",
        "DJANGO_SECRET_KEY": STRONG_SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "reminders.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'scratch.sqlite3'}",
        **overrides,
    }


def settings_under(tmp_path, **overrides) -> dict:
    (result,) = run_many(
        [(["shell", "--no-imports", "-c", PRINT_SETTINGS], production_env(tmp_path, **overrides))]
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_deploy_check_passes_with_a_key_the_hosts_and_the_webhook_secret(tmp_path):
    """... and without the secret (providers' bounce and complaint webhooks off) it
    warns, naming the variable."""
    check = ["check", "--deploy", "--fail-level", "WARNING"]
    webhooks = {"ANYMAIL_WEBHOOK_SECRET": "provider:a-long-random-webhook-password"}

    passed, warned = run_many(
        [(check, production_env(tmp_path, **webhooks)), (check, production_env(tmp_path))]
    )

    assert passed.returncode == 0, passed.stderr
    assert "System check identified no issues" in passed.stdout
    assert warned.returncode == 1
    assert "(reminders_app.W005) django-anymail has no WEBHOOK_SECRET" in warned.stderr
    assert "ANYMAIL_WEBHOOK_SECRET" in warned.stderr


def test_debug_is_off_and_https_is_on_unless_the_environment_says_otherwise(tmp_path):
    facts = settings_under(tmp_path)

    assert facts["DEBUG"] is False
    assert facts["SECURE_SSL_REDIRECT"] is True
    assert facts["SECURE_HSTS_SECONDS"] == 31_536_000
    assert facts["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and facts["SECURE_HSTS_PRELOAD"]
    assert facts["SESSION_COOKIE_SECURE"] and facts["CSRF_COOKIE_SECURE"]
    assert facts["SECURE_PROXY_SSL_HEADER"] is None
    assert facts["CSRF_TRUSTED_ORIGINS"] == []
    assert facts["SECURE_REDIRECT_EXEMPT"] == ["^healthz$", "^readyz$", "^metrics$"]


def test_each_https_setting_is_switched_by_the_environment(tmp_path):
    facts = settings_under(
        tmp_path,
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_HSTS_SECONDS="0",
        DJANGO_SECURE_PROXY_SSL_HEADER="true",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://reminders.example.com, https://admin.example.com",
    )

    assert facts["SECURE_SSL_REDIRECT"] is False
    assert facts["SECURE_HSTS_SECONDS"] == 0
    assert not facts["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and not facts["SECURE_HSTS_PRELOAD"]
    assert facts["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    # The proxy speaks HTTPS to the browser, so the cookies stay Secure.
    assert facts["SESSION_COOKIE_SECURE"] and facts["CSRF_COOKIE_SECURE"]
    assert facts["CSRF_TRUSTED_ORIGINS"] == [
        "https://reminders.example.com",
        "https://admin.example.com",
    ]


def test_login_lockout_limit_and_length_come_from_the_environment(tmp_path):
    default = settings_under(tmp_path)
    chosen = settings_under(
        tmp_path, DJANGO_LOGIN_FAILURE_LIMIT="3", DJANGO_LOGIN_COOLOFF_MINUTES="15"
    )

    assert (default["AXES_FAILURE_LIMIT"], default["AXES_COOLOFF_TIME"]) == (5, "1:00:00")
    assert (chosen["AXES_FAILURE_LIMIT"], chosen["AXES_COOLOFF_TIME"]) == (3, "0:15:00")


def test_keys_retired_by_a_rotation_are_the_fallbacks(tmp_path):
    """Sessions and unsubscribe links signed with them stay valid (docs/deploy.md)."""
    older, old = STRONG_SECRET_KEY[::-1], STRONG_SECRET_KEY.upper()

    facts = settings_under(tmp_path, DJANGO_SECRET_KEY_FALLBACKS=f" {old}, {older} ")

    assert facts["SECRET_KEY_FALLBACKS"] == [old, older]
    assert settings_under(tmp_path)["SECRET_KEY_FALLBACKS"] == []


def test_plain_http_without_a_proxy_gets_cookies_it_can_send_back(tmp_path):
    facts = settings_under(tmp_path, DJANGO_SECURE_SSL_REDIRECT="false")

    assert not facts["SESSION_COOKIE_SECURE"] and not facts["CSRF_COOKIE_SECURE"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false"),
        ({"DJANGO_SECRET_KEY": "abc"}, "DJANGO_SECRET_KEY must be at least 50 random characters"),
        ({"DJANGO_SECRET_KEY": "a" * 60}, "DJANGO_SECRET_KEY must be at least 50 random"),
        (
            {"DJANGO_SECRET_KEY_FALLBACKS": f"{STRONG_SECRET_KEY[::-1]},abc"},
            "DJANGO_SECRET_KEY_FALLBACKS: key 2 of 2 must be at least 50 random characters "
            "(it has 3)",
        ),
        ({"DJANGO_HSTS_SECONDS": "-1"}, "DJANGO_HSTS_SECONDS must be 0 or more, not '-1'"),
        ({"DJANGO_HSTS_SECONDS": "1y"}, "DJANGO_HSTS_SECONDS must be an integer, not '1y'"),
        ({"DJANGO_SECURE_SSL_REDIRECT": "sure"}, "DJANGO_SECURE_SSL_REDIRECT must be true or"),
        (
            {"DJANGO_CSRF_TRUSTED_ORIGINS": "reminders.example.com"},
            "DJANGO_CSRF_TRUSTED_ORIGINS must list origins such as https://example.com",
        ),
    ],
)
def test_a_weak_key_or_bad_https_setting_stops_start_up_in_one_line(tmp_path, overrides, message):
    (result,) = run_many([(["check"], production_env(tmp_path, **overrides))])

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"configuration error: {message}")
    assert "abc" not in line and "aaaa" not in line  # the key itself is never shown
