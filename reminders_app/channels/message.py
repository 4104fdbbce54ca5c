"""Each reminder's mail, and each digest: subject and both bodies from the templates
reminders/email/subject.txt, body.txt and body.html (a digest's: digest_subject.txt,
digest_body.txt and digest_body.html; a project's own templates directory overrides
them), rendered in the recipient's language and time zone, with the headers that make
it a good citizen: a stable Message-ID, Auto-Submitted, a one-click unsubscribe link
(RFC 8058) and Content-Language.

Building is the delivery threads' work in Python, under the GIL, so it is cut to what
changes from one mail to the next (docs/performance.md, "Email"): each recipient is
read once a batch, and the MIME form is written by Django's own code, with only the
slow steps that repeat made cheap (ReminderMessage), on Django 5.2 and 6.1 alike."""

import email.policy
import hashlib
import inspect
import random
import sys
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import BaseHeader, HeaderRegistry
from email.policy import compat32
from email.utils import formataddr, parseaddr
from functools import lru_cache
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from django.core.mail import EmailMultiAlternatives
from django.db.models import OuterRef
from django.utils import dateformat, timezone, translation
from django.utils.timesince import timeuntil
from django.utils.translation import pgettext_lazy

from reminders_app.channels.base import DeliveryError, Digest, Reminder, Suppressed
from reminders_app.channels.translated import TranslatedTemplates
from reminders_app.conf import settings
from reminders_app.roles import task_roles

# The mail's subject, plain-text body and HTML body, under reminders/email/.
TEMPLATES = ("subject.txt", "body.txt", "body.html")
# The same for a digest: one mail listing a person's reminders of a run.
DIGEST_TEMPLATES = ("digest_subject.txt", "digest_body.txt", "digest_body.html")

# How a due day and a due time read: date formats (those of Django's `date` filter),
# translated like any message so that each language orders and punctuates them its
# own way ("Tuesday 10 March 2026", "Dienstag, 10. März 2026"); the names of days and
# months come from Django's own catalogues, under the reader's language.
DAY = pgettext_lazy("reminder mail: the day a task is due (a date format)", "l j F Y")
DAY_SHORT = pgettext_lazy("reminder mail: the due day in the subject (a date format)", "D j M")
TIME = pgettext_lazy("reminder mail: the time a task is due (a date format)", "H:i T")


@lru_cache(maxsize=16)
def date_formats(language: str) -> tuple[str, str, str]:
    """DAY, DAY_SHORT and TIME in `language`."""
    with translation.override(language):
        return str(DAY), str(DAY_SHORT), str(TIME)


@dataclass(frozen=True, slots=True)
class Person:
    """Someone to mail, as ReminderMail.person() found them."""

    recipient: object  # the user
    preference: object  # their ReminderPreference (an unsaved one: the defaults)
    address: str
    unsubscribe: str  # their one-click unsubscribe URL
    zone: ZoneInfo  # due times are shown in it
    language: str  # their mail is written in it: one of LANGUAGES


