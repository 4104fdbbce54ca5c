"""Benchmark of scale-out: `make bench-scale` (docs/performance.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench make bench-scale

With a relay that takes --delay seconds (default 0.1) to accept each message
(bench/smtp_sink.py, aiosmtpd, a process of its own) and --connections delivery
connections per process (default 8), on --due reminders (default 2,000):
1. one `send_reminders` process;
2. four independent `send_reminders` processes started together on the same window;
3. one run with REMINDER_WORKERS=4, queued on two `qcluster`s of two workers each
   that share a Redis broker (--redis) and the database;
then, with the event channel on --event-due reminders (default 40,000): one process,
and `send_reminders --workers 4`.
Each rate is the reminders over the span of the run records (first start to last
end), so process start-up is left out; process wall times are printed too.

It judges no timing; it stops with an error only when a reminder is missing or
sent twice where that cannot happen (the relay's count is printed, not judged).
"""

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_bench  # noqa: E402 - the benchmark's database helpers and guard
import run_bench_email  # noqa: E402 - the SMTP sink and the seeding of mail owners
from run_bench import NOW, PROJECT, BenchError, sql  # noqa: E402

EXIT_USAGE = 2
PARTS = 4


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="run_bench_scale.py", description=__doc__.split("\n\n")[0].strip()
    )
    parser.add_argument("--due", type=int, default=2_000, help="reminders mailed per scenario")
    parser.add_argument("--delay", type=float, default=0.1, help="relay seconds per message")
    parser.add_argument("--connections", type=int, default=8, help="connections per process")
    parser.add_argument("--event-due", type=int, default=40_000, help="event-channel reminders")
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/0", help="Redis URL the two clusters share"
    )
    parser.add_argument("--reset", action="store_true", help="delete all tasks and runs first")

    def error(message):
        parser.exit(EXIT_USAGE, f"{parser.prog}: error: {message}\n")

    parser.error = error
    args = parser.parse_args(argv)
    if not 0 < args.due <= 1_000_000 or not 0 < args.event_due <= 1_000_000:
        parser.error("--due and --event-due must be between 1 and 1,000,000")
    if not 0 <= args.delay <= 10:
        parser.error("--delay must be between 0 and 10 seconds")
    if not 0 < args.connections <= 256:
        parser.error("--connections must be between 1 and 256")
    return args


def forget_reminders() -> None:
    """Every task due again: no reminder, no run."""
    sql("TRUNCATE reminders_app_reminderlog, reminders_app_reminderrun")
    run_bench.vacuum_analyze()


def manage(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(PROJECT / "manage.py"), *args],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def finish(proc: subprocess.Popen) -> dict:
    stdout, _ = proc.communicate()
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(proc.args[2:4])} exited {proc.returncode}")
    return json.loads(stdout)


def span(runs) -> float:
    """Seconds from the first run's start to the last one's end."""
    return (max(r.finished_at for r in runs) - min(r.started_at for r in runs)).total_seconds()


def send(env: dict, processes: int, *extra: str) -> dict:
    """`processes` send_reminders started together; their figures."""
    from reminders_app.models import ReminderRun

    started = time.perf_counter()
    procs = [
        manage("send_reminders", "--json", "--now", NOW.isoformat(), *extra, env=env)
        for _ in range(processes)
    ]
    summaries = [finish(proc) for proc in procs]
    wall = time.perf_counter() - started
    runs = list(ReminderRun.objects.filter(pk__in=[s["run_id"] for s in summaries]))
    return {"summaries": summaries, "span": span(runs), "wall": wall, "runs": runs}


def clusters_run(env: dict, workdir: Path) -> dict:
    """One run in PARTS parts, queued on two clusters of two workers sharing Redis."""
    from django_q.tasks import async_task

    from reminders_app.models import ReminderRun

    env = env | {"Q_CLUSTER_WORKERS": "2", "REMINDER_WORKERS": str(PARTS)}
    logs = [workdir / f"cluster{n}.log" for n in range(2)]
    clusters = []
    for log in logs:
        with open(log, "w") as out:
            clusters.append(
                subprocess.Popen(
                    [sys.executable, str(PROJECT / "manage.py"), "qcluster"],
                    cwd=PROJECT,
                    env=env,
                    stdout=out,
                    stderr=out,
                )
            )
    try:
        deadline = time.monotonic() + 120
        while not all("running." in log.read_text() for log in logs):
            if time.monotonic() > deadline or any(c.poll() is not None for c in clusters):
                raise BenchError("the clusters did not start")
            time.sleep(0.2)
        logging.getLogger("django-q").setLevel(logging.WARNING)  # not its "Enqueued" line
        async_task("reminders_app.jobs.process_reminders", now=NOW, trigger="admin")
        while not ReminderRun.objects.filter(
            parent__isnull=True, finished_at__isnull=False
        ).exists():
            if time.monotonic() > deadline + 600:
                raise BenchError("the run in parts did not end")
            time.sleep(0.2)
    finally:
        for cluster in clusters:
            cluster.terminate()
        for cluster in clusters:
            cluster.wait(timeout=60)
    run = ReminderRun.objects.get(parent__isnull=True)
    by_cluster = Counter()
    for log in logs:
        for line in log.read_text().splitlines():
            if '"event":"run_started"' in line and '"parent_id"' in line:
                by_cluster[log.name] += 1
    return {"run": run, "parts": list(run.parts.all()), "by_cluster": by_cluster}


