"""People's preferences and the one-click unsubscribe link (RFC 8058), through the
real test client: no session, no CSRF token, as mail providers send it."""

from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.core.exceptions import ValidationError
from django.test import Client

from reminders_app.erasure import erase_user
from reminders_app.models import ReminderPreference
from reminders_app.preferences import UNSUBSCRIBE_SALT, unsubscribe_token, unsubscribe_url
from tests.factories import TaskFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return TaskFactory(title="Secret merger").owner


@pytest.fixture
def provider():
    """A client as a mail provider is: no login, CSRF checks on."""
    return Client(enforce_csrf_checks=True)


def path_of(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


def mail_enabled(user) -> bool:
    return ReminderPreference.of(type(user).objects.get(pk=user.pk)).email_enabled


def test_a_one_click_post_turns_mail_off_without_a_session(owner, provider):
    response = provider.post(
        path_of(unsubscribe_url(owner)),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert "Reminder emails are off" in response.text
    assert mail_enabled(owner) is False


def test_get_shows_a_confirm_button_and_changes_nothing(owner, provider):
    response = provider.get(path_of(unsubscribe_url(owner)))

    assert response.status_code == 200
    assert '<form method="post">' in response.text
    assert "Secret merger" not in response.text and owner.email not in response.text
    assert mail_enabled(owner) is True


def test_a_user_who_opted_out_keeps_other_preferences(owner, provider):
    ReminderPreference.objects.create(user=owner, time_zone="Europe/Oslo")

    provider.post(path_of(unsubscribe_url(owner)))

    preference = ReminderPreference.objects.get(user=owner)
    assert (preference.time_zone, preference.email_enabled) == ("Europe/Oslo", False)


@pytest.mark.parametrize(
    "forge",
    [
        lambda token, user: signing.dumps(user.pk, salt="another.purpose"),
        lambda token, user: signing.dumps(user.pk, key="not-our-secret-key-" * 3),
        lambda token, user: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token, user: token[: len(token) // 2],
        lambda token, user: token.replace(token.split(":")[0], signing.dumps(user.pk + 1)[:4]),
        lambda token, user: "not-a-token",
    ],
    ids=["other-salt", "other-key", "altered", "truncated", "other-user", "garbage"],
)
def test_a_forged_or_altered_token_changes_nothing(owner, provider, forge):
    other = UserFactory()
    token = forge(unsubscribe_token(owner), other)

    response = provider.post(f"/unsubscribe/{token}/")

    assert response.status_code in (400, 404)
    assert mail_enabled(owner) is True and mail_enabled(other) is True
    assert not ReminderPreference.objects.exists()


def test_a_token_for_a_user_who_is_gone_is_404(provider):
    gone = UserFactory()
    url = path_of(unsubscribe_url(gone))
    gone.delete()

    assert provider.post(url).status_code == 404
    assert not ReminderPreference.objects.exists()


# --- How long a link lives, and for whom -------------------------------------------------

OLD_KEY = "an-earlier-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG"
NEW_KEY = "the-current-key-9876543210-zyxwvutsrqponmlkjihgfedcba-GFEDCBA"


def test_a_link_works_for_six_months_then_says_it_expired(owner, provider):
    url = path_of(unsubscribe_url(owner))

    with time_machine.travel(timedelta(days=179)):
        assert provider.get(url).status_code == 200
    with time_machine.travel(timedelta(days=181)):
        expired = provider.post(url)

    assert expired.status_code == 410 and "This link has expired" in expired.text
    assert mail_enabled(owner) is True


def test_a_link_dies_with_the_persons_erasure_or_address(owner, provider):
    erased, moved = owner, UserFactory()
    urls = [path_of(unsubscribe_url(person)) for person in (erased, moved)]
    erase_user(erased)
    type(moved).objects.filter(pk=moved.pk).update(email="new@example.com")

    for url in urls:
        response = provider.post(url)
        assert response.status_code == 404 and "no longer works" in response.text
    assert not ReminderPreference.objects.filter(user=moved).exists()


def test_a_link_of_version_1_0_works_until_it_expires_unless_its_person_was_erased(owner, provider):
    """Mailed before links named the address: the user's id alone, signed and dated."""
    other = UserFactory()
    old = {
        person: f"/unsubscribe/{signing.dumps(person.pk, salt=UNSUBSCRIBE_SALT)}/"
        for person in (owner, other)
    }
    erase_user(other)

    with time_machine.travel(timedelta(days=181)):
        assert provider.post(old[owner]).status_code == 410
    assert provider.post(old[other]).status_code == 404
    assert provider.post(old[owner]).status_code == 200
    assert mail_enabled(owner) is False


def test_a_link_survives_a_key_rotation_while_the_old_key_is_a_fallback(owner, provider, settings):
    settings.SECRET_KEY = OLD_KEY
    url = path_of(unsubscribe_url(owner))
    settings.SECRET_KEY = NEW_KEY

    assert provider.get(url).status_code == 400  # the old key dropped: a forgery
    settings.SECRET_KEY_FALLBACKS = [OLD_KEY]
    assert provider.post(url).status_code == 200
    assert mail_enabled(owner) is False


def test_a_time_zone_must_be_an_iana_name(owner):
    for good in ("", "UTC", "America/New_York"):
        ReminderPreference(user=owner, time_zone=good).full_clean()
    for bad in ("Mars/Olympus", "EST5EDT4", "utc+2"):
        with pytest.raises(ValidationError):
            ReminderPreference(user=owner, time_zone=bad).full_clean()


def post_preference(client, owner, **preference):
    """The user's page in the admin, posted with `preference` in its reminder section."""
    page = f"/admin/auth/user/{owner.pk}/change/"
    form = client.get(page).context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None}
    data |= {
        "username": owner.username,
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "reminder_preference-TOTAL_FORMS": "1",
        "reminder_preference-INITIAL_FORMS": "0",
        **{f"reminder_preference-0-{name}": value for name, value in preference.items()},
    }
    data.pop("password", None)
    data.pop("groups", None)
    data.pop("user_permissions", None)
    return client.post(page, data)


def test_staff_set_a_preference_on_the_users_page(client, owner):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = post_preference(
        client, owner, time_zone="Asia/Kolkata", email_enabled="", language="de"
    )

    assert response.status_code == 302, response.context["errors"] if response.context else ""
    preference = ReminderPreference.objects.get(user=owner)
    assert (preference.time_zone, preference.email_enabled, preference.language) == (
        "Asia/Kolkata",
        False,
        "de",
    )


def test_the_language_is_one_the_site_offers(client, owner):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(f"/admin/auth/user/{owner.pk}/change/")
    offered = page.context["inline_admin_formsets"][0].formset.forms[0].fields["language"]

    refused = post_preference(client, owner, time_zone="", email_enabled="on", language="fr")

    assert list(offered.choices) == [("", "Default (English)"), ("en", "English"), ("de", "German")]
    assert refused.status_code == 200
    assert "Select a valid choice. fr is not one of the available choices." in refused.text
    assert not ReminderPreference.objects.exists()
