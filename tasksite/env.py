"""Typed readers for settings that come from the environment, and what a bad one does.

Each reader raises ImproperlyConfigured naming the variable when its value cannot
be used, so a bad deploy stops at start-up instead of misbehaving later.
"""

import importlib.util
import os
import re
import sys
import zoneinfo
from contextlib import contextmanager
from email.utils import parseaddr
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from reminders_app.conf import check_task_url, parse_time_of_day, positive

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@contextmanager
def exit_on_bad_config():
    """What a bad variable does to a process (manage.py, gunicorn's master): one line,
    `configuration error: <problem>`, on stderr and exit status 2, no traceback."""
    try:
        yield
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        sys.exit(2)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_number(name: str, default: float, *, maximum: float, integer: bool = False):
    """A positive number (or integer) up to `maximum` from the environment,
    `default` when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return positive(raw, integer=integer, maximum=maximum)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} {exc}, not {raw[:40]!r}") from None


def env_non_negative(name: str, default: int, *, maximum: int | None = None) -> int:
    """A whole number of zero or more (zero turns a feature off), up to `maximum`
    when given, from the environment."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None
    if value < 0:
        raise ImproperlyConfigured(f"{name} must be 0 or more, not {raw!r}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum:,}, not {raw[:40]!r}")
    return value


def env_url(name: str, default: str) -> str:
    """An absolute http(s) URL without a trailing slash."""
    raw = os.environ.get(name, "").strip() or default
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ImproperlyConfigured(f"{name} must be an http:// or https:// URL, not {raw[:60]!r}")
    return raw.rstrip("/")


def env_redis_url(name: str) -> str:
    """A redis:// (or rediss://, unix://) URL, or empty when unset. The value is not
    echoed: it may hold a password."""
    raw = os.environ.get(name, "").strip()
    if raw and urlsplit(raw).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(
            f"{name} must be a redis:// URL such as redis://127.0.0.1:6379/0"
        )
    return raw


def env_time_zone(name: str, default: str) -> str:
    """An IANA time zone name."""
    raw = os.environ.get(name, "").strip() or default
    try:
        zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name} must be an IANA time zone name such as Europe/Paris, not {raw[:60]!r}"
        ) from None
    return raw


def env_time_of_day(name: str, default: str) -> str:
    """A time of day written HH:MM."""
    raw = os.environ.get(name, "").strip() or default
    try:
        parse_time_of_day(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} {exc}, not {raw[:20]!r}") from None
    return raw


def env_address(name: str, default: str) -> str:
    """A mail address, with a display name or without: `Name <user@host>`."""
    raw = os.environ.get(name, "").strip() or default
    display, address = parseaddr(raw)
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise ImproperlyConfigured(
            f"{name} must be a mail address such as 'Task reminders <reminders@example.com>'"
        )
    return raw


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_url_template(name: str) -> str:
    """An http(s) URL with `{task_id}` in it, as reminders_app.conf.check_task_url()
    wants it; empty when unset."""
    raw = os.environ.get(name, "").strip()
    if raw:
        try:
            check_task_url(raw)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name} {exc}, not {raw[:60]!r}") from None
    return raw


_DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def env_dotted_paths(name: str) -> tuple[str, ...]:
    """A comma list of dotted paths of functions, e.g. `myapp.tasks.cleanup`."""
    paths = tuple(env_list(name, ""))
    for path in paths:
        if not _DOTTED_PATH.fullmatch(path):
            raise ImproperlyConfigured(
                f"{name} must be a comma list of dotted function paths such as "
                f"myapp.tasks.cleanup, not {path[:60]!r}"
            )
    return paths


def env_class_path(name: str, default: str) -> str:
    """A dotted path to a class in a module that can be found, such as an email
    backend (the class itself is looked up when it is first used)."""
    raw = os.environ.get(name, "").strip() or default
    module = raw.rpartition(".")[0]
    try:
        found = _DOTTED_PATH.fullmatch(raw) and importlib.util.find_spec(module)
    except ImportError:  # a parent package is missing
        found = None
    if not found:
        raise ImproperlyConfigured(
            f"{name} must be the dotted path of a class in an installed module, not {raw[:80]!r}"
        )
    return raw
