"""Benchmark of email delivery: `make bench-email` (docs/performance.md, "Email").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench python bench/run_bench_email.py

1. starts an SMTP sink (bench/smtp_sink.py, aiosmtpd) in a process of its own that
   takes --delay seconds (default 0.02) to accept each message;
2. seeds --due tasks (default 20,000) due in the next hour, with owners that have
   addresses;
3. times the bound: a plain smtplib sender with as many connections as the job's
   pool (REMINDER_DELIVERY_CONCURRENCY, default 16), each opened once, sending as many
   messages like the job's (its rendered text and HTML, its headers), each built with
   the standard library's email package; and the transport alone: the same
   connections sending one prebuilt copy again and again;
4. runs the real `send_reminders --json` with EmailChannel and reads the run's own
   record (finished_at - started_at);
5. prints mails per second, connections opened, duplicates and the ratio to the bound.

It judges no timing; it stops with an error only when a due task got no message or
more than one, or the run does not say it sent them all.
"""

import argparse
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_bench  # noqa: E402 - the benchmark's database helpers and guard
from run_bench import NOW, PROJECT, BenchError, sql  # noqa: E402

SINK = Path(__file__).resolve().parent / "smtp_sink.py"
EXIT_USAGE = 2


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="run_bench_email.py", description=__doc__.split("\n\n")[0].strip()
    )
    parser.add_argument("--due", type=int, default=20_000, help="reminders to send")
    parser.add_argument("--delay", type=float, default=0.02, help="sink seconds per message")
    parser.add_argument("--reset", action="store_true", help="delete all tasks and runs first")

    def error(message):
        parser.exit(EXIT_USAGE, f"{parser.prog}: error: {message}\n")

    parser.error = error
    args = parser.parse_args(argv)
    if not 0 < args.due <= 1_000_000:
        parser.error("--due must be between 1 and 1,000,000")
    if not 0 <= args.delay <= 10:
        parser.error("--delay must be between 0 and 10 seconds")
    return args


def seed(due: int) -> None:
    """`due` open tasks due in the next hour, spread over the benchmark's users."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    for name in run_bench.BENCH_USERS:
        User.objects.update_or_create(username=name, defaults={"email": f"{name}@example.com"})
    sql(
        """
        INSERT INTO tasks_app_task
            (title, description, owner_id, due_at, completed_at, created_at, updated_at)
        SELECT 'Benchmark task ' || i, '', o.ids[1 + i %% cardinality(o.ids)],
            %(now)s + (i %% 3600) * interval '1 second', NULL, %(now)s, %(now)s
        FROM generate_series(1, %(due)s) AS i,
        (SELECT array_agg(id ORDER BY id) AS ids FROM auth_user WHERE username = ANY(%(users)s)) o
        """,
        {"now": NOW, "due": due, "users": run_bench.BENCH_USERS},
    )
    run_bench.vacuum_analyze()


class Sink:
    def __init__(self, *, delay: float, workdir: Path):
        from tests.smtp import free_port

        self.port = free_port()
        self.log = workdir / "sink.log"
        self.log.touch()
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(SINK),
                "--port",
                str(self.port),
                "--delay",
                str(delay),
                "--out",
                str(self.log),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.process.stdout.readline().strip() != "ready":
            raise BenchError("the SMTP sink did not start")

    def events(self) -> list[str]:
        return self.log.read_text().splitlines()

    def reset(self) -> None:
        self.log.write_text("")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def reminder_mail():
    """One of the job's own messages, rendered as EmailChannel renders it (templates,
    both parts, headers): Django's EmailMultiAlternatives."""
    from django.utils import timezone

    from reminders_app.channels import EmailChannel, Reminder
    from tasks_app.models import Task

    task = Task.objects.order_by("pk").first()
    reminder = Reminder(0, task.pk, task.owner_id, task.due_at, attempts=0)
    channel = EmailChannel()
    channel.prepare([reminder], now=timezone.now())
    return channel.message(reminder)


