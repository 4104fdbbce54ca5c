"""Delivery channels. The public API (docs/channels.md): subclass Channel, implement
deliver(reminder), raise DeliveryError, RelayUnavailable or Suppressed.

- base: the API (Channel, Reminder, the errors) and loading REMINDER_CHANNEL;
- event: EventChannel, the default (the `sent` row and its log line are the reminder);
- email: EmailChannel, the SMTP transport (a reused connection per delivery thread);
- message: building each reminder's mail from the templates, in its reader's language;
- translated: those templates compiled once per language, their messages translated.
"""

from reminders_app.channels.base import (
    Channel,
    Delivered,
    DeliveryError,
    Digest,
    RelayUnavailable,
    Reminder,
    Suppressed,
    get_channel,
)
from reminders_app.channels.email import EmailChannel
from reminders_app.channels.event import EventChannel

__all__ = [
    "Channel",
    "Delivered",
    "DeliveryError",
    "Digest",
    "EmailChannel",
    "EventChannel",
    "RelayUnavailable",
    "Reminder",
    "Suppressed",
    "get_channel",
]
