"""The hourly django-q2 schedule that runs the reminder job.

Its row is data, created by migration 0002_hourly_schedule; this module holds the
names that migration, the system check and `reminders_status` share.
"""

from datetime import timedelta

SCHEDULE_NAME = "send-due-reminders"
JOB_FUNC = "reminders_app.jobs.process_reminders"
# django-q2 passes the slot a run was scheduled for under this keyword.
SLOT_KWARG = "scheduled_for"
INTERVAL = timedelta(hours=1)
