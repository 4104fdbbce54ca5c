from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_permission_codename, get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import CommandError
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from reminders_app.jobs import process_reminders
from reminders_app.mailer import mail_settings
from reminders_app.management.base import EXIT_USAGE, ReminderCommand
from reminders_app.models import ReminderPreference
from reminders_app.viewers import add_to_reminder_viewers
from tasks_app.models import Task

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-reminders"  # printed in README.md; refused outside DEBUG
DEMO_TITLES = [
    "Renew the team's domain name",
    "Send the quarterly report",
    "Book the venue for the offsite",
    "Review the security checklist",
    "Call the printer about the invoice",
    "Water the office plants",
    "Update the on-call rota",
    "Order new badges",
]


# Recipients besides the demo user, so the trail shows every outcome: one without an
# address (a failed reminder) and one who turned reminder mail off (suppressed).
NO_ADDRESS, OPTED_OUT = "demo-no-address", "demo-opted-out"
# One who gets a digest (the demo user gets one mail per reminder), in New York, whose
# quiet hours began an hour before the demo was loaded and end three hours after it:
# their reminders due by then go at once in one mail, the later ones are held.
DIGEST_READER = "demo-digest"
DIGEST_TITLES = [
    "Sign the lease renewal",
    "Prepare the board slides",
    "Confirm the caterer",
    "Send the holiday schedule",
]
DIGEST_DUE_HOURS = [1, 2, 9, 20]
# Past runs, hours ago, each over a one-hour window: the history the admin shows.
PAST_RUNS = [4, 3, 2]


class Command(ReminderCommand):
    help = (
        "Load demo data: a staff user 'demo' in the Reminder viewers group who may also view "
        "users and their reminder preferences, tasks over the "
        "next 48 hours and some overdue, a recipient who gets a digest and is inside their "
        "quiet hours, two more recipients (one without an address, one "
        "who opted out of mail), and three past runs of the email channel that leave sent, "
        "failed and suppressed reminders. "
        "Development only: refused when DJANGO_DEBUG is false."
    )

    def handle(self, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo refuses to run when DJANGO_DEBUG is false: its password is public",
                returncode=EXIT_USAGE,
            )
        now = timezone.now()
        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(
                username=DEMO_USERNAME,
                defaults={"is_staff": True, "email": "demo@example.com", "first_name": "Demo"},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            add_to_reminder_viewers(user)
            grant_demo_views(user)
            if Task.objects.filter(owner=user).exists():
                self.stdout.write("demo data already loaded; nothing to add")
                return
            ReminderPreference.objects.get_or_create(
                user=user, defaults={"time_zone": "Europe/Paris"}
            )
            tasks = [
                Task(**fields)
                for fields in self._upcoming(user, now) + self._digest(now) + self._history(now)
            ]
            Task.objects.bulk_create(tasks)
        past = self._past_runs(now)
        self.stdout.write(
            f"loaded {len(tasks)} demo tasks and {past} past runs for staff user "
            f"{DEMO_USERNAME!r} (password {DEMO_PASSWORD!r})"
        )

    @staticmethod
    def _upcoming(user, now) -> list[dict]:
        """24 tasks over the next 48 hours: about half fall in the window; some are
        completed, some undated."""
        return [
            {
                "owner": user,
                "title": DEMO_TITLES[i % len(DEMO_TITLES)],
                "due_at": now + timedelta(hours=2 * i + 1) if i % 6 != 5 else None,
                "completed_at": now if i % 4 == 3 else None,
            }
            for i in range(24)
        ]

    @staticmethod
    def _digest(now) -> list[dict]:
        """The digest reader and their tasks, due over the next day."""
        reader, _ = get_user_model().objects.get_or_create(
            username=DIGEST_READER,
            defaults={"email": "digest@example.com", "first_name": "Dana"},
        )
        zone = ZoneInfo("America/New_York")
        local = now.astimezone(zone)
        ReminderPreference.objects.get_or_create(
            user=reader,
            defaults={
                "time_zone": zone.key,
                "digest": True,
                "quiet_start": (local - timedelta(hours=1)).time().replace(second=0, microsecond=0),
                "quiet_end": (local + timedelta(hours=3)).time().replace(second=0, microsecond=0),
            },
        )
        return [
            {"owner": reader, "title": title, "due_at": now + timedelta(hours=hours)}
            for title, hours in zip(DIGEST_TITLES, DIGEST_DUE_HOURS, strict=True)
        ]

    @staticmethod
    def _history(now) -> list[dict]:
        """Tasks the past runs remind, and one overdue that no run ever reached."""
        users = get_user_model().objects
        nowhere, _ = users.get_or_create(username=NO_ADDRESS, defaults={"email": ""})
        quiet, _ = users.get_or_create(
            username=OPTED_OUT, defaults={"email": "opted-out@example.com"}
        )
        ReminderPreference.objects.get_or_create(user=quiet, defaults={"email_enabled": False})
        demo = users.get(username=DEMO_USERNAME)
        # Each falls half an hour into one past run's window (PAST_RUNS).
        due = [now - timedelta(hours=hours) + timedelta(minutes=30) for hours in PAST_RUNS]
        return [
            {"owner": demo, "title": "Pay the hosting invoice", "due_at": due[0]},  # sent
            {"owner": nowhere, "title": "File the expense report", "due_at": due[1]},  # failed
            {"owner": quiet, "title": "Read the board minutes", "due_at": due[2]},  # suppressed
            {
                "owner": demo,
                "title": "Renew the TLS certificate",
                "due_at": now - timedelta(days=3),
            },
        ]

    @staticmethod
    def _past_runs(now) -> int:
        """Run the real job at past clocks through the email channel, its mail kept
        in memory: runs, sent, failed and suppressed reminders, as history would
        leave them."""
        with override_settings(
            REMINDER_CHANNEL="reminders_app.channels.EmailChannel",
            **mail_settings("django.core.mail.backends.locmem.EmailBackend"),
            REMINDER_DELIVERY_CONCURRENCY=1,
        ):
            for hours in PAST_RUNS:
                process_reminders(
                    now=now - timedelta(hours=hours), window_hours=1, trigger="command"
                )
        return len(PAST_RUNS)


def grant_demo_views(user) -> None:
    """Let the demo user view people's pages and their reminder preferences, beyond
    the Reminder viewers group, so the demo shows preferences on the user page. View
    only: changing users would let the public demo login make itself a superuser."""
    for model in (get_user_model(), ReminderPreference):
        opts = model._meta
        user.user_permissions.add(
            Permission.objects.get(
                content_type__app_label=opts.app_label,
                codename=get_permission_codename("view", opts),
            )
        )
