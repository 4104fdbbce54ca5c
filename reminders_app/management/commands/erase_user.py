from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.template.defaultfilters import pluralize

from reminders_app.erasure import erase_user
from reminders_app.management.base import EXIT_USAGE, ReminderCommand


class Command(ReminderCommand):
    help = (
        "Erase a person's personal data (a GDPR erasure request): the account becomes "
        "anonymous and inactive, their task titles and descriptions are replaced, their "
        "login records, sessions and the admin history's text about them are removed or "
        "rewritten. The reminder trail keeps its rows and ids. One transaction. "
        "Exit status: 0 erased, 2 no such user."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The username of the person to erase.")

    def handle(self, *, username, **options):
        User = get_user_model()
        try:
            user = User._default_manager.get_by_natural_key(username)
        except User.DoesNotExist:
            raise CommandError(f"no user named {username!r}", returncode=EXIT_USAGE) from None
        erased = erase_user(user)
        tasks, logins = erased.tasks, erased.login_records
        entries, sessions = erased.admin_log_entries, erased.sessions
        self.stdout.write(
            f"erased user {erased.user_id}, now {erased.username!r}: "
            f"{tasks:,} task{pluralize(tasks)} and {entries:,} admin log "
            f"entr{pluralize(entries, 'y,ies')} rewritten, {logins:,} login "
            f"record{pluralize(logins)} deleted, {sessions:,} session{pluralize(sessions)} ended"
        )
