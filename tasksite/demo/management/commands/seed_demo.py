import logging
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_permission_codename, get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import F
from django.test.utils import override_settings
from django.utils import timezone

from reminders_app.jobs import process_reminders
from reminders_app.mailer import mail_settings
from reminders_app.management.base import EXIT_USAGE, ReminderCommand
from reminders_app.models import ReminderLog, ReminderPreference, ReminderRun
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
# The past week as the hourly schedule would have left it: a run at each of the last
# 7 x 24 slots, hours ago, each over a one-hour window, a few seconds late.
PAST_RUNS = list(range(7 * 24, 0, -1))
# A task fell due every this many hours of that week; the failed and the suppressed
# reminder are those of the last runs but one and two.
PAST_TASK_EVERY = 5


class Command(ReminderCommand):
    help = (
        "Load demo data: a staff user 'demo' in the Reminder viewers group who may also view "
        "users and their reminder preferences, tasks over the "
        "next 48 hours and some overdue, a recipient who gets a digest and is inside their "
        "quiet hours, two more recipients (one without an address, one "
        "who opted out of mail), and a past week of hourly runs of the email channel that "
        "leave sent, failed and suppressed reminders, dated when they would have run. "
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
        """Tasks the past week's runs remind (done by now, all but the failed and the
        suppressed one), and one overdue that no run ever reached."""
        users = get_user_model().objects
        nowhere, _ = users.get_or_create(username=NO_ADDRESS, defaults={"email": ""})
        quiet, _ = users.get_or_create(
            username=OPTED_OUT, defaults={"email": "opted-out@example.com"}
        )
        ReminderPreference.objects.get_or_create(user=quiet, defaults={"email_enabled": False})
        demo = users.get(username=DEMO_USERNAME)
        # Each falls half an hour into one past run's window (PAST_RUNS).
        slot = now.replace(minute=0, second=0, microsecond=0)
        due = [slot - timedelta(hours=hours, minutes=-30) for hours in PAST_RUNS]
        tasks = [
            {
                "owner": demo,
                "title": DEMO_TITLES[n % len(DEMO_TITLES)],
                "due_at": at,
                "completed_at": at + timedelta(hours=1),  # done, after its reminder
            }
            for n, at in enumerate(due[:-3:PAST_TASK_EVERY])
        ]
        return tasks + [
            {"owner": nowhere, "title": "File the expense report", "due_at": due[-3]},  # failed
            {"owner": quiet, "title": "Read the board minutes", "due_at": due[-2]},  # suppressed
            {
                "owner": demo,
                "title": "Renew the TLS certificate",
                "due_at": now - timedelta(days=3),
            },
        ]

    @staticmethod
    def _past_runs(now) -> int:
        """Run the real job at each past slot's clock through the email channel, its
        mail kept in memory, then date each run and its reminders back to when it would
        have run: a week of hourly runs, sent, failed and suppressed reminders, as
        the schedule would have left them, and the admin's charts a week's."""
        slot = now.replace(minute=0, second=0, microsecond=0)
        # The job reminds open tasks only: those of the week are done once it is over.
        week = Task.objects.filter(due_at__lt=slot, completed_at__isnull=False)
        done = dict(week.values_list("pk", "completed_at"))
        Task.objects.filter(pk__in=done).update(completed_at=None)
        history = logging.getLogger("reminders_app")
        level = history.level
        history.setLevel(logging.WARNING)  # not two INFO lines for each of the week's runs
        try:
            started = {}
            with override_settings(
                REMINDER_CHANNEL="reminders_app.channels.EmailChannel",
                **mail_settings("django.core.mail.backends.locmem.EmailBackend"),
                REMINDER_DELIVERY_CONCURRENCY=1,
            ):
                for hours in PAST_RUNS:
                    scheduled_for = slot - timedelta(hours=hours)
                    late = timedelta(seconds=2 + hours % 7)  # the scheduler's usual lag
                    summary = process_reminders(
                        now=scheduled_for + late,
                        window_hours=1,
                        trigger="schedule",
                        scheduled_for=scheduled_for,
                    )
                    started[summary.run_id] = scheduled_for + late
        finally:
            history.setLevel(level)
        with transaction.atomic():
            for run_id, at in started.items():
                date_back(run_id, to=at)
            for pk, completed_at in done.items():
                Task.objects.filter(pk=pk).update(completed_at=completed_at)
        return len(PAST_RUNS)


def date_back(run_id: str, *, to) -> None:
    """Move a run just made, and its reminders, back in time so that it started at
    `to`: the demo's history, the only rows written outside runs.py and claims.py."""
    run = ReminderRun.objects.get(pk=run_id)
    by = run.started_at - to
    ReminderRun.objects.filter(pk=run_id).update(
        started_at=F("started_at") - by,
        finished_at=F("finished_at") - by,
        heartbeat_at=F("heartbeat_at") - by,
        lag=run.lag - by,
    )
    ReminderLog.objects.filter(run_id=run_id).update(
        claimed_at=F("claimed_at") - by,
        created_at=F("created_at") - by,
        sent_at=F("sent_at") - by,
    )


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
