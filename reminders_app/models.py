import logging
import uuid
import zoneinfo
from datetime import datetime
from functools import cache

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone, translation

from reminders_app.conf import settings, task_model_name

logger = logging.getLogger(__name__)


class ReminderRun(models.Model):
    """One execution of the reminder job; its id is the `run_id` in every log line."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        COMMAND = "command", "Command"
        ADMIN = "admin", "Admin"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted"
        ABANDONED = "abandoned", "Abandoned"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    trigger = models.CharField(max_length=20, default=Trigger.SCHEDULE)
    status = models.CharField(max_length=20, choices=Status, default=Status.RUNNING)
    # Wall-clock times that bracket all of the run's work, whatever clock the job used.
    started_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Refreshed after every committed batch: a run that stops beating has died.
    heartbeat_at = models.DateTimeField(default=timezone.now)
    # The slot a scheduled run was meant for, and how late it started.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    lag = models.DurationField(null=True, blank=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    selected = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # Claims handed back undelivered (a stop, a timeout, an outage), for the next run.
    released = models.PositiveIntegerField(default=0)
    # Reminders the channel chose not to deliver (a recipient who opted out).
    suppressed = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True, default="")
    hostname = models.CharField(max_length=255, blank=True, default="")
    pid = models.PositiveIntegerField(null=True, blank=True)
    # The delivery channel's dotted path (settings.REMINDER_CHANNEL) the run used.
    channel = models.CharField(max_length=200, blank=True, default="")
    # A run in parts (REMINDER_WORKERS, `send_reminders --workers`): each part is a run
    # of its own whose parent is the run; the run ends when its last part ends, with
    # the sum of their counts. Its index serves a run's list of parts.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="parts"
    )
    # `host:pid` of the process that ran it (empty for a run in parts: its parts ran).
    worker = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-started_at"]
        # Queue a run of the job from the admin ("Send now"); no group has it by default.
        permissions = [("send_reminders_now", "Can send reminders now")]
        indexes = [
            models.Index(fields=["-started_at"], name="run_started_idx"),
            # Used by reminders_app.runs.abandon_dead_runs() and reminders_status.
            models.Index(
                fields=["started_at"],
                name="run_running_idx",
                condition=Q(status="running"),
            ),
        ]

    def __str__(self):
        return f"{'Part' if self.parent_id else 'Run'} {self.id}"

    @property
    def duration(self):
        if self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def outcome(self) -> str:
        return run_outcome(self.status, failed=self.failed)


def run_outcome(status: str, *, failed: int) -> str:
    """A run's status as people read it: `succeeded` only when no reminder failed. A
    run that handled every reminder but some failed to deliver keeps the status
    `succeeded` (nothing stopped it) and reads "finished with 2 failed"."""
    if status == ReminderRun.Status.SUCCEEDED and failed:
        return f"finished with {failed:,} failed"
    return ReminderRun.Status(status).label.lower()


class ReminderLogQuerySet(models.QuerySet):
    """The rules about a reminder's state, each defined once: the job's claims (and
    their SQL, generated from these), the health check and the admin use them."""

    @staticmethod
    def takeable_q(*, now: datetime, stale_before: datetime, max_attempts: int) -> Q:
        """Rows a run may take over: failures due a retry, and claims left by a run
        that died (claimed before `stale_before`)."""
        return Q(
            status=ReminderLog.Status.FAILED,
            attempts__lt=max_attempts,
            next_attempt_at__lte=now,
        ) | Q(status=ReminderLog.Status.CLAIMED, claimed_at__lt=stale_before)

    @staticmethod
    def given_up_q(*, max_attempts: int) -> Q:
        """Failures no run will retry: permanent ones (no next attempt) and those
        out of attempts."""
        return Q(status=ReminderLog.Status.FAILED) & (
            Q(next_attempt_at__isnull=True) | Q(attempts__gte=max_attempts)
        )

    def settled(self) -> "ReminderLogQuerySet":
        """Reminders that are done for their due date: sent, or suppressed."""
        return self.filter(status__in=ReminderLog.SETTLED)

    def takeable(self, **policy) -> "ReminderLogQuerySet":
        return self.filter(self.takeable_q(**policy))

    def given_up(self, *, max_attempts: int) -> "ReminderLogQuerySet":
        return self.filter(self.given_up_q(max_attempts=max_attempts))


class ReminderLog(models.Model):
    """One reminder: one task, one recipient, one due date. The audit trail.

    reminders_app.claims is the only code that writes it.
    """

    class Status(models.TextChoices):
        CLAIMED = "claimed", "Claimed"  # a run owns it and is delivering it
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SUPPRESSED = "suppressed", "Suppressed"  # the recipient opted out: never retried

    # A due date whose reminder is one of these is done: no run selects it again.
    SETTLED = (Status.SENT, Status.SUPPRESSED)

    # The host's task model (REMINDER_TASK_MODEL), as auth follows AUTH_USER_MODEL. The
    # trail is evidence that outlives what it is about: deleting a task (or a person,
    # below) through the host's own code leaves the row and its id, the way the admin's
    # LogEntry keeps object_id. So no database constraint, and nothing happens on
    # delete; every reader copes with a task that is gone (docs/architecture.md,
    # "Deleting tasks and people").
    task = models.ForeignKey(
        task_model_name(),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="reminders",
        # The unique constraint below starts with task_id and serves lookups by task.
        db_index=False,
    )
    # The person reminded: one of the task's owners, or its fallback owner. Null only
    # on rows claimed before recipients were recorded, for a task without an owner.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
        # Not indexed: every write pays for an index, and no query looks rows up by
        # recipient alone.
        db_index=False,
    )
    due_at = models.DateTimeField(help_text="The due instant this reminder was for.")
    status = models.CharField(max_length=10, choices=Status, default=Status.CLAIMED)
    # Its index serves the admin's "reminders of this run" link and run deletion checks.
    run = models.ForeignKey(ReminderRun, on_delete=models.PROTECT, related_name="reminders")
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True, default="")
    # The Message-ID of the mail that carried it, where it was one of a digest's
    # (every row of a digest records the same); empty otherwise (a reminder's own mail
    # has an id made from the row's: <reminder-ID@domain>).
    message_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ReminderLogQuerySet.as_manager()

    class Meta:
        # Newest first by the primary key, which grows with created_at: no index of
        # its own to maintain on every claim.
        ordering = ["-id"]
        constraints = [
            # One reminder per task, recipient and due date, whatever runs concurrently:
            # every claim is an INSERT ... ON CONFLICT DO NOTHING against this constraint.
            models.UniqueConstraint(
                fields=["task", "recipient", "due_at"], name="reminder_once_per_recipient"
            ),
        ]
        indexes = [
            # The admin's date hierarchy, "sent at" filter and ordering on sent_at.
            models.Index(fields=["sent_at", "id"], name="reminderlog_sent_idx"),
            # Used by reminders_app.selection.due_reminders(): walked in the same
            # (due_at, task) order as the task model's (due date, id) index, so "due
            # reminders without a settled row" is a merge of two index-only scans,
            # however many are settled.
            models.Index(
                fields=["due_at", "task", "recipient"],
                name="reminderlog_settled_due_idx",
                condition=Q(status__in=["sent", "suppressed"]),
            ),
            # Used by reminders_app.selection and claims (failed reminders due a
            # retry, claims left behind by runs that died), the health check's and
            # the admin's "failed for good". Claims written `sent` never enter it.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="reminderlog_unsettled_idx",
                condition=~Q(status="sent"),
            ),
        ]

    def __str__(self):
        return f"Reminder {self.pk}"


def validate_time_zone(value: str) -> None:
    """An IANA time zone name, such as Europe/Paris."""
    if value and value not in time_zone_names():
        raise ValidationError(f"{value!r} is not an IANA time zone name, e.g. Europe/Paris.")


@cache
def time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class ReminderPreference(models.Model):
    """How one person wants reminders; a user without a row gets the defaults
    (REMINDER_DEFAULT_TIME_ZONE, mail on)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminder_preference"
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        validators=[validate_time_zone],
        help_text="IANA name, e.g. Europe/Paris. Empty: the site's default.",
    )
    email_enabled = models.BooleanField(
        default=True, help_text="Off: reminders are recorded as suppressed and not mailed."
    )
    digest = models.BooleanField(
        default=False,
        help_text="On: one mail per run listing every reminder it settles for this person. "
        "Off: one mail per reminder.",
    )
    # Local times in the person's zone; a span may cross midnight (22:00-07:00).
    quiet_start = models.TimeField(
        null=True, blank=True, help_text="No mail from this time of day (in their zone)."
    )
    quiet_end = models.TimeField(
        null=True, blank=True, help_text="Until this time of day. Both empty: no quiet hours."
    )
    # One of LANGUAGES (checked by the admin's form, not by choices: a host's LANGUAGES
    # would otherwise make a migration of its own); empty: LANGUAGE_CODE.
    language = models.CharField(
        max_length=15, blank=True, default="", help_text="Empty: the site's language."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(quiet_start__isnull=True, quiet_end__isnull=True)
                | Q(quiet_start__isnull=False, quiet_end__isnull=False),
                name="reminderpreference_quiet_hours_both_or_neither",
            )
        ]

    def __str__(self):
        """What it says, as the user's page heads it: "Europe/Paris, mail on"."""
        zone = self.time_zone or "default time zone"
        return f"{zone}, mail {'on' if self.email_enabled else 'off'}"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The zone due times are shown in: REMINDER_DEFAULT_TIME_ZONE when none is
        stored, or when the stored one no longer loads (a name the installed tzdata
        dropped), with a WARNING naming the user (never the zone: log lines carry none)."""
        if self.time_zone:
            try:
                return zoneinfo.ZoneInfo(self.time_zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                logger.warning(
                    "time_zone_not_found",
                    extra={"event": "time_zone_not_found", "user_id": self.user_id},
                )
        return zoneinfo.ZoneInfo(settings.REMINDER_DEFAULT_TIME_ZONE)

    @property
    def preferred_language(self) -> str:
        """The language their mail and the pages it links to are in: theirs when it is
        one of LANGUAGES (or a variant of one), else the site's (LANGUAGE_CODE)."""
        for code in (self.language, settings.LANGUAGE_CODE):
            if code:
                try:
                    return translation.get_supported_language_variant(code)
                except LookupError:  # a language the site no longer offers
                    continue
        return settings.LANGUAGE_CODE

    @classmethod
    def of(cls, user) -> "ReminderPreference":
        """The user's preference, or an unsaved one with the defaults."""
        try:
            return user.reminder_preference
        except cls.DoesNotExist:
            return cls(user=user)


class Suppression(models.Model):
    """An address not to mail: checked before every send, so a reminder to it is
    settled `suppressed` with the reason, not mailed. Fed by the provider's bounce and
    complaint webhooks (django-anymail's tracking signal), the relay's "no such user"
    refusals (5.1.x) and staff; deleting one lets mail to the address go again."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained (marked as spam)"
        REJECTED = "rejected", "Rejected by the provider"
        MANUAL = "manual", "Added by staff"

    # Stored as given; unique whatever its case, as mail providers treat addresses.
    address = models.EmailField(max_length=254)
    reason = models.CharField(max_length=20, choices=Reason)
    # What reported it: "anymail:<provider>", "relay", "staff" (never a person's name).
    source = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Also the index of the check before every send (address__iexact).
            models.UniqueConstraint(Lower("address"), name="suppression_address_unique"),
        ]

    def __str__(self):
        return f"Suppression {self.pk}"