class ReminderMail:
    """Builds the mails of a run: prepare() reads a batch's tasks, recipients (with
    their preferences and whether their address is suppressed) in two queries;
    build() renders one reminder's mail, and build_digest() one person's digest,
    touching no database, so delivery threads may call them. Both go through person()
    (whether, where and in which language to mail someone), item() (a reminder's due
    date as the person reads it) and render() (a person's mail from templates and a
    context, in their language)."""

    def __init__(self):
        self.roles = task_roles()
        self.domain = message_id_domain()
        self.sender = from_address()
        self.templates = TranslatedTemplates([f"reminders/email/{name}" for name in TEMPLATES])
        self.digest_templates = TranslatedTemplates(
            [f"reminders/email/{name}" for name in DIGEST_TEMPLATES]
        )
        self.tasks = {}
        self.people = {}
        self.now = None
        self.days = {}  # (language, local date): its long and short names
        self.times = {}  # (language, due instant, zone): "16:00 CET" and the time left

    def prepare(self, reminders: list[Reminder], *, now: datetime) -> None:
        from django.contrib.auth import get_user_model

        from reminders_app.models import ReminderPreference
        from reminders_app.preferences import unsubscribe_url
        from reminders_app.suppressions import reason_for_address

        self.now = now
        self.days, self.times = {}, {}
        self.tasks = self.roles.model._default_manager.in_bulk([r.task_id for r in reminders])
        # Each recipient read once a batch with their preference and their address's
        # suppression (the check before every send), not once per task (a batch has
        # many tasks of few people), with their signed unsubscribe link.
        user_model = get_user_model()
        people = (
            user_model._base_manager.select_related("reminder_preference")
            .annotate(
                reminders_suppressed_as=reason_for_address(
                    OuterRef(user_model.get_email_field_name())
                )
            )
            .in_bulk({r.recipient_id for r in reminders})
        )
        self.people = {
            pk: (person, ReminderPreference.of(person), unsubscribe_url(person))
            for pk, person in people.items()
        }

    def person(self, recipient_id) -> Person:
        """Whether, where and in which language to mail this recipient, decided once
        for all their mail: Suppressed, with the reason, when they turned mail off or
        their address is on the suppression list; DeliveryError when they were deleted
        since the claim or have no address."""
        from reminders_app.suppressions import OPTED_OUT, SUPPRESSED_ADDRESS

        if recipient_id not in self.people:
            raise DeliveryError("recipient deleted", permanent=True)
        recipient, preference, unsubscribe = self.people[recipient_id]
        if not preference.email_enabled:
            raise Suppressed(OPTED_OUT)
        address = getattr(recipient, recipient.get_email_field_name(), "")
        if not address:
            raise DeliveryError("no address", permanent=True)
        if recipient.reminders_suppressed_as:
            raise Suppressed(SUPPRESSED_ADDRESS[recipient.reminders_suppressed_as])
        return Person(
            recipient,
            preference,
            address,
            unsubscribe,
            preference.zone,
            preference.preferred_language,
        )

    def build(self, reminder: Reminder) -> EmailMultiAlternatives:
        """The reminder's mail; Suppressed or DeliveryError when there is none to send
        (the task or the person deleted since the claim, mail turned off, no address)."""
        task = self.tasks.get(reminder.task_id)
        if task is None:
            raise DeliveryError("task deleted", permanent=True)
        person = self.person(reminder.recipient_id)
        return self.render(
            person,
            self.templates,
            self.item(reminder, task, person),
            message_id=f"<reminder-{reminder.log_id}@{self.domain}>",
            reminder_ids=str(reminder.log_id),
        )

    def build_digest(self, digest: Digest) -> tuple[EmailMultiAlternatives, list]:
        """One person's digest: their reminders in one mail, soonest first, and those
        left out (a task deleted since the claim) with the error their rows fail with.
        Suppressed or DeliveryError, for all of them, when there is none to send."""
        person = self.person(digest.recipient_id)
        items, ids, left_out = [], [], []
        for reminder in digest.reminders:
            if (task := self.tasks.get(reminder.task_id)) is None:
                left_out.append((reminder, DeliveryError("task deleted", permanent=True)))
                continue
            items.append(self.item(reminder, task, person))
            ids.append(reminder.log_id)
        if not items:
            raise DeliveryError("task deleted", permanent=True)
        message = self.render(
            person,
            self.digest_templates,
            {"reminders": items, "count": len(items)},
            message_id=digest_message_id(ids, self.domain),
            reminder_ids=", ".join(map(str, ids)),
        )
        return message, left_out

    def item(self, reminder: Reminder, task, person: Person) -> dict:
        """What a mail says of one reminder: its task, title and link, and its due
        date in the person's zone and language.

        Formatted once a batch for the three templates, per language and day and per
        language, instant and zone, as a batch's tasks fall on few days, often at the
        same times: "Tuesday 10 March 2026" and "Tue 10 Mar", "16:00 CET" (the
        abbreviation in force at that moment) and "2 hours". A task due on a day, not
        at a time, shows its day alone."""
        language, zone = person.language, person.zone
        due_at = reminder.due_at.astimezone(zone)
        day = (language, due_at.date())
        moment = (language, reminder.due_at, zone.key)
        due_day = self.days.get(day)
        due_time = ("", "") if self.roles.date_only else self.times.get(moment)
        if due_day is None or due_time is None:
            day_format, short_format, time_format = date_formats(language)
            with translation.override(language):
                if due_day is None:
                    due_day = self.days[day] = (
                        dateformat.format(due_at, day_format),
                        dateformat.format(due_at, short_format),
                    )
                if due_time is None:
                    due_time = self.times[moment] = (
                        dateformat.format(due_at, time_format),
                        timeuntil(reminder.due_at, now=self.now, depth=2),
                    )
        return {
            "task": task,
            "title": self.roles.title(task),
            "due_at": due_at,
            "due_day": due_day[0],
            "due_day_short": due_day[1],
            "due_time": due_time[0],
            "time_left": due_time[1],
            "task_url": task_url(task),
        }

    def render(
        self,
        person: Person,
        templates: TranslatedTemplates,
        context: dict,
        *,
        message_id: str,
        reminder_ids: str,
    ) -> EmailMultiAlternatives:
        """A person's mail: subject, text and HTML from `templates`, rendered whole in
        the person's language (the templates' messages translated once per language)
        and zone with `context` and what every mail says of its reader, with the
        headers every mail carries."""
        context |= {
            "recipient": person.recipient,
            "owner": person.recipient,  # the name of earlier versions, for a host's templates
            "time_zone": person.zone.key,
            "unsubscribe_url": person.unsubscribe,
            "site_url": settings.SITE_URL,
        }
        with translation.override(person.language), timezone.override(person.zone):
            subject, text, html = (t.render(context) for t in templates.of(person.language))
        message = ReminderMessage(
            subject=" ".join(subject.split()),  # one line, whatever the template
            body=text,
            from_email=self.sender,
            to=[person.address],
            headers={
                "Message-ID": message_id,
                "X-Reminder-ID": reminder_ids,
                "Auto-Submitted": "auto-generated",  # RFC 3834: auto-responders stay quiet
                "List-Unsubscribe": f"<{person.unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Content-Language": person.language,
            },
        )
        message.attach_alternative(html, "text/html")
        return message


