"""Benchmark of the admin and the monitoring endpoints on PostgreSQL: `make bench-admin`
(docs/performance.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_admin python bench/run_bench_admin.py

1. seeds (once; --reseed to redo) 10,000 runs, one an hour back from now, and
   1,000,000 tasks with one reminder each spread over those runs (98 % sent, 1 %
   failed, 1 % suppressed), by set-based INSERT ... SELECT FROM generate_series,
   then VACUUM ANALYZE;
2. renders every admin list (the reminder log with its filters and date hierarchy
   drill-downs, the runs, the tasks), the change pages, the home page, /healthz
   and /metrics in-process with Django's test Client as a superuser;
3. prints, for each page, the best server time of five requests (after one to warm
   up) and its number of queries (CaptureQueriesContext).

It refuses a database holding data it did not make unless given --reset. It is
not a test and judges no timing: it prints figures.
"""

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

PROJECT = Path(__file__).resolve().parent.parent
RUNS = 10_000
REMINDERS = 1_000_000
REPEATS = 5
BENCH_USER = "bench-admin"
EXIT_USAGE = 2


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="run_bench_admin.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--runs", type=int, default=RUNS, help="runs to seed")
    parser.add_argument("--reminders", type=int, default=REMINDERS, help="reminders to seed")
    parser.add_argument("--reseed", action="store_true", help="seed again even if seeded")
    parser.add_argument(
        "--reset", action="store_true", help="delete every task, reminder and run first"
    )
    return parser.parse_args(argv)