def measure_bound(sink: Sink, *, messages: int, connections: int, build: bool) -> float:
    """Seconds for `connections` plain smtplib connections, each opened once, to send
    `messages` messages like the job's between them.

    `build`: each message is built and serialised with the standard library's email
    package (both parts and the same headers), as any sender must; without, one copy
    of the job's message, serialised once, is sent again and again (transport only).
    """
    from tests.smtp import as_sent

    mail = reminder_mail()
    ((html, _),) = mail.alternatives
    _, _, payload = as_sent(mail)  # as Django's backend sends it
    counts = [messages // connections + (i < messages % connections) for i in range(connections)]

    def built(number: int) -> bytes:
        message = EmailMessage(policy=SMTP)
        message["Subject"] = mail.subject
        message["From"] = mail.from_email
        message["To"] = mail.to[0]
        for name, value in mail.extra_headers.items():
            message[name] = value if name != "X-Reminder-ID" else str(number)
        message.set_content(mail.body)
        message.add_alternative(html, subtype="html")
        return message.as_bytes()

    def send(count: int) -> None:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=30) as smtp:
            for number in range(count):
                data = built(number) if build else payload
                smtp.sendmail("reminders@example.com", ["bench-user-1@example.com"], data)

    threads = [threading.Thread(target=send, args=(count,)) for count in counts]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def run_job(sink: Sink) -> dict:
    from reminders_app.models import ReminderRun

    env = dict(
        os.environ,
        REMINDER_CHANNEL="reminders_app.channels.EmailChannel",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(sink.port),
        DEFAULT_FROM_EMAIL="Task reminders <reminders@example.com>",
    )
    started = time.perf_counter()
    child = subprocess.run(
        [
            sys.executable,
            str(PROJECT / "manage.py"),
            "send_reminders",
            "--json",
            "--now",
            NOW.isoformat(),
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if child.returncode != 0:
        last = (child.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"send_reminders exited {child.returncode}: {last}")
    summary = json.loads(child.stdout)
    run = ReminderRun.objects.get(pk=summary["run_id"])
    return {"summary": summary, "job": run.duration.total_seconds(), "wall": wall}


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run_bench.setup_django()
        from django.conf import settings
        from django.db import DatabaseError

        from reminders_app.management.base import database_error

        concurrency = settings.REMINDER_DELIVERY_CONCURRENCY
        try:
            return measure(args, concurrency)
        except DatabaseError as exc:
            raise BenchError(database_error(exc)) from None
    except BenchError as exc:
        print(f"run_bench_email.py: {exc}", file=sys.stderr)
        return exc.code


def measure(args, concurrency: int) -> int:
    run_bench.refuse_foreign_data(args.reset)
    run_bench.wipe()
    seed(args.due)
    print(run_bench.describe_machine())
    print(
        f"{args.due:,} due reminders; sink delay {args.delay * 1000:.0f} ms per message; "
        f"REMINDER_DELIVERY_CONCURRENCY {concurrency}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-email-") as tmp:
        sink = Sink(delay=args.delay, workdir=Path(tmp))
        try:
            bound = measure_bound(sink, messages=args.due, connections=concurrency, build=True)
            sink.reset()
            transport = measure_bound(sink, messages=args.due, connections=concurrency, build=False)
            sink.reset()
            job = run_job(sink)
            events = sink.events()
        finally:
            sink.stop()
    received = Counter(e.split()[1] for e in events if e.startswith("message"))
    connections = sum(e == "connection" for e in events)
    duplicates = sum(n - 1 for n in received.values())
    summary = job["summary"]
    if summary["sent"] != args.due or len(received) != args.due:
        raise BenchError(
            f"expected {args.due:,} messages; the run sent {summary['sent']:,}, "
            f"the sink received {len(received):,} distinct ones"
        )
    rate = args.due / job["job"]
    print(
        f"bound: plain smtplib, {concurrency} connections, each message built with the "
        f"standard library: {bound:.2f} s, {args.due / bound:,.0f} mails/s"
    )
    print(
        f"transport only: the same connections sending one prebuilt copy again and again: "
        f"{transport:.2f} s, {args.due / transport:,.0f} mails/s"
    )
    print(
        f"job: sent {summary['sent']:,}; run record {job['job']:.2f} s, "
        f"process wall {job['wall']:.2f} s"
    )
    print(f"mails per second (run record): {rate:,.0f} (target at least 400)")
    print(f"ratio job / bound: {job['job'] / bound:.2f}x (target under 1.5x)")
    print(
        f"ratio job / transport only: {job['job'] / transport:.2f}x "
        "(target under 1.5x, or at least 400 mails/s)"
    )
    print(f"connections opened by the job: {connections}; duplicates: {duplicates}")
    fits = timedelta(seconds=100_000 / rate)
    print(f"100,000 reminders at this rate: {fits.total_seconds():.0f} s")
    print(f"load average at the end: {run_bench.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