def digest_message_id(ids: list[int], domain: str) -> str:
    """A digest's Message-ID, made from its rows: the same for the same reminders on
    every attempt (a retry, or a run taking over one that died), so a receiver can
    drop a duplicate; another one when it carries other reminders."""
    digest = hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:12]
    return f"<digest-{min(ids)}-{digest}@{domain}>"


class ReminderMessage(EmailMultiAlternatives):
    """A reminder's mail: Django's EmailMultiAlternatives, whose MIME form (what the
    SMTP backend sends: message().as_bytes()) is written to the same bytes, faster.

    Three steps of the email package's serialisation repeat for every mail at most of
    its cost: parsing each header into its structured form (Django 6.1's policies),
    folding it, though most are the same from one mail to the next (the sender, the
    recipient's, the parts'), and choosing the multipart boundary, for which the email
    package compiles a regular expression per mail to check that no part contains it.
    Here each header is parsed and folded once (both are pure functions of the name,
    the value and the policy), and the boundary is drawn in the email package's own
    form before writing, checked against the parts with a plain search.

    Django 5.2 writes with compat32 (its MIME classes), folding only; Django 6.1 with
    the policy the backend asks for (email.policy.SMTP from the SMTP backend).
    """

    def message(self, **policy):
        if POLICY_ARGUMENT:  # Django 6.1
            policy = policy.get("policy", email.policy.default)
            message = super().message(policy=remembering(policy))
        else:
            message = super().message()
            if message.policy is not compat32:  # not the MIME classes this was written for
                return message
            for part in message.walk():
                part.policy = REMEMBERED_FOLDING
        if message.is_multipart() and message.get_boundary() is None:
            texts = [self.body, *(content for content, _ in self.alternatives)]
            boundary = mime_boundary()
            while any(f"--{boundary}" in text for text in texts):
                boundary = mime_boundary()
            message.set_boundary(boundary)
        return message


