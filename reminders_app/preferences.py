"""People's preferences: their time zone, whether they want mail, and the signed
one-click unsubscribe link each mail carries (RFC 8058)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from reminders_app.conf import settings
from reminders_app.erasure import erased_login
from reminders_app.models import ReminderPreference

# Keeps these tokens from being valid anywhere else the secret key signs things.
UNSUBSCRIBE_SALT = "reminders.unsubscribe"
ADDRESS_SALT = "reminders.unsubscribe.address"
# How long a link works once its mail was made: every reminder mail brings a fresh one,
# and a link found in an old mail months later is refused with a page that says so.
UNSUBSCRIBE_MAX_AGE = timedelta(days=180)


def unsubscribe_token(user) -> str:
    """The user's id and a fingerprint of the address the mail goes to, signed and
    dated with the secret key (Django's signing, TimestampSigner): no row per mail."""
    return signing.dumps(
        [user.pk, _fingerprint(_address(user), settings.SECRET_KEY)], salt=UNSUBSCRIBE_SALT
    )


def unsubscribe_url(user) -> str:
    return settings.SITE_URL + reverse("unsubscribe", args=[unsubscribe_token(user)])


def user_from_token(token: str):
    """The user a token names, or None when they are no longer someone it was mailed
    to: deleted, erased (reminders_app.erasure), or at another address now.

    Raises signing.SignatureExpired once the token is older than UNSUBSCRIBE_MAX_AGE,
    and signing.BadSignature when it was not made here. Signed with the secret key or
    one of SECRET_KEY_FALLBACKS, so a key rotation breaks no link while the old key is
    kept as a fallback. A token of version 1.0 names the user's id alone: it is checked
    the same way (signature, age, the person deleted or erased), and only its address
    cannot be.
    """
    value = signing.loads(token, salt=UNSUBSCRIBE_SALT, max_age=UNSUBSCRIBE_MAX_AGE)
    if type(value) is int:  # version 1.0
        user_id, fingerprint = value, None
    elif (
        isinstance(value, list)
        and len(value) == 2
        and type(value[0]) is int
        and isinstance(value[1], str)
    ):
        user_id, fingerprint = value
    else:
        raise signing.BadSignature("not an unsubscribe token")
    user = get_user_model()._base_manager.filter(pk=user_id).first()
    if user is None or user.get_username() == erased_login(user.pk):
        return None
    if fingerprint is not None and not any(
        constant_time_compare(fingerprint, _fingerprint(_address(user), key))
        for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    ):
        return None
    return user


def _address(user) -> str:
    return (getattr(user, user.get_email_field_name(), "") or "").strip().lower()


def _fingerprint(address: str, key: str) -> str:
    """A keyed hash of the address: the link carries no address, and is worth nothing
    once the person's address changes or is erased."""
    return salted_hmac(ADDRESS_SALT, address, secret=key, algorithm="sha256").hexdigest()[:20]


def unsubscribe(user_id: int) -> None:
    """Turn the user's reminder mail off (creating their preference row if needed)."""
    ReminderPreference.objects.update_or_create(user_id=user_id, defaults={"email_enabled": False})
