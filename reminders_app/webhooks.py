"""Providers' bounce and complaint notifications: django-anymail's tracking signal
(the wheel's `[anymail]` extra), connected by RemindersAppConfig.ready() when anymail
is installed. The webhooks themselves are anymail's own views, which a project serves
under `/anymail/` (tasksite/urls.py; docs/email.md, "Suppressions") behind anymail's
basic-auth WEBHOOK_SECRET: a post without it is refused before any signal is sent.

anymail normalises each provider's events; what stops mail to an address:
- `complained`: the recipient marked a mail as spam;
- `bounced`, unless the provider says the bounce was soft (below): the receiving
  server refused the address for good;
- `rejected` for reason `bounced` or `spam`: the provider refused to send to an
  address it had seen bounce or complain.
`deferred` (a temporary failure the provider retries) and soft bounces do not.

This module imports anymail: nothing else in the app does, so a host without it
loses only these webhooks.
"""

import re

from anymail.signals import EventType, RejectReason

from reminders_app.suppressions import Reason, suppress

# Providers whose temporary ("soft") bounces anymail reports as `bounced`, and how
# their own payload says a bounce was soft. (Mailgun, Mailtrap, Postal, Unisender Go
# and Mailjet's greylisting come as `deferred` already.)
SOFT_BOUNCES = {
    "Postmark": lambda e: e.get("Type") == "SoftBounce",
    "Brevo": lambda e: e.get("event") == "soft_bounce",
    "SendinBlue": lambda e: e.get("event") == "soft_bounce",
    "Mandrill": lambda e: e.get("event") == "soft_bounce",
    "Mailjet": lambda e: e.get("hard_bounce") is False,
    "MailerSend": lambda e: (e.get("data") or {}).get("type") == "soft_bounced",
    "Amazon SES": lambda e: (e.get("bounce") or {}).get("bounceType") != "Permanent",
}
# The first SMTP reply code or RFC 3463 status in a receiving server's answer, as
# providers pass it on ("smtp;550 5.1.1 ...", "452 4.2.2 Mailbox full").
SMTP_STATUS = re.compile(r"(?<![\d.])([245])(?:\d\d(?!\d)|\.\d{1,3}\.\d{1,3})")


def soft_bounce(event, esp_name: str) -> bool:
    """Whether a `bounced` event was temporary: the provider's payload says so, or the
    server's answer it passes on is a 4xx."""
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    if (says := SOFT_BOUNCES.get(esp_name)) is not None and says(raw):
        return True
    status = SMTP_STATUS.search(event.mta_response or "")
    return status is not None and status.group(1) == "4"


def suppression_reason(event, esp_name: str) -> str | None:
    """The Suppression reason an event calls for, or None when it says nothing for
    good about the address."""
    if event.event_type == EventType.COMPLAINED:
        return Reason.COMPLAINED
    if event.event_type == EventType.BOUNCED and not soft_bounce(event, esp_name):
        return Reason.BOUNCED
    if event.event_type == EventType.REJECTED and event.reject_reason in {
        RejectReason.BOUNCED,
        RejectReason.SPAM,
    }:
        return Reason.REJECTED
    return None


def on_tracking(sender, event, esp_name: str, **kwargs) -> None:
    """anymail's `tracking` receiver: suppress the event's recipient when it calls
    for it (source `anymail:<provider>`)."""
    reason = suppression_reason(event, esp_name)
    if reason is not None and event.recipient:
        suppress(event.recipient, reason=reason, source=f"anymail:{esp_name}")


def connect() -> None:
    from anymail.signals import tracking

    tracking.connect(on_tracking, dispatch_uid="reminders_app.suppress_on_tracking")
