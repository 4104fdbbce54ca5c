"""A run's log lines, one per reminder it settled, written after each commit so
that every line stands for a row. They carry ids and times, never a task's title,
a person's name or address, or an exception's message (it may quote them)."""

import logging
import queue
import threading
import traceback

from reminders_app.channels import DeliveryError
from reminders_app.claims import error_text
from reminders_app.delivery import Outcomes

# The job's logger, as the run's other lines: operators filter on one name.
logger = logging.getLogger("reminders_app.jobs")


class RunLog:
    """The lines of one run: `reminder_sent` on a thread of its own (SentLines),
    `reminder_suppressed` and `reminder_failed` as they are committed."""

    def __init__(self, *, run_id: str):
        self.run_id = run_id
        self.sent = SentLines(run_id=run_id)

    def committed(self, outcomes: Outcomes) -> None:
        """Log what was just committed: each line stands for a row."""
        self.sent.add(outcomes.sent)
        for reminder in outcomes.suppressed:
            logger.info(
                "reminder_suppressed",
                extra={
                    "event": "reminder_suppressed",
                    "task_id": reminder.task_id,
                    "recipient_id": reminder.recipient_id,
                    "run_id": self.run_id,
                    "due_at": reminder.due_at.isoformat(),
                    "reminder_id": reminder.log_id,
                },
            )
        for reminder, exc in outcomes.failed:
            # No exc_info: a channel's exception message may quote task content. A
            # failure the channel classified (DeliveryError: its `error` says what and
            # whether it is permanent) needs no stack; an unexpected exception gets
            # its frames, to find the bug.
            stack = {}
            if not isinstance(exc, DeliveryError):
                stack["stack"] = "".join(traceback.format_tb(exc.__traceback__))
            logger.error(
                "reminder_failed",
                extra={
                    "event": "reminder_failed",
                    "task_id": reminder.task_id,
                    "recipient_id": reminder.recipient_id,
                    "run_id": self.run_id,
                    "due_at": reminder.due_at.isoformat(),
                    "reminder_id": reminder.log_id,
                    "attempt": reminder.attempts + 1,
                    "error": error_text(exc),
                    **stack,
                },
            )

    def close(self) -> None:
        """Return once every line is written."""
        self.sent.close()


class SentLines:
    """Writes a run's `reminder_sent` log lines on a thread of its own.

    A large run sends a hundred thousand reminders, one log line each; making and
    formatting those records on the job's thread would add seconds to it. This
    thread writes them while the job waits on the database. close() returns once
    every line is written.
    """

    def __init__(self, *, run_id: str):
        self.run_id = run_id
        self.batches = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._write, name="reminder-sent-lines")
        self.thread.start()

    def add(self, reminders) -> None:
        if reminders:
            self.batches.put(reminders)

    def close(self) -> None:
        self.batches.put(None)
        self.thread.join()

    def _write(self) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return self._drain()
        while (reminders := self.batches.get()) is not None:
            # One record made the usual way per batch, its time the moment the
            # batch's lines are written (they stand for one commit); each line is a
            # copy of it with its reminder's ids. Making a record per line looked up
            # the process, the thread and the clock each time: a fifth of the job's
            # own time at 100,000 reminders. makeRecord() and handle() skip
            # Logger._log's look-up of the caller's file and line, which no line
            # carries.
            batch = logger.makeRecord(
                logger.name,
                logging.INFO,
                "(unknown file)",
                0,
                "reminder_sent",
                (),
                None,
                extra={
                    "event": "reminder_sent",
                    "task_id": None,
                    "recipient_id": None,
                    "run_id": self.run_id,
                    "due_at": None,
                    "reminder_id": None,
                },
            )
            fields, make = batch.__dict__, object.__new__
            for reminder in reminders:
                record = make(type(batch))
                record.__dict__.update(
                    fields,
                    task_id=reminder.task_id,
                    recipient_id=reminder.recipient_id,
                    due_at=reminder.due_at.isoformat(),
                    reminder_id=reminder.log_id,
                )
                logger.handle(record)

    def _drain(self) -> None:
        while self.batches.get() is not None:
            pass
