"""This project's django-q2 cluster: django-q2 1.11's own, with three repairs.

1. A worker killed while it waits for a task no longer stops the cluster. The
   workers share one task queue (a pipe), read under a lock: the worker whose turn it
   is holds that lock the whole time it waits. Killed then (SIGKILL, the OOM killer),
   it took the lock with it, a semaphore no one else may release: every other worker,
   and each one reincarnated in its place, waited for it for good, so nothing queued
   or scheduled ran again, and a stop waited forever for workers that could never
   read their stop message (django-q2 #23; django-q #200 and #394, open for years).
   The same holds for the lock a worker holds while it hands a result over, and for
   its timer's, which the sentinel's guard waits on. Here each is an fcntl lock
   (ProcessLock), which the kernel releases when its holder dies: the next worker
   takes it, and a reincarnated one joins in.
2. A stop is prompt whatever a worker is doing. SIGTERM or Ctrl-C made django-q2 wait
   for the job in hand, up to Q_CLUSTER_TIMEOUT. Here the sentinel asks its workers
   to stop (SIGINT, which a worker turns into the `stop` event it passes the reminder
   job): the job ends after the deliveries in flight, records its run `interrupted`
   and hands its claims back, as `send_reminders` does on SIGTERM; the worker then
   queues a run of the job, so the next cluster to run (the restarted one, or another
   host's) finishes it at once rather than at the next hourly slot. Any other function
   runs to its end, as with django-q2.
3. The main process's signal handler only asks the sentinel to stop, once, and
   does not wait. django-q2's stopped the whole cluster inside the handler, so a
   second signal arriving meanwhile could deadlock it (django-q2 #346), and it hung for
   good when the sentinel had died too (every process of the cluster signalled): a
   multiprocessing event waits, as it is set, for each process sleeping on it to
   wake.

tasksite.worker's `qcluster` command runs it; the rest of django-q2 is unchanged.
"""

import fcntl
import logging
import os
import signal
import tempfile
import threading
import time
from contextlib import suppress
from multiprocessing import Value

from django_q import cluster as django_q_cluster
from django_q.conf import Conf
from django_q.queues import Queue
from django_q.signals import post_execute_in_worker, post_spawn, pre_execute
from django_q.tasks import async_task
from django_q.worker import worker

from reminders_app.models import ReminderRun
from reminders_app.schedule import JOB_FUNC, PART_FUNC

logger = logging.getLogger(__name__)

# Set in a worker once the cluster asks it to stop: the reminder job's `stop`.
STOPPING = threading.Event()
STOP_SIGNAL = signal.SIGINT  # what the sentinel sends its workers (they ignore it until ready)


