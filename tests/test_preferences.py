"""People's preferences and the one-click unsubscribe link (RFC 8058), through the
real test client: no session, no CSRF token, as mail providers send it."""

import pytest
from django.core import signing
from django.core.exceptions import ValidationError
from django.test import Client

from reminders_app.models import ReminderPreference
from reminders_app.preferences import unsubscribe_token, unsubscribe_url
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
        path_of(unsubscribe_url(owner.pk)),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert "Reminder emails are off" in response.text
    assert mail_enabled(owner) is False


def test_get_shows_a_confirm_button_and_changes_nothing(owner, provider):
    response = provider.get(path_of(unsubscribe_url(owner.pk)))

    assert response.status_code == 200
    assert '<form method="post">' in response.text
    assert "Secret merger" not in response.text and owner.email not in response.text
    assert mail_enabled(owner) is True


def test_a_user_who_opted_out_keeps_other_preferences(owner, provider):
    ReminderPreference.objects.create(user=owner, time_zone="Europe/Oslo")

    provider.post(path_of(unsubscribe_url(owner.pk)))

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
    token = forge(unsubscribe_token(owner.pk), other)

    response = provider.post(f"/unsubscribe/{token}/")

    assert response.status_code in (400, 404)
    assert mail_enabled(owner) is True and mail_enabled(other) is True
    assert not ReminderPreference.objects.exists()


def test_a_token_for_a_user_who_is_gone_is_404(provider):
    gone = UserFactory()
    url = path_of(unsubscribe_url(gone.pk))
    gone.delete()

    assert provider.post(url).status_code == 404
    assert not ReminderPreference.objects.exists()


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
