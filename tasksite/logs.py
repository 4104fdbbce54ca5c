"""A stderr handler that formats and writes on a thread of its own.

A run logs one JSON line per reminder: a hundred thousand lines for a large run.
Formatting and writing them on the job's thread would add seconds to it; here the
job's thread only queues each record, and a listener thread (Python's
QueueHandler/QueueListener pattern) formats and writes it while the job waits on
the database. `flush()` waits until every queued line is written; the job calls it
before recording its finish time, and it runs again at exit.
"""

import atexit
import logging
import os
import queue
import sys
from logging.handlers import QueueHandler, QueueListener


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written (test runners swap it)."""

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()


class BackgroundStderrHandler(QueueHandler):
    def __init__(self):
        self.target = logging.StreamHandler(_CurrentStderr())
        super().__init__(queue.Queue())
        self._start_listener()
        # A forked child (a django-q2 worker) has no listener thread: start its own.
        os.register_at_fork(after_in_child=self._start_listener)
        atexit.register(self.flush)

    def _start_listener(self):
        self.queue = queue.Queue()
        self.listener = QueueListener(self.queue, self.target, respect_handler_level=False)
        self.listener.start()

    def setFormatter(self, fmt):
        # dictConfig hands the formatter to this handler; the writer uses it.
        self.target.setFormatter(fmt)

    def prepare(self, record):
        # The record stays in this process, so it needs no copy or pre-formatting:
        # the listener formats it.
        return record

    def flush(self):
        self.queue.join()
        self.target.flush()


def flush_logs() -> None:
    """Wait until every log line emitted so far has been written."""
    for handler in logging.getLogger().handlers:
        handler.flush()
