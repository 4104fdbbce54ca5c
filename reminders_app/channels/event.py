from reminders_app.channels.base import Channel, Reminder


class EventChannel(Channel):
    """The default: the `sent` ReminderLog row and its `reminder_sent` log line are
    the reminder; other systems consume them."""

    transactional = True

    def deliver(self, reminder: Reminder) -> None:
        pass