class ProcessLock:
    """A reentrant lock between the processes of one cluster that the kernel releases
    when its holder dies: a POSIX record lock (fcntl) on an unlinked file, inherited
    by each process the sentinel forks, and a thread lock within each process."""

    def __init__(self):
        self._file = tempfile.TemporaryFile()
        self._threads = threading.RLock()
        self._depth = 0  # this process's holds (a process's copy after a fork is its own)

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._threads.acquire(block, -1 if timeout is None else timeout):
            return False
        if self._depth == 0 and not self._lock_file(block, deadline):
            self._threads.release()
            return False
        self._depth += 1
        return True

    def _lock_file(self, block: bool, deadline: float | None) -> bool:
        if block and deadline is None:
            fcntl.lockf(self._file, fcntl.LOCK_EX)  # waits; a signal does not end it
            return True
        while True:
            try:
                fcntl.lockf(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError:  # another process holds it
                if not block or time.monotonic() >= deadline:
                    return False
                time.sleep(0.005)

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            fcntl.lockf(self._file, fcntl.LOCK_UN)
        self._threads.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class SafeQueue(Queue):
    """django-q2's queue between the cluster's processes, its locks ProcessLocks: the
    lock a reader holds while it waits, the lock a writer holds while it writes, and
    its size counter's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rlock, self._wlock = ProcessLock(), ProcessLock()
        self.size.count = Value("i", 0, lock=ProcessLock())


class Sentinel(django_q_cluster.Sentinel):
    """Spawns, watches and stops the workers, the pusher and the monitor."""

    def start(self):
        # Before any process is forked, so that every one shares these queues.
        limit = Conf.QUEUE_LIMIT
        self.task_queue = SafeQueue(maxsize=limit) if limit else SafeQueue()
        self.result_queue = SafeQueue()
        super().start()

    def spawn_worker(self):
        """As django-q2's, with a ProcessLock on the worker's timer, which the worker
        holds while it hands its result over and the sentinel each time it looks."""
        timer = Value("f", -1, lock=ProcessLock())
        self.spawn_process(worker, self.task_queue, self.result_queue, timer, self.timeout)

    def stop(self):
        """Ask every worker to stop the reminder job it runs (2. above), then stop as
        django-q2 does: the pusher, a stop message per worker, the monitor."""
        for process in self.pool:
            with suppress(ProcessLookupError):
                os.kill(process.pid, STOP_SIGNAL)
        super().stop()


class Cluster(django_q_cluster.Cluster):
    """The main process: starts the sentinel and stops it on SIGTERM or Ctrl-C."""

    stop_asked = False

    def start(self) -> int:
        # django-q2's start() forks whatever its module calls Sentinel.
        django_q_cluster.Sentinel = Sentinel
        return super().start()

    def sig_handler(self, signum, frame):
        """Ask the sentinel to stop, once (3. above), on a thread of its own: setting
        the event waits for the sentinel to wake, forever if it was killed meanwhile
        (as when every process of the cluster is signalled). The sentinel stops the
        cluster and exits; the main process, done with its command, waits for it and
        exits 0."""
        if self.stop_asked or self.stop_event is None:
            return
        self.stop_asked = True
        threading.Thread(target=self._ask_to_stop, args=[signum], daemon=True).start()

    def _ask_to_stop(self, signum: int) -> None:
        logger.info("cluster_stopping", extra={"event": "cluster_stopping", "signal": signum})
        self.stop_event.set()


def _listen_for_stop(sender, **kwargs) -> None:
    """post_spawn, in each new worker: the sentinel's stop request sets STOPPING."""
    signal.signal(STOP_SIGNAL, lambda signum, frame: STOPPING.set())


def _pass_stop(sender, func, task, **kwargs) -> None:
    """pre_execute: the reminder job (or a part of a run) gets STOPPING as `stop`."""
    if task.get("func") in (JOB_FUNC, PART_FUNC) and isinstance(task.get("kwargs"), dict):
        task["kwargs"]["stop"] = STOPPING


def _continue_interrupted(sender, func, task, **kwargs) -> None:
    """post_execute_in_worker: take `stop` out of the arguments django-q2 keeps, and
    queue a run of the job when the cluster's stop interrupted this one."""
    if not isinstance(task.get("kwargs"), dict) or task["kwargs"].pop("stop", None) is None:
        return
    summary = task.get("result")
    if not STOPPING.is_set() or getattr(summary, "status", None) != ReminderRun.Status.INTERRUPTED:
        return
    run = ReminderRun.objects.select_related("parent").get(pk=summary.run_id)
    run = run.parent or run  # a part: the run it belongs to
    try:
        queued = async_task(
            JOB_FUNC,
            trigger=run.trigger,
            scheduled_for=run.scheduled_for,
            task_name="send-due-reminders-continued",
        )
    except Exception as exc:  # noqa: BLE001 - the broker is away: the next slot does it
        logger.error(
            "run_not_continued",
            extra={
                "event": "run_not_continued",
                "run_id": str(run.pk),
                "error": type(exc).__name__,
            },
        )
        return
    logger.info(
        "run_continued",
        extra={"event": "run_continued", "run_id": str(run.pk), "queued_task_id": queued},
    )


post_spawn.connect(_listen_for_stop, dispatch_uid="tasksite.worker.listen")
pre_execute.connect(_pass_stop, dispatch_uid="tasksite.worker.stop")
post_execute_in_worker.connect(_continue_interrupted, dispatch_uid="tasksite.worker.continue")
