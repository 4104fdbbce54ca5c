"""Login lockout as a client sees it through a real gunicorn: from several addresses
(127.0.0.2, 127.0.0.3, ... are all this host's loopback) and behind two proxies.

One gunicorn for the module, with small limits: 3 failures per username and address,
6 per username from any addresses. Each test uses usernames of its own.
"""

import http.client
import re
from urllib.parse import urlencode, urlsplit

import pytest

from tests.gunicorn import gunicorn, prepare, production_env, scratch_database

PASSWORD = "a-long-admin-password-1"
WRONG = "hunter2-wrong-guess"
USERS = ["spread", "pair", "proxied", "below"]
LOCKED, FORM, LOGGED_IN = 429, 200, 302


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("login")
    with scratch_database(tmp, "login") as url:
        env = production_env(
            tmp,
            DATABASE_URL=url,
            DJANGO_LOGIN_FAILURE_LIMIT="3",
            DJANGO_LOGIN_USER_FAILURE_LIMIT="6",
            DJANGO_SECURE_PROXY_SSL_HEADER="true",
            DJANGO_TRUSTED_PROXIES="2",
        )
        create = (
            "from django.contrib.auth import get_user_model\n"
            f"for name in {USERS!r}:\n"
            f"    get_user_model().objects.create_superuser(name, None, {PASSWORD!r})\n"
        )
        prepare(
            env,
            ["collectstatic", "--no-input", "-v0"],
            ["migrate", "--no-input", "-v0"],
            ["shell", "-c", create],
        )
        with gunicorn(env, tmp / "gunicorn.log") as address:
            yield urlsplit(address).port, tmp / "gunicorn.log"


def log_in(site, username, password, *, source="127.0.0.1", forwarded=None) -> int:
    """The login page, then the form posted, from `source` and, when given, with
    X-Forwarded-For as the proxies in front would send it; the POST's status."""
    port, _ = site
    headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}

    def request(method, body=None, extra=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
        try:
            conn.request(method, "/admin/login/?next=/admin/", body, headers | (extra or {}))
            response = conn.getresponse()
            return response, response.read().decode()
        finally:
            conn.close()

    page, text = request("GET")
    assert page.status == 200, text
    cookie = page.getheader("Set-Cookie").split(";", 1)[0]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text).group(1)
    form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
    response, text = request(
        "POST",
        urlencode(form),
        {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status in {FORM, LOGGED_IN, LOCKED}, (response.status, text[:500])
    return response.status


def test_wrong_passwords_for_one_username_from_many_addresses_lock_that_username(site):
    # 2 from each of 3 addresses: no address reaches its limit of 3, the username its 6th.
    statuses = [
        log_in(site, "spread", WRONG, source=f"127.0.0.{n}") for n in (2, 3, 4) for _ in range(2)
    ]

    assert statuses == [FORM] * 5 + [LOCKED]
    # Locked from an address that never failed, the right password included; other
    # usernames are not.
    assert log_in(site, "spread", PASSWORD, source="127.0.0.5") == LOCKED
    assert log_in(site, "below", PASSWORD, source="127.0.0.5") == LOGGED_IN


def test_below_the_username_limit_another_address_logs_in(site):
    for n in (6, 7):
        assert [log_in(site, "below", WRONG, source=f"127.0.0.{n}") for _ in range(2)] == [FORM] * 2

    assert log_in(site, "below", PASSWORD, source="127.0.0.8") == LOGGED_IN


def test_one_address_is_locked_for_a_username_at_its_own_limit(site):
    assert [log_in(site, "pair", WRONG, source="127.0.0.9") for _ in range(3)] == [
        FORM,
        FORM,
        LOCKED,
    ]

    assert log_in(site, "pair", PASSWORD, source="127.0.0.9") == LOCKED
    assert log_in(site, "pair", PASSWORD, source="127.0.0.10") == LOGGED_IN


def test_behind_two_proxies_the_client_is_the_second_entry_from_the_end(site):
    """The outer proxy appends the inner one's address (10.0.0.1), the inner one the
    client's; what comes before is the client's own and is never believed."""
    attacker = [f"203.0.113.{n}, 198.51.100.7, 10.0.0.1" for n in (1, 2, 3)]

    assert [log_in(site, "proxied", WRONG, forwarded=f) for f in attacker] == [FORM, FORM, LOCKED]
    # A new made-up first entry does not get the attacker round the lockout...
    assert log_in(site, "proxied", PASSWORD, forwarded="192.0.2.50, 198.51.100.7, 10.0.0.1") == (
        LOCKED
    )
    # ...and the administrator behind the same proxies is another client.
    assert log_in(site, "proxied", PASSWORD, forwarded="198.51.100.8, 10.0.0.1") == LOGGED_IN


MALFORMED = [
    "not-an-ip",
    "1.2.3.4:5678, 10.0.0.1",
    "[2001:db8::1]:443, 10.0.0.1",
    "fe80::1%eth0, 10.0.0.1",
    "300.1.2.3, 10.0.0.1",
    "",
    ",,,",
    "10.0.0.1",  # one entry where two proxies should have left two
    "x" * 2000,
]


def test_a_malformed_forwarded_header_is_never_a_server_error(site):
    statuses = [
        log_in(site, f"nobody-{n}", WRONG, source=f"127.0.1.{n}", forwarded=forwarded)
        for n, forwarded in enumerate(MALFORMED, start=1)
    ]

    assert statuses == [FORM] * len(MALFORMED)


def test_a_malformed_forwarded_header_counts_against_the_connection(site):
    statuses = [
        log_in(site, "nobody", WRONG, source="127.0.2.1", forwarded=forwarded)
        for forwarded in ("not-an-ip", "1.2.3.4:5678, 10.0.0.1", "10.0.0.1")
    ]

    # The connection's own address took the failures: locked there, not elsewhere.
    assert statuses == [FORM, FORM, LOCKED]
    assert log_in(site, "nobody", WRONG, source="127.0.2.2") == FORM


def test_no_traceback_reached_the_log(site):
    _, log = site
    assert "Traceback" not in log.read_text()
    assert '"level":"ERROR"' not in log.read_text()
