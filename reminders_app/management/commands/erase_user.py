from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.template.defaultfilters import pluralize

from reminders_app.erasure import erase_user
from reminders_app.management.base import EXIT_USAGE, ReminderCommand


class Command(ReminderCommand):
    help = (
        "Erase a person's personal data (a GDPR erasure request): the account becomes "
        "anonymous and inactive, the titles and descriptions of the tasks that name only "
        "them are replaced (a task shared with others is left as it is), their login "
        "records, sessions and the admin history's text about them are removed or "
        "rewritten. The reminder trail keeps its rows and ids. One transaction. "
        "Exit status: 0 erased, 2 no such user."
    )

    def add_arguments(self, parser):
        field = get_user_model().USERNAME_FIELD
        parser.add_argument(
            "login", help=f"What the person logs in with: the user model's {field!r}."
        )

    def handle(self, *, login, **options):
        User = get_user_model()
        try:
            # USERNAME_FIELD, whatever the user model calls it.
            user = User._default_manager.get_by_natural_key(login)
        except User.DoesNotExist:
            raise CommandError(f"no user named {login!r}", returncode=EXIT_USAGE) from None
        erased = erase_user(user)
        tasks, logins = erased.tasks, erased.login_records
        entries, sessions = erased.admin_log_entries, erased.sessions
        self.stdout.write(
            f"erased user {erased.user_id}, now {erased.login!r}: "
            f"{tasks:,} task{pluralize(tasks)} and {entries:,} admin log "
            f"entr{pluralize(entries, 'y,ies')} rewritten, {logins:,} login "
            f"record{pluralize(logins)} deleted, {sessions:,} session{pluralize(sessions)} ended"
        )
