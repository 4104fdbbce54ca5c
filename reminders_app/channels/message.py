"""Each reminder's mail: subject and both bodies from the templates
reminders/email/subject.txt, body.txt and body.html (a project's own templates
directory overrides them), rendered in the owner's time zone, with the headers that
make it a good citizen: a stable Message-ID, Auto-Submitted and a one-click
unsubscribe link (RFC 8058)."""

from datetime import datetime
from email.utils import formataddr, parseaddr
from urllib.parse import quote, urlsplit

from django.core.mail import EmailMultiAlternatives
from django.template.loader import get_template
from django.utils import dateformat, timezone
from django.utils.timesince import timeuntil

from reminders_app.channels.base import DeliveryError, Reminder, Suppressed
from reminders_app.conf import settings, task_fields, task_model

# The mail's subject, plain-text body and HTML body, under reminders/email/.
TEMPLATES = ("subject.txt", "body.txt", "body.html")


class ReminderMail:
    """Builds the mails of a run: prepare() reads a batch's tasks, owners and
    preferences in one query; build() renders one reminder's mail and touches no
    database, so delivery threads may call it."""

    def __init__(self):
        self.fields = task_fields()
        self.domain = message_id_domain()
        self.sender = from_address()
        self.templates = [get_template(f"reminders/email/{name}") for name in TEMPLATES]
        self.tasks = {}
        self.owners = {}
        self.now = None

    def prepare(self, reminders: list[Reminder], *, now: datetime) -> None:
        from reminders_app.models import ReminderPreference
        from reminders_app.preferences import unsubscribe_url

        self.now = now
        owner = self.fields.owner
        self.tasks = (
            task_model()
            ._default_manager.select_related(f"{owner}__reminder_preference")
            .in_bulk([r.task_id for r in reminders])
        )
        # Per owner, once a batch: their preference (or the defaults) and their signed
        # unsubscribe link.
        owners = {getattr(task, owner) for task in self.tasks.values()}
        self.owners = {
            person.pk: (ReminderPreference.of(person), unsubscribe_url(person.pk))
            for person in owners
        }

    def build(self, reminder: Reminder) -> EmailMultiAlternatives:
        """The reminder's mail; Suppressed or DeliveryError when there is none to send."""
        task = self.tasks[reminder.task_id]
        owner = getattr(task, self.fields.owner)
        preference, unsubscribe = self.owners[owner.pk]
        if not preference.email_enabled:
            raise Suppressed
        if not owner.email:
            raise DeliveryError("no address", permanent=True)
        zone = preference.zone
        due_at = reminder.due_at.astimezone(zone)
        context = {
            "task": task,
            "title": getattr(task, self.fields.title),
            "owner": owner,
            "due_at": due_at,
            # Formatted once here, for the three templates: "Tuesday 10 March 2026",
            # "16:00 CET" (the abbreviation in force at that moment).
            "due_day": dateformat.format(due_at, "l j F Y"),
            "due_time": dateformat.format(due_at, "H:i T"),
            "time_zone": zone.key,
            "time_left": timeuntil(reminder.due_at, now=self.now, depth=2),
            "task_url": task_url(task),
            "unsubscribe_url": unsubscribe,
            "site_url": settings.SITE_URL,
        }
        with timezone.override(zone):
            subject, text, html = (template.render(context) for template in self.templates)
        message = EmailMultiAlternatives(
            subject=" ".join(subject.split()),  # one line, whatever the template
            body=text,
            from_email=self.sender,
            to=[owner.email],
            headers={
                "Message-ID": f"<reminder-{reminder.log_id}@{self.domain}>",
                "X-Reminder-ID": str(reminder.log_id),
                "Auto-Submitted": "auto-generated",  # RFC 3834: auto-responders stay quiet
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        message.attach_alternative(html, "text/html")
        return message


def task_url(task) -> str:
    """The task's page in the product: REMINDER_TASK_URL with the task's id filled
    in; empty (the mail has no task link) when it is unset. Never the admin: the
    owner reading the mail is not staff."""
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