def setup_django():
    sys.path.insert(0, str(PROJECT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tasksite.settings")
    os.environ.setdefault("DJANGO_DEBUG", "true")  # /metrics without a token
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit(f"run_bench_admin.py: the benchmark needs PostgreSQL, not {connection.vendor}")


def sql(statement, params=None, *, fetch=False):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if fetch else cursor.rowcount


def seeded(runs: int, reminders: int, *, reset: bool) -> bool:
    """Whether the database holds exactly this benchmark's data; exits when it holds
    anyone else's, unless `reset`."""
    from reminders_app.models import ReminderLog, ReminderRun
    from tasks_app.models import Task

    foreign = Task.objects.exclude(owner__username=BENCH_USER).count()
    if foreign and not reset:
        sys.exit(
            f"run_bench_admin.py: refusing: the database holds {foreign} tasks the benchmark "
            "did not make; pass --reset to delete every task, reminder and run in it"
        )
    return (
        not foreign
        and ReminderRun.objects.count() == runs
        and ReminderLog.objects.count() == reminders
    )


def seed(runs: int, reminders: int) -> float:
    from django.contrib.auth import get_user_model

    started = time.perf_counter()
    sql(
        "TRUNCATE tasks_app_task, reminders_app_reminderlog, reminders_app_reminderrun "
        "RESTART IDENTITY CASCADE"
    )
    owner, _ = get_user_model().objects.get_or_create(username=BENCH_USER)
    # Runs: one an hour back from now, each with its kept counts.
    sql(
        """
        INSERT INTO reminders_app_reminderrun
            (id, trigger, status, started_at, finished_at, heartbeat_at, scheduled_for, lag,
             window_start, window_end, selected, sent, skipped, failed, released, suppressed,
             error, hostname, pid, channel)
        SELECT gen_random_uuid(),
            CASE WHEN i %% 50 = 0 THEN 'command' ELSE 'schedule' END,
            CASE WHEN i %% 97 = 0 THEN 'failed' ELSE 'succeeded' END,
            t, t + (1 + i %% 5) * interval '1 second', t, date_trunc('hour', t),
            t - date_trunc('hour', t), t, t + interval '24 hours',
            %(per_run)s, %(per_run)s * 98 / 100, 0, %(per_run)s / 100, 0, %(per_run)s / 100,
            '', 'bench', 1, 'reminders_app.channels.EventChannel'
        FROM generate_series(1, %(runs)s) AS i,
            LATERAL (SELECT now() - i * interval '1 hour' + interval '7 seconds' AS t) AS s
        """,
        {"runs": runs, "per_run": reminders // runs},
    )
    # Tasks: one per reminder, due at its run's start plus a few hours.
    sql(
        """
        INSERT INTO tasks_app_task
            (title, description, owner_id, due_at, completed_at, created_at, updated_at)
        SELECT 'Benchmark task ' || i, '', %(owner)s,
            now() - (i %% %(runs)s) * interval '1 hour' + interval '3 hours',
            CASE WHEN i %% 3 = 0 THEN now() END, now(), now()
        FROM generate_series(1, %(reminders)s) AS i
        """,
        {"owner": owner.pk, "runs": runs, "reminders": reminders},
    )
    # Reminders: task i's reminder in run (i mod runs), sent a few seconds into it.
    sql(
        """
        INSERT INTO reminders_app_reminderlog
            (task_id, due_at, status, run_id, claimed_at, sent_at, attempts, next_attempt_at,
             error, created_at)
        SELECT t.id, t.due_at,
            CASE WHEN t.id %% 100 = 1 THEN 'failed'
                 WHEN t.id %% 100 = 2 THEN 'suppressed' ELSE 'sent' END,
            r.id, r.started_at,
            CASE WHEN t.id %% 100 IN (1, 2) THEN NULL
                 ELSE r.started_at + (t.id %% 5) * interval '1 second' END,
            CASE WHEN t.id %% 100 = 1 THEN 1 + t.id %% 5 ELSE 1 END,
            CASE WHEN t.id %% 100 = 1 AND t.id %% 5 < 4
                 THEN r.started_at + interval '1 hour' END,
            CASE WHEN t.id %% 100 = 1 THEN 'SMTPServerDisconnected' ELSE '' END,
            r.started_at
        FROM tasks_app_task t
        JOIN (SELECT id, started_at, row_number() OVER (ORDER BY started_at) - 1 AS n
              FROM reminders_app_reminderrun) r ON r.n = t.id %% %(runs)s
        """,
        {"runs": runs},
    )
    for table in ("tasks_app_task", "reminders_app_reminderlog", "reminders_app_reminderrun"):
        sql(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - started


def pages() -> list[tuple[str, str]]:
    from django.urls import reverse

    from reminders_app.models import ReminderLog, ReminderRun

    log = reverse("admin:reminders_app_reminderlog_changelist")
    runs = reverse("admin:reminders_app_reminderrun_changelist")
    tasks = reverse("admin:tasks_app_task_changelist")
    newest = ReminderLog.objects.order_by("-id").values("id", "task_id", "sent_at").first()
    run = ReminderRun.objects.order_by("-started_at").values_list("id", flat=True)[100]
    last = ReminderLog.objects.exclude(sent_at=None).order_by("-sent_at").first().sent_at
    year, month, day = last.year, last.month, last.day
    this_year = urlencode(  # the "sent at: this year" filter's own link
        {
            "sent_at__gte": str(datetime(year, 1, 1, tzinfo=UTC)),
            "sent_at__lt": str(datetime(year + 1, 1, 1, tzinfo=UTC)),
        }
    )
    return [
        ("home", reverse("admin:index")),
        ("reminders", log),
        ("reminders: status failed", f"{log}?status__exact=failed"),
        ("reminders: failed for good", f"{log}?retry=given_up"),
        ("reminders: run trigger command", f"{log}?run__trigger=command"),
        ("reminders: sent this year (filter)", f"{log}?{this_year}"),
        ("reminders: date hierarchy year", f"{log}?sent_at__year={year}"),
        ("reminders: date hierarchy month", f"{log}?sent_at__year={year}&sent_at__month={month}"),
        (
            "reminders: date hierarchy day",
            f"{log}?sent_at__year={year}&sent_at__month={month}&sent_at__day={day}",
        ),
        (
            "reminders: failed in a year",
            f"{log}?status__exact=failed&sent_at__year={year}",
        ),
        ("reminders: of one run", f"{log}?run__id__exact={run}"),
        ("reminders: search task id", f"{log}?q={newest['task_id']}"),
        ("reminder page", reverse("admin:reminders_app_reminderlog_change", args=[newest["id"]])),
        ("runs", runs),
        ("runs: trigger admin", f"{runs}?trigger__exact=admin"),
        ("runs: status failed", f"{runs}?status__exact=failed"),
        ("runs: date hierarchy year", f"{runs}?started_at__year={year}"),
        ("run page", reverse("admin:reminders_app_reminderrun_change", args=[run])),
        ("tasks", tasks),
        ("tasks: overdue", f"{tasks}?due=overdue"),
        ("tasks: due within the window", f"{tasks}?due=window"),
        ("tasks: search title", f"{tasks}?q=task+99999"),
        ("task page", reverse("admin:tasks_app_task_change", args=[newest["task_id"]])),
        ("/healthz", "/healthz"),
        ("/metrics", "/metrics"),
    ]


def measure(client, url) -> tuple[float, int, int]:
    """(best milliseconds of REPEATS, queries, status) for one page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm up: templates, content types, the session
    best = float("inf")
    for _ in range(REPEATS):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            best = min(best, time.perf_counter() - started)
    return best * 1000, len(queries), response.status_code


def main(argv=None) -> int:
    args = parse_args(argv)
    setup_django()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test Client in a plain process
    if not seeded(args.runs, args.reminders, reset=args.reset) or args.reseed:
        print(f"seeding {args.runs:,} runs and {args.reminders:,} tasks and reminders ...")
        print(f"seeded in {seed(args.runs, args.reminders):.1f} s")
    admin, _ = get_user_model().objects.get_or_create(
        username="bench-admin-root", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(admin)
    print(f"\n{'page':<42} {'ms':>8} {'queries':>8}  status")
    worst = 0.0
    for name, url in pages():
        ms, queries, status = measure(client, url)
        worst = max(worst, ms)
        print(f"{name:<42} {ms:8.1f} {queries:8d}  {status}")
    print(f"\nslowest page: {worst:.1f} ms (best of {REPEATS} after a warm-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
