"""People's reminder preferences: their time zone, whether they want mail, and the
signed one-click unsubscribe link each mail carries (RFC 8058)."""

from django.core import signing
from django.urls import reverse

from reminders_app.conf import settings
from reminders_app.models import ReminderPreference

# Keeps these tokens from being valid anywhere else the secret key signs things.
UNSUBSCRIBE_SALT = "reminders.unsubscribe"


def unsubscribe_token(user_id: int) -> str:
    """A token naming the user, signed with the secret key: no row per mail."""
    return signing.dumps(user_id, salt=UNSUBSCRIBE_SALT)


def user_id_from_token(token: str) -> int:
    """The user a token names; signing.BadSignature when it was not made here."""
    user_id = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    if not isinstance(user_id, int):
        raise signing.BadSignature("not a user id")
    return user_id


def unsubscribe_url(user_id: int) -> str:
    return settings.SITE_URL + reverse("unsubscribe", args=[unsubscribe_token(user_id)])


def unsubscribe(user_id: int) -> None:
    """Turn the user's reminder mail off (creating their preference row if needed)."""
    ReminderPreference.objects.update_or_create(user_id=user_id, defaults={"email_enabled": False})
