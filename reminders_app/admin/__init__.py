"""The reminder admins, one module each: the trail (reminders), the runs (runs,
send_now), the schedule (schedule), people's preferences (preferences) and the
addresses not to mail (suppressions); host adds this app's parts to the host's task
and user admins; common holds what they share. Importing this package registers them
(Django's admin autodiscovery)."""

from reminders_app.admin import (  # noqa: F401
    preferences,
    reminders,
    runs,
    schedule,
    suppressions,
)
