from reminders_app.channels import Channel, Reminder
from todo.models import Notification


class InboxChannel(Channel):
    """Puts each reminder in the assignee's inbox: a row, written in the claim's
    own transaction."""

    transactional = True

    def deliver(self, reminder: Reminder) -> None:
        Notification.objects.create(
            item_id=reminder.task_id, reminder_id=reminder.log_id, due_at=reminder.due_at
        )
