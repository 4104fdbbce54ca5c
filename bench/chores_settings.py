"""Settings of `make bench`'s chores shape (bench/run_bench.py --shape chores): this
project's settings with the dated host's chores app (tests/hosts/dated: a due day and
no time, a done flag, several assignees, the creator as fallback) as the task model,
fitted by settings alone as a host would. The benchmark gives it a database of its own.
"""

from tasksite.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.apps.ChoresInTests"]  # noqa: F405
REMINDER_TASK_MODEL = "chores.Chore"
REMINDER_TASK_FIELDS = {
    "due_at": "due_on",
    "completed_at": "done",
    "owner": "assignees",
    "fallback_owner": "creator",
}
