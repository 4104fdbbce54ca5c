from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from reminders_app.management.base import EXIT_USAGE, ReminderCommand
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


class Command(ReminderCommand):
    help = (
        "Load demo data: a staff user 'demo' in the Reminder viewers group and tasks "
        "over the next 48 hours. "
        "Development only: refused when DJANGO_DEBUG is false."
    )

    def handle(self, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo refuses to run when DJANGO_DEBUG is false: its password is public",
                returncode=EXIT_USAGE,
            )
        with transaction.atomic():
            user, created = get_user_model().objects.get_or_create(
                username=DEMO_USERNAME,
                defaults={"is_staff": True, "email": "demo@example.com", "first_name": "Demo"},
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            add_to_reminder_viewers(user)
            if user.tasks.exists():
                self.stdout.write("demo data already loaded; nothing to add")
                return
            now = timezone.now()
            tasks = []
            for i in range(24):
                tasks.append(
                    Task(
                        owner=user,
                        title=DEMO_TITLES[i % len(DEMO_TITLES)],
                        # Spread over the next 48 hours: about half fall in the window.
                        due_at=now + timedelta(hours=2 * i + 1) if i % 6 != 5 else None,
                        completed_at=now if i % 4 == 3 else None,
                    )
                )
            Task.objects.bulk_create(tasks)
        self.stdout.write(
            f"loaded {len(tasks)} demo tasks for staff user {DEMO_USERNAME!r} "
            f"(password {DEMO_PASSWORD!r})"
        )
