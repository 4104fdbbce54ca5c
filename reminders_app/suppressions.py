"""Addresses not to mail (Suppression): adding one, checking a batch's recipients
against them, and what a suppressed reminder's row says.

Three sources add them, each through suppress(): providers' bounce and complaint
webhooks (django-anymail's tracking signal, reminders_app.webhooks), the relay's "no
such user" refusals (a DeliveryError naming the address, recorded by the job's
thread) and staff (the admin). Addresses match whatever their case, as the unique
index suppression_address_unique (on LOWER(address)) has it; the check before each
send is part of the query that reads a batch's recipients (reason_for_address()).
Log lines carry the suppression's id, never the address.
"""

import logging

from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Subquery, Value
from django.db.models.functions import Lower

from reminders_app.models import Suppression

logger = logging.getLogger(__name__)

Reason = Suppression.Reason

# What the row of a reminder settled `suppressed` keeps as its error: why, in a few
# words that name nobody.
OPTED_OUT = "opted out"
SUPPRESSED_ADDRESS = {
    Reason.BOUNCED: "address bounced",
    Reason.COMPLAINED: "address complained",
    Reason.REJECTED: "address rejected",
    Reason.MANUAL: "address suppressed by staff",
}
# ...and what the admin's reminder page says of each ("" is a row settled before
# reasons were kept: the recipient had opted out, the only reason there was).
EXPLANATIONS = {
    "": "The recipient had turned reminder emails off.",
    OPTED_OUT: "The recipient turned reminder emails off (on their preference, or with "
    "the link in a mail).",
    SUPPRESSED_ADDRESS[Reason.BOUNCED]: "The recipient's address bounced: it is on the "
    "suppression list.",
    SUPPRESSED_ADDRESS[Reason.COMPLAINED]: "The recipient marked a mail as spam: their "
    "address is on the suppression list.",
    SUPPRESSED_ADDRESS[Reason.REJECTED]: "The mail provider refused the recipient's "
    "address: it is on the suppression list.",
    SUPPRESSED_ADDRESS[Reason.MANUAL]: "Staff put the recipient's address on the suppression list.",
}


def matching(address) -> QuerySet:
    """The suppression of `address` (a string, or an expression such as
    OuterRef("email")), whatever its case: served by suppression_address_unique."""
    if isinstance(address, str):
        address = Value(address)
    return (
        Suppression.objects.annotate(lowered=Lower("address"))
        .filter(lowered=Lower(address))
        .order_by()
    )


def reason_for_address(address) -> Subquery:
    """The reason `address` (an expression over the outer query, such as
    OuterRef("email")) is suppressed, NULL when it is not: an index lookup per row of
    the outer query."""
    return Subquery(matching(address).values("reason")[:1])


def suppress(address: str, *, reason: str, source: str) -> Suppression | None:
    """Stop mail to `address`: a new Suppression, or None when it is suppressed already
    (whatever its case; the first reason stays) or empty. Safe inside the caller's
    transaction: a race with another writer ends in the unique index, in a savepoint.
    Logs `address_suppressed` once committed."""
    address = (address or "").strip()
    if not address:
        return None
    try:
        with transaction.atomic():
            suppression = Suppression.objects.create(
                address=address, reason=reason, source=source[:100]
            )
    except IntegrityError:  # suppressed already
        return None
    transaction.on_commit(lambda: log_suppressed(suppression))
    return suppression


def log_suppressed(suppression: Suppression) -> None:
    logger.info(
        "address_suppressed",
        extra={
            "event": "address_suppressed",
            "suppression_id": suppression.pk,
            "reason": suppression.reason,
            "source": suppression.source,
        },
    )


def suppress_bounced(addresses: list[str], *, source: str) -> None:
    """Addresses a relay said have no mailbox (DeliveryError.bounced), in the
    caller's transaction."""
    for address in dict.fromkeys(filter(None, addresses)):
        suppress(address, reason=Reason.BOUNCED, source=source)
