"""Benchmark of the reminder job on PostgreSQL: `make bench` (docs/performance.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench python bench/run_bench.py

For one size (default 1,100,000 tasks, 100,000 of them due in the window) it
1. seeds the tasks with one INSERT ... SELECT FROM generate_series, then VACUUM ANALYZE;
2. times the set-based bound: one INSERT ... SELECT ... ON CONFLICT DO NOTHING of the
   due rows into a scratch copy of the reminder log (same columns, keys, indexes and
   foreign keys), dropped afterwards; best of three; and the minimal bound: the same
   statement into a table with only what the semantics need (primary key, the unique
   (task_id, due_at) constraint, the two foreign keys, an index on the run);
3. runs the real `send_reminders --json --now ...` as a child process and reads the
   run's own record (finished_at - started_at), the process's wall time, its peak
   RSS and the statements it sent (both from bench/counted_manage.py);
4. after VACUUM ANALYZE, reruns it three times with nothing left to send;
5. prints EXPLAIN (ANALYZE, BUFFERS) of the due-task query, before and after the run;
then repeats 1-4 for 10 k, 100 k and 1 M tasks (1/11 of them due) as a scaling table.

It only ever deletes its own data: a database holding tasks of anyone but the
benchmark's users, or runs for another clock, is refused unless --reset is given.
It is not a test (pytest collects tests/ only) and judges no timing: it prints figures.
It stops with an error only when a run breaks a guarantee: a reminder missing or
repeated, a log line missing, or a rerun that sends again.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
COUNTED_MANAGE = Path(__file__).resolve().parent / "counted_manage.py"
# The job's clock in every run, so reruns see the same window.
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
BENCH_USERS = [f"bench-user-{n}" for n in range(1, 9)]
SCRATCH = "bench_bound_reminderlog"
# The bound is the best of a few tries (the smallest bound makes the largest ratio).
BOUND_REPEATS = 3
SCALING = [10_000, 100_000, 1_000_000]
QUICK_SCALING = [1_100, 11_000]
DUE_SHARE = 11  # in the scaling table 1 task in 11 is due (~9 %), as in the default size

EXIT_FAILED, EXIT_USAGE = 1, 2


class BenchError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="run_bench.py", description=__doc__.split("\n\n")[0].strip()
    )

    def count(value):
        try:
            number = int(value.replace("_", "").replace(",", ""))
        except ValueError:
            number = -1
        if number < 0:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 0")
        return number

    parser.add_argument("--tasks", type=count, default=1_100_000, help="tasks in the table")
    parser.add_argument("--due", type=count, default=100_000, help="of which due in the window")
    parser.add_argument(
        "--scaling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also print the 10k/100k/1M scaling table (default: yes)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 22,000 tasks (2,000 due), scaling at 1.1k and 11k",
    )
    parser.add_argument(
        "--seed-only",
        action="store_true",
        help="seed --tasks/--due, VACUUM ANALYZE and stop (to profile the command by hand)",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="delete every task, reminder and run in the database first",
    )

    def error(message):  # one line, not argparse's usage block
        parser.exit(EXIT_USAGE, f"{parser.prog}: error: {message}\n")

    parser.error = error
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.due = 22_000, 2_000
    if args.due > args.tasks:
        parser.error(f"--due {args.due} is more than --tasks {args.tasks}")
    return args


def setup_django():
    """Settings from the environment; PostgreSQL only."""
    sys.path.insert(0, str(PROJECT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tasksite.settings")
    from django.core.exceptions import ImproperlyConfigured

    try:
        import django

        django.setup()
    except ImproperlyConfigured as exc:
        raise BenchError(f"configuration error: {exc}", EXIT_USAGE) from None
    from django.db import connection

    if connection.vendor != "postgresql":
        raise BenchError(
            "the benchmark needs PostgreSQL: set DATABASE_URL=postgres://... "
            f"(it is {connection.vendor})",
            EXIT_USAGE,
        )


# --- the database ------------------------------------------------------------


def sql(statement, params=None, *, fetch=False):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        if fetch:
            return cursor.fetchall()
        return cursor.rowcount


def refuse_foreign_data(reset: bool):
    """Exit 2 if the database holds anything the benchmark did not make."""
    from reminders_app.models import ReminderRun
    from tasks_app.models import Task

    others = Task.objects.exclude(owner__username__in=BENCH_USERS).count()
    runs = ReminderRun.objects.exclude(window_start=NOW).count()
    if not (others or runs):
        return
    if not reset:
        raise BenchError(
            f"refusing to run: the database holds {others} tasks not made by the benchmark "
            f"and {runs} runs for another clock; pass --reset to delete every task, "
            "reminder and run in it",
            EXIT_USAGE,
        )
    print(f"--reset: deleting {others} other tasks, {runs} other runs and all reminders")


def wipe():
    """Delete every task, reminder and run (only called once the guard has passed)."""
    sql(
        "TRUNCATE tasks_app_task, reminders_app_reminderlog, reminders_app_reminderrun "
        "RESTART IDENTITY"
    )


def seed(tasks: int, due: int) -> float:
    """Insert `tasks` tasks, `due` of them due in [NOW, NOW + window]; return seconds.

    Due tasks are spread evenly through the table (row i is due when i * due / tasks
    crosses an integer) and their due times are shuffled within the window, so the
    job walks the heap in random order, as it would in real data. The others, in
    turn: overdue and open, due after the window, completed (due in the window),
    undated.
    """
    from django.conf import settings
    from django.contrib.auth import get_user_model

    User = get_user_model()
    for name in BENCH_USERS:
        User.objects.get_or_create(username=name)
    window = timedelta(hours=settings.REMINDER_WINDOW_HOURS)
    started = time.perf_counter()
    sql(
        """
        INSERT INTO tasks_app_task
            (title, description, owner_id, due_at, completed_at, created_at, updated_at)
        SELECT 'Benchmark task ' || s.i, '', o.ids[1 + s.i %% cardinality(o.ids)],
            CASE
                WHEN s.due THEN %(now)s + (s.i * 7919 %% %(seconds)s) * interval '1 second'
                WHEN s.i %% 4 = 0 THEN %(now)s - (1 + s.i %% 1440) * interval '1 hour'
                WHEN s.i %% 4 = 1 THEN %(end)s + (1 + s.i %% 1440) * interval '1 hour'
                WHEN s.i %% 4 = 2 THEN %(now)s + (s.i %% %(seconds)s) * interval '1 second'
            END,
            CASE WHEN NOT s.due AND s.i %% 4 = 2 THEN %(now)s - interval '1 day' END,
            %(now)s - interval '30 days', %(now)s - interval '30 days'
        FROM (
            SELECT i, i * %(due)s / %(tasks)s > (i - 1) * %(due)s / %(tasks)s AS due
            FROM generate_series(1::bigint, %(tasks)s) AS i
        ) AS s,
        (SELECT array_agg(id ORDER BY id) AS ids FROM auth_user WHERE username = ANY(%(users)s)) o
        """,
        {
            "now": NOW,
            "end": NOW + window,
            "seconds": int(window.total_seconds()),
            "tasks": tasks,
            "due": due,
            "users": BENCH_USERS,
        },
    )
    return time.perf_counter() - started


def vacuum_analyze() -> float:
    started = time.perf_counter()
    for table in ("tasks_app_task", "reminders_app_reminderlog", "reminders_app_reminderrun"):
        sql(f"VACUUM ANALYZE {table}")
    sql("CHECKPOINT")  # the seeding's dirty pages are not flushed during a timing
    return time.perf_counter() - started


def window_end() -> datetime:
    from django.conf import settings

    return NOW + timedelta(hours=settings.REMINDER_WINDOW_HOURS)


def create_scratch_log(*, minimal: bool):
    """An empty table shaped like the reminder log: columns, defaults, checks and
    (copied one by one, deferrable as Django makes them) foreign keys; with all its
    indexes, or (`minimal`) only the primary key, the unique (task_id, due_at)
    constraint and an index on the run."""
    log = "reminders_app_reminderlog"
    sql(f"DROP TABLE IF EXISTS {SCRATCH}")
    if minimal:
        sql(
            f"CREATE TABLE {SCRATCH} (LIKE {log} INCLUDING DEFAULTS INCLUDING IDENTITY "
            "INCLUDING CONSTRAINTS)"
        )
        sql(f"ALTER TABLE {SCRATCH} ADD PRIMARY KEY (id)")
        sql(f"ALTER TABLE {SCRATCH} ADD UNIQUE (task_id, due_at)")
        sql(f"CREATE INDEX ON {SCRATCH} (run_id)")
    else:
        sql(f"CREATE TABLE {SCRATCH} (LIKE {log} INCLUDING ALL)")
    for (definition,) in sql(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f'",
        [log],
        fetch=True,
    ):
        sql(f"ALTER TABLE {SCRATCH} ADD {definition}")


def measure_bound(*, due: int, repeats: int, minimal: bool) -> list[float]:
    """Time one INSERT ... SELECT ... ON CONFLICT DO NOTHING of the due rows (the
    job's own "open and due between" condition) into a fresh scratch log, `repeats`
    times."""
    from django.utils import timezone

    from reminders_app.models import ReminderRun
    from tasks_app.models import Task

    run = ReminderRun.objects.create(
        trigger="bench-bound",
        status=ReminderRun.Status.SUCCEEDED,
        window_start=NOW,
        window_end=window_end(),
        finished_at=timezone.now(),
    )
    rows = Task.objects.open().due_between(NOW, window_end()).order_by().values_list("id", "due_at")
    select_sql, select_params = rows.query.sql_with_params()
    timings = []
    try:
        for _ in range(repeats):
            create_scratch_log(minimal=minimal)
            wall = timezone.now()
            started = time.perf_counter()
            inserted = sql(
                f"INSERT INTO {SCRATCH} "  # noqa: S608 - table names are constants
                "(task_id, due_at, status, run_id, claimed_at, sent_at, attempts, error, "
                f"created_at) SELECT src.id, src.due_at, 'sent', %s, %s, %s, 1, '', %s "
                f"FROM ({select_sql}) src ON CONFLICT (task_id, due_at) DO NOTHING",
                (run.pk, wall, wall, wall, *select_params),
            )
            timings.append(time.perf_counter() - started)
            if inserted != due:
                raise BenchError(f"the bound inserted {inserted} rows, not {due}")
    finally:
        sql(f"DROP TABLE IF EXISTS {SCRATCH}")
        run.delete()
    return timings


def explain_due_query() -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the job's first due-task query, as the job sends it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reminders_app.plan import RunPlan
    from reminders_app.selection import candidates_query

    with CaptureQueriesContext(connection) as captured:
        list(candidates_query(RunPlan.build(now=NOW)))
    (query,) = captured.captured_queries
    plan = sql(f"EXPLAIN (ANALYZE, BUFFERS) {query['sql']}", fetch=True)
    return "\n".join(f"    {line}" for (line,) in plan)


# --- the job ---------------------------------------------------------------


def run_job() -> dict:
    """Run `send_reminders --json --now NOW` as a child; return its figures."""
    from reminders_app.models import ReminderRun

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        report_file = Path(tmp) / "report.json"
        env = dict(os.environ, BENCH_REPORT=str(report_file))
        with open(Path(tmp) / "out", "w+") as out, open(Path(tmp) / "err", "w+") as err:
            command = [sys.executable, str(COUNTED_MANAGE), "send_reminders", "--json"]
            started = time.perf_counter()
            child = subprocess.run(
                [*command, "--now", NOW.isoformat()], cwd=PROJECT, env=env, stdout=out, stderr=err
            )
            wall = time.perf_counter() - started
            out.seek(0)
            err.seek(0)
            stdout, log_lines = out.read(), err.read().splitlines()
        report = json.loads(report_file.read_text()) if report_file.exists() else {}
    if child.returncode != 0:
        last = log_lines[-1] if log_lines else "no output"
        raise BenchError(f"send_reminders exited {child.returncode}: {last}")
    summary = json.loads(stdout)
    run = ReminderRun.objects.get(pk=summary["run_id"])
    return {
        "sent": summary["sent"],
        "selected": summary["selected"],
        "job": run.duration.total_seconds(),
        "wall": wall,
        "rss_mib": report["peak_rss_kib"] / 1024,
        "queries": report["queries"],
        "logged": sum('"reminder_sent"' in line for line in log_lines),
    }


def query_total(figures: dict) -> int:
    return sum(kind["count"] for kind in figures["queries"].values())


def check_exactly_once(due: int, result: dict):
    from reminders_app.models import ReminderLog

    sent = ReminderLog.objects.filter(status="sent").count()
    if not (result["sent"] == sent == due == result["logged"]):
        raise BenchError(
            f"expected {due} reminders; the job reported {result['sent']}, the log table "
            f"holds {sent} sent, stderr has {result['logged']} reminder_sent lines"
        )


# --- one size ----------------------------------------------------------------


def measure(tasks: int, due: int, *, verbose: bool) -> dict:
    from django.conf import settings

    wipe()
    seeded = seed(tasks, due)
    vacuumed = vacuum_analyze()
    batch = settings.REMINDER_BATCH_SIZE
    if verbose:
        print(f"\n== {tasks:,} tasks, {due:,} due in the window ==")
        print(f"seeded in {seeded:.1f} s by one INSERT ... SELECT generate_series")
        print(f"VACUUM ANALYZE + CHECKPOINT: {vacuumed:.1f} s")
        plan_before = explain_due_query()
    bounds = measure_bound(due=due, repeats=BOUND_REPEATS, minimal=False)
    minimal_bounds = measure_bound(due=due, repeats=BOUND_REPEATS, minimal=True)
    job = run_job()
    check_exactly_once(due, job)
    vacuum_analyze()
    idle = [run_job() for _ in range(3)]
    if any(run["sent"] for run in idle):
        raise BenchError("a rerun with nothing left to send sent reminders")
    result = {
        "tasks": tasks,
        "due": due,
        "batches": math.ceil(due / batch),
        "bound": min(bounds),
        "bounds": bounds,
        "minimal_bound": min(minimal_bounds),
        "minimal_bounds": minimal_bounds,
        "job": job,
        "idle_job": min(run["job"] for run in idle),
        "idle_wall": min(run["wall"] for run in idle),
        "idle_runs": idle,
    }
    if verbose:
        print_details(result, batch, plan_before, explain_due_query())
    return result


def print_details(result, batch, plan_before, plan_after):
    job, bound, due = result["job"], result["bound"], result["due"]
    each = ", ".join(f"{seconds:.3f}" for seconds in result["bounds"])
    print(
        "set-based bound, one INSERT ... SELECT ... ON CONFLICT DO NOTHING into a scratch "
        f"log (best of {BOUND_REPEATS}): {bound:.3f} s (runs: {each} s)"
    )
    each = ", ".join(f"{seconds:.3f}" for seconds in result["minimal_bounds"])
    print(
        "minimal bound, the same statement into a log with only the primary key, the "
        "unique (task_id, due_at), the two foreign keys and an index on the run "
        f"(best of {BOUND_REPEATS}): {result['minimal_bound']:.3f} s (runs: {each} s)"
    )
    print(
        f"job: sent {job['sent']:,} reminders; run record {job['job']:.3f} s, "
        f"process wall {job['wall']:.3f} s"
    )
    if due:
        print(
            f"reminders per second: {due / job['job']:,.0f} (run record), "
            f"{due / job['wall']:,.0f} (process wall)"
        )
        print(f"ratio job time / bound: {job['job'] / bound:.2f}x")
        print(
            f"ratio job time / minimal bound: {job['job'] / result['minimal_bound']:.2f}x "
            "(target under 2x)"
        )
    print(f"peak RSS of the command: {job['rss_mib']:.1f} MiB")
    print(
        f"queries in the run: {query_total(job)} for {result['batches']} batches of "
        f"{batch:,} (COMMITs not counted); client-side time per statement kind:"
    )
    for kind, figures in sorted(job["queries"].items(), key=lambda kv: -kv[1]["seconds"]):
        print(f"    {figures['count']:6,}  {figures['seconds']:8.3f} s  {kind}")
    print(f"reminder_sent log lines: {job['logged']:,}")
    idle = result["idle_runs"]
    each = ", ".join(f"{run['job'] * 1000:.1f}" for run in idle)
    print(
        "second run, nothing to send, after VACUUM ANALYZE (best of 3): "
        f"run record {result['idle_job'] * 1000:.1f} ms, "
        f"process wall {result['idle_wall'] * 1000:.0f} ms "
        f"(runs: {each} ms; "
        f"{query_total(idle[0])} queries; peak RSS {idle[0]['rss_mib']:.1f} MiB)"
    )
    print("due-task query (reminders_app.selection.candidates_query), first batch before the run:")
    print(plan_before)
    print("the same query after the run, nothing left to send:")
    print(plan_after)


def print_scaling(rows):
    print(f"\n== scaling: 1 task in {DUE_SHARE} due, best of 3 idle reruns ==")
    header = (
        f"{'tasks':>10} {'due':>8} {'batches':>7} {'job s':>7} {'bound s':>7} {'ratio':>6} "
        f"{'min s':>7} {'ratio':>6} "
        f"{'rem/s':>8} {'idle ms':>8} {'RSS MiB':>7} {'queries':>7} {'idle q':>6}"
    )
    print(header)
    for r in rows:
        job = r["job"]
        print(
            f"{r['tasks']:>10,} {r['due']:>8,} {r['batches']:>7} {job['job']:>7.3f} "
            f"{r['bound']:>7.3f} {job['job'] / r['bound']:>5.2f}x "
            f"{r['minimal_bound']:>7.3f} {job['job'] / r['minimal_bound']:>5.2f}x "
            f"{r['due'] / job['job']:>8,.0f} {r['idle_job'] * 1000:>8.1f} "
            f"{job['rss_mib']:>7.1f} {query_total(job):>7} {query_total(r['idle_runs'][0]):>6}"
        )


def describe_machine() -> str:
    from django.conf import settings
    from django.db import connection

    version = connection.pg_version
    db = settings.DATABASES["default"]
    return (
        f"PostgreSQL {version // 10000}.{version % 10000}, {os.cpu_count()} CPUs, "
        f"database {db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}, "
        f"REMINDER_BATCH_SIZE {settings.REMINDER_BATCH_SIZE:,}, job clock --now "
        f"{NOW.isoformat()}, DJANGO_DEBUG {settings.DEBUG}, load average {load_average()}"
    )


def load_average() -> str:
    """Other work on the machine shows up in every figure; this says how much there was."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        setup_django()
        from django.db import DatabaseError

        from reminders_app.management.base import database_error

        try:
            refuse_foreign_data(args.reset)
            if args.seed_only:
                wipe()
                seeded = seed(args.tasks, args.due)
                vacuum_analyze()
                print(
                    f"seeded {args.tasks:,} tasks ({args.due:,} due) in {seeded:.1f} s; now run: "
                    f"python manage.py send_reminders --json --now {NOW.isoformat()}"
                )
                return 0
            print(describe_machine())
            measure(args.tasks, args.due, verbose=True)
            if args.scaling:
                sizes = QUICK_SCALING if args.quick else SCALING
                print_scaling([measure(n, n // DUE_SHARE, verbose=False) for n in sizes])
            print(f"load average at the end: {load_average()}")
        except DatabaseError as exc:
            raise BenchError(database_error(exc)) from None
    except BenchError as exc:
        print(f"run_bench.py: {exc}", file=sys.stderr)
        return exc.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
