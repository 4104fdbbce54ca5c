"""What every fault scenario must end with, checked the same way everywhere."""

from collections import Counter

from reminders_app.models import ReminderLog, ReminderRun


def assert_each_task_sent_exactly_once(task_ids) -> None:
    """One `sent` row per task and no other row; no run left `running`."""
    rows = list(ReminderLog.objects.values_list("task_id", "status"))
    assert Counter(status for _, status in rows) == {"sent": len(task_ids)}
    assert Counter(task_id for task_id, _ in rows) == Counter(task_ids)
    assert not ReminderRun.objects.filter(status=ReminderRun.Status.RUNNING).exists()
