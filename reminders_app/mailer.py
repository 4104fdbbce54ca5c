"""The connection EmailChannel sends on, and mail settings in the form each Django
version reads.

Django 6.1 configures mail with MAILERS (named mailers, "default" among them) and
deprecates the EMAIL_* settings, which it does not let code read once MAILERS is set;
Django 5.2 has only the EMAIL_* settings. connection() asks Django for its default
mailer, so it follows whichever form a project uses; mail_settings() writes a backend
and its options in the running version's form (tasksite's settings, the demo, tests).
"""

from django.core.exceptions import ImproperlyConfigured
from django.core.mail import get_connection

try:
    from django.core.mail import mailers  # Django 6.1
except ImportError:  # Django 5.2: the EMAIL_* settings alone
    mailers = None

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

# The SMTP backend's options (MAILERS' OPTIONS), and the EMAIL_* setting of each.
EMAIL_SETTINGS = {
    "host": "EMAIL_HOST",
    "port": "EMAIL_PORT",
    "username": "EMAIL_HOST_USER",
    "password": "EMAIL_HOST_PASSWORD",
    "use_tls": "EMAIL_USE_TLS",
    "use_ssl": "EMAIL_USE_SSL",
    "timeout": "EMAIL_TIMEOUT",
}


def mail_settings(backend: str = SMTP_BACKEND, **options) -> dict[str, object]:
    """Django settings that send through `backend` with `options` (the SMTP backend's:
    host, port, username, password, use_tls, use_ssl, timeout): MAILERS' default
    mailer where Django has MAILERS, the EMAIL_* settings otherwise."""
    if mailers is not None:
        return {"MAILERS": {"default": {"BACKEND": backend, "OPTIONS": options}}}
    return {"EMAIL_BACKEND": backend} | {
        EMAIL_SETTINGS[key]: value for key, value in options.items()
    }


def connection():
    """A new connection to the mail server (an email backend, not yet opened): Django's
    default mailer, made from MAILERS where set, else from the EMAIL_* settings.
    ImproperlyConfigured when its backend cannot be loaded."""
    try:
        return mailers.default if mailers is not None else get_connection(fail_silently=False)
    except ImportError as exc:  # EMAIL_BACKEND's (MAILERS says InvalidMailer itself)
        raise ImproperlyConfigured(f"EMAIL_BACKEND cannot be imported: {exc}") from None