def check_mailed(sink, due: int, *, what: str) -> int:
    """Every due reminder mailed; returns how many were mailed twice."""
    received = Counter(e.split()[1] for e in sink.events() if e.startswith("message"))
    if len(received) != due:
        raise BenchError(f"{what}: the relay received {len(received):,} of {due:,} reminders")
    sink.reset()
    return sum(n - 1 for n in received.values())


def measure(args) -> int:
    from reminders_app.models import ReminderLog

    run_bench.refuse_foreign_data(args.reset)
    run_bench.wipe()
    run_bench_email.seed(args.due)
    print(run_bench.describe_machine())
    print(
        f"{args.due:,} due reminders per scenario; relay {args.delay * 1000:.0f} ms per "
        f"message; {args.connections} connections per process"
    )
    rates = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        sink = run_bench_email.Sink(delay=args.delay, workdir=Path(tmp))
        env = dict(
            os.environ,
            REMINDER_CHANNEL="reminders_app.channels.EmailChannel",
            REMINDER_DELIVERY_CONCURRENCY=str(args.connections),
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(sink.port),
            DEFAULT_FROM_EMAIL="Task reminders <reminders@example.com>",
            Q_CLUSTER_REDIS=args.redis,
        )
        try:
            one = send(env, 1)
            check_mailed(sink, args.due, what="one process")
            rates["one process"] = args.due / one["span"]
            print(
                f"one process: {one['span']:.2f} s (process wall {one['wall']:.2f} s), "
                f"{rates['one process']:,.0f} mails/s"
            )
            forget_reminders()
            four = send(env, PARTS)
            twice = check_mailed(sink, args.due, what="four processes")
            rates["four processes"] = args.due / four["span"]
            shares = [s["sent"] for s in four["summaries"]]
            print(
                f"four processes on one window: {four['span']:.2f} s (wall {four['wall']:.2f} s),"
                f" {rates['four processes']:,.0f} mails/s; shares {shares}; mailed twice {twice}"
            )
            forget_reminders()
            parts = clusters_run(env, Path(tmp))
            twice = check_mailed(sink, args.due, what="the run in parts")
            run = parts["run"]
            rates["run in 4 parts"] = args.due / run.duration.total_seconds()
            print(
                f"one run, REMINDER_WORKERS={PARTS}, two clusters of 2 workers sharing Redis: "
                f"{run.duration.total_seconds():.2f} s, {rates['run in 4 parts']:,.0f} mails/s; "
                f"status {run.status}; parts per cluster {dict(parts['by_cluster'])}; "
                f"part shares {[p.sent for p in parts['parts']]}; mailed twice {twice}"
            )
        finally:
            sink.stop()
    base = rates["one process"]
    for name, rate in rates.items():
        print(f"ratio {name} / one process: {rate / base:.2f}x")

    run_bench.wipe()
    run_bench_email.seed(args.event_due)
    event_env = dict(os.environ, REMINDER_CHANNEL="reminders_app.channels.EventChannel")
    alone = send(event_env, 1)
    forget_reminders()
    split = send(event_env, 1, "--workers", str(PARTS))
    if ReminderLog.objects.filter(status="sent").count() != args.event_due:
        raise BenchError("send_reminders --workers did not send every reminder once")
    parent = split["runs"][0]
    print(
        f"event channel, {args.event_due:,} due: one process {alone['span']:.2f} s "
        f"(wall {alone['wall']:.2f} s); --workers {PARTS}: {span([parent]):.2f} s "
        f"(wall {split['wall']:.2f} s), {span([parent]) / alone['span']:.2f}x one process's "
        f"run, {split['wall'] / alone['wall']:.2f}x its wall"
    )
    print(f"load average at the end: {run_bench.load_average()}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ["Q_CLUSTER_REDIS"] = args.redis  # this process queues the run in parts
    try:
        run_bench.setup_django()
        from django.db import DatabaseError

        from reminders_app.management.base import database_error

        try:
            return measure(args)
        except DatabaseError as exc:
            raise BenchError(database_error(exc)) from None
    except BenchError as exc:
        print(f"run_bench_scale.py: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
