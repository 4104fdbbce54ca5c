"""Login lockout: too many wrong passwords for one username from one address, and the
admin login refuses that pair, the right password included, until the cool-off ends."""

import logging
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.urls import reverse
from django.utils import timezone

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "the-right-password-42"
WRONG = "hunter2-wrong-guess"


@pytest.fixture
def admin_user():
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(client, password, username="root", **request):
    """POST the admin login form; the response and whether it logged in."""
    response = client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": reverse("admin:index")},
        **request,
    )
    return response, "_auth_user_id" in client.session


def fail(client, times, **request):
    """Wrong passwords: the form again each time, but the one that reaches the limit
    is answered with the lockout itself."""
    statuses = []
    for _ in range(times):
        response, logged_in = log_in(client, WRONG, **request)
        assert not logged_in
        statuses.append(response.status_code)
    assert statuses[:-1] == [200] * (times - 1)
    return statuses[-1]


def test_five_failures_lock_the_username_out_even_with_the_right_password(client, admin_user):
    assert fail(client, 5) == 429

    response, logged_in = log_in(client, PASSWORD)

    assert response.status_code == 429
    assert "Account locked: too many login attempts" in response.text
    assert not logged_in


def test_four_failures_do_not_lock_and_a_success_forgets_them(client, admin_user):
    assert fail(client, 4) == 200
    assert log_in(client, PASSWORD)[1]
    client.logout()

    fail(client, 4)

    assert log_in(client, PASSWORD)[1]


def test_the_lockout_is_per_username_and_address(client, admin_user):
    UserFactory(username="other", is_staff=True).set_password(PASSWORD)
    fail(client, 5)

    assert log_in(client, PASSWORD, REMOTE_ADDR="192.0.2.7")[1]  # another address
    client.logout()
    assert log_in(client, WRONG, username="other")[0].status_code == 200  # another username


def test_the_lockout_ends_after_the_cool_off(client, admin_user):
    fail(client, 5)

    with time_machine.travel(timezone.now() + timedelta(minutes=59)):
        assert log_in(client, PASSWORD)[0].status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        assert log_in(client, PASSWORD)[1]


def test_the_limit_and_cool_off_come_from_settings(client, admin_user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=5)
    fail(client, 2)

    assert log_in(client, PASSWORD)[0].status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert log_in(client, PASSWORD)[1]


def test_the_lockout_is_logged_without_the_password(client, admin_user, caplog):
    with caplog.at_level(logging.DEBUG):
        fail(client, 5)
        log_in(client, PASSWORD)

    lines = [record.getMessage() for record in caplog.records]
    assert any("Locking out" in line for line in lines), lines
    assert not [line for line in lines if WRONG in line or PASSWORD in line]
    assert all(WRONG not in str(record.args) for record in caplog.records)


def test_staff_see_the_lockout_in_the_admin_and_lift_it_by_deleting_it(client, admin_user):
    fail(client, 5)
    attempt = AccessAttempt.objects.get()
    assert WRONG not in attempt.post_data  # what the admin shows keeps no password
    staff = client.__class__()
    staff.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))

    page = staff.get(reverse("admin:axes_accessattempt_changelist")).text
    assert "root" in page and "127.0.0.1" in page

    delete = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
    assert staff.post(delete, {"post": "yes"}).status_code == 302

    assert log_in(client, PASSWORD)[1]


def test_behind_a_trusted_proxy_the_forwarded_address_counts(client, admin_user, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The client may prepend anything; the proxy appends the address it saw.
    fail(client, 5, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.4")

    assert log_in(client, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.4")[0].status_code == 429
    assert log_in(client, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.5")[1]
    assert AccessAttempt.objects.get().ip_address == "198.51.100.4"


def test_without_a_trusted_proxy_a_forwarded_header_is_ignored(client, admin_user):
    fail(client, 5, HTTP_X_FORWARDED_FOR="198.51.100.4")

    # A new made-up header does not get the attacker round the lockout.
    assert log_in(client, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.5")[0].status_code == 429