# Django 6.1's EmailMessage.message(policy=...) builds an email.message.EmailMessage
# with the policy given; 5.2's builds the compat32 MIME classes.
POLICY_ARGUMENT = "policy" in inspect.signature(EmailMultiAlternatives.message).parameters


class RememberedFolding(type(compat32)):
    """compat32, the policy of Django 5.2's MIME classes, remembering the headers it folded."""

    def fold_binary(self, name, value):
        if not isinstance(value, str):
            return super().fold_binary(name, value)
        return folded_header(self.linesep, self.max_line_length, self.cte_type, name, value)


REMEMBERED_FOLDING = RememberedFolding()


@lru_cache(maxsize=1024)
def folded_header(linesep, max_line_length, cte_type, name: str, value: str) -> bytes:
    policy = compat32.clone(linesep=linesep, max_line_length=max_line_length, cte_type=cte_type)
    return policy.fold_binary(name, value)


class RememberedFold(BaseHeader):
    """A header of Django 6.1's mail (the base of every header class the remembering
    registry makes) that keeps its folded form for each form of folding: the email
    package folds by the policy's line separator, line length and utf8 alone (and
    gives each part of a multipart mail a policy object of its own)."""

    def fold(self, *, policy):
        folds = self.__dict__.setdefault("folds", {})
        form = (policy.linesep, policy.max_line_length, policy.utf8)
        if (folded := folds.get(form)) is None:
            folded = folds[form] = super().fold(policy=policy)
        return folded


class RememberedHeaders(HeaderRegistry):
    """The email package's header registry, answering a header it has seen before
    (same name, same text) with the header it parsed then, folds remembered. Headers
    are not changed once made: a message that sets one anew gets a new header."""

    def __init__(self):
        super().__init__(base_class=RememberedFold)
        self.classes = {}

    def __getitem__(self, name):
        # The registry makes a new class per header; one per name does the same.
        if (cls := self.classes.get(name.lower())) is None:
            cls = self.classes[name.lower()] = super().__getitem__(name)
        return cls

    def __call__(self, name, value):
        if type(value) is not str:  # a date, addresses: made each time
            return super().__call__(name, value)
        return self.parsed(name, value)

    @lru_cache(maxsize=4096)  # noqa: B019 - one registry, kept for the process
    def parsed(self, name: str, value: str):
        return super().__call__(name, value)


REMEMBERED_HEADERS = RememberedHeaders()


@lru_cache(maxsize=16)
def remembering(policy):
    """`policy`, parsing and folding through the remembered headers when it is an
    EmailPolicy (Django's default, the SMTP backend's): other policies have no header
    registry."""
    if not isinstance(policy, email.policy.EmailPolicy):
        return policy
    return policy.clone(header_factory=REMEMBERED_HEADERS)


# The email package's boundaries: 15 "=", a random number of sys.maxsize's digits, "==".
BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))


def mime_boundary() -> str:
    return f"{'=' * 15}{random.randrange(sys.maxsize):0{BOUNDARY_DIGITS}d}=="  # noqa: S311


def task_url(task) -> str:
    """The task's page in the product: REMINDER_TASK_URL with the task's id filled
    in; empty (the mail has no task link) when it is unset. Never the admin: the
    person reading the mail is not staff."""
    template = settings.REMINDER_TASK_URL
    return template.format(task_id=quote(str(task.pk), safe="")) if template else ""


def from_address() -> str:
    """DEFAULT_FROM_EMAIL, given the display name "Task reminders" if it has none."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((name or "Task reminders", address))


def message_id_domain() -> str:
    """The domain of reminder Message-IDs: SITE_URL's host, else the sender's."""
    host = urlsplit(settings.SITE_URL).hostname
    if host and host not in {"localhost", "127.0.0.1"}:
        return host
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
