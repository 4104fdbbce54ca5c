"""Benchmark of the reminder job on PostgreSQL: `make bench` (docs/performance.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench python bench/run_bench.py

Two shapes of task model, each in a database of its own:
- the default shape, this project's tasks_app.Task (a due time, one owner), in
  DATABASE_URL's database: 1,100,000 tasks, 100,000 of them due in the window;
- the chores shape, the dated host's chores.Chore (a due day, a done flag, several
  assignees, the creator as fallback; bench/chores_settings.py), in a database named
  after the first plus `_chores` (created when missing) or --chores-database:
  550,000 chores, 50,000 of them due with two assignees each, 100,000 reminders, for
  1,000 people in four zones (UTC-5, UTC+9, New York with daylight saving, and the
  default zone), each with a ReminderPreference row, at REMINDER_DUE_TIME.

For each shape it
1. seeds the tasks with set-based INSERT ... SELECT FROM generate_series, then
   VACUUM ANALYZE;
2. times the set-based bound: one INSERT ... SELECT ... ON CONFLICT DO NOTHING of
   exactly the due (task, recipient, due instant) rows into a scratch copy of the
   reminder log (same columns, keys, indexes and foreign keys), dropped afterwards;
   best of three; and the minimal bound: the same statement into a table with only
   what the semantics need (primary key, the unique (task_id, recipient_id, due_at),
   the foreign key to the run, an index on the run);
3. runs the real `send_reminders --json --now ...` as a child process and reads the
   run's own record (finished_at - started_at), the process's wall time, its peak
   RSS and the statements it sent (both from bench/counted_manage.py), and checks
   that every due (task, recipient, due instant) got exactly one `sent` row;
4. after VACUUM ANALYZE, reruns it three times with nothing left to send;
5. prints EXPLAIN (ANALYZE, BUFFERS) of the job's due query (its first batch), before
   and after the run;
then, for the default shape, repeats 1-4 for 10 k, 100 k and 1 M tasks (1/11 of them
due) as a scaling table. The chores shape runs in a child process of its own
(`--shape chores`): its settings name another task model.

It only ever deletes its own data: a database holding tasks (or chores) of anyone but
the benchmark's people, or runs for another clock, is refused unless --reset is given.
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
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

PROJECT = Path(__file__).resolve().parent.parent
COUNTED_MANAGE = Path(__file__).resolve().parent / "counted_manage.py"
CHORES_SETTINGS = "bench.chores_settings"
# The job's clock in every run, so reruns see the same window.
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
BENCH_USERS = [f"bench-user-{n}" for n in range(1, 9)]
# The chores shape's people, spread over these zones in turn ("": no zone stored, the
# site's default); each has a ReminderPreference row.
CHORE_PEOPLE = [f"bench-person-{n:04}" for n in range(1, 1001)]
CHORE_ZONES = ["America/Bogota", "Asia/Tokyo", "America/New_York", ""]
ASSIGNEES = 2  # per chore
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

    parser.add_argument(
        "--shape",
        choices=["default", "chores", "both"],
        default="both",
        help="the task model(s) to measure (default: both)",
    )
    parser.add_argument("--tasks", type=count, default=1_100_000, help="tasks in the table")
    parser.add_argument("--due", type=count, default=100_000, help="of which due in the window")
    parser.add_argument("--chores", type=count, default=550_000, help="chores in the table")
    parser.add_argument(
        "--due-chores",
        type=count,
        default=50_000,
        help=f"of which due in the window, {ASSIGNEES} assignees each",
    )
    parser.add_argument(
        "--chores-database",
        metavar="URL",
        help="the chores shape's database, as a DATABASE_URL (default: DATABASE_URL's "
        "database name plus _chores, created when missing)",
    )
    parser.add_argument(
        "--scaling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also print the default shape's 10k/100k/1M scaling table (default: yes)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 22,000 tasks (2,000 due), 11,000 chores (1,000 due), "
        "scaling at 1.1k and 11k",
    )
    parser.add_argument(
        "--seed-only",
        action="store_true",
        help="seed, VACUUM ANALYZE and stop (to profile the command by hand)",
    )
    parser.add_argument(
        "--check-only",
        action="store_true",
        help="create and migrate the chores database when missing, check that the "
        "database(s) hold only the benchmark's data, and stop",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="delete every task (chore), reminder and run in the database(s) first",
    )

    def error(message):  # one line, not argparse's usage block
        parser.exit(EXIT_USAGE, f"{parser.prog}: error: {message}\n")

    parser.error = error
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.due, args.chores, args.due_chores = 22_000, 2_000, 11_000, 1_000
    if args.due > args.tasks:
        parser.error(f"--due {args.due} is more than --tasks {args.tasks}")
    if args.due_chores > args.chores:
        parser.error(f"--due-chores {args.due_chores} is more than --chores {args.chores}")
    return args


def setup_django():
    """Settings from the environment (DJANGO_SETTINGS_MODULE: tasksite.settings unless
    set); PostgreSQL only."""
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


def refuse_foreign_data(reset: bool, *, tasks=None, people=BENCH_USERS, noun="tasks"):
    """Exit 2 if the database holds anything the benchmark did not make: `tasks` (the
    default shape's unless given) of anyone but `people`, or runs for another clock."""
    from reminders_app.models import ReminderRun
    from tasks_app.models import Task

    tasks = Task.objects.exclude(owner__username__in=people) if tasks is None else tasks
    others = tasks.count()
    runs = ReminderRun.objects.exclude(window_start=NOW).count()
    if not (others or runs):
        return
    if not reset:
        raise BenchError(
            f"refusing to run: the database holds {others} {noun} not made by the benchmark "
            f"and {runs} runs for another clock; pass --reset to delete every {noun[:-1]}, "
            "reminder and run in it",
            EXIT_USAGE,
        )
    print(f"--reset: deleting {others} other {noun}, {runs} other runs and all reminders")


def wipe(*tables):
    """Delete every task (or the given tables' rows), reminder and run (only called
    once the guard has passed)."""
    tables = tables or ("tasks_app_task",)
    sql(
        f"TRUNCATE {', '.join(tables)}, reminders_app_reminderlog, reminders_app_reminderrun "
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
    from django.contrib.auth import get_user_model

    User = get_user_model()
    for name in BENCH_USERS:
        User.objects.get_or_create(username=name)
    started = time.perf_counter()
    sql(
        f"""
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
        FROM ({SPREAD}) AS s,
        (SELECT array_agg(id ORDER BY id) AS ids FROM auth_user WHERE username = ANY(%(users)s)) o
        """,  # noqa: S608 - a constant subquery
        {
            "now": NOW,
            "end": window_end(),
            "seconds": int((window_end() - NOW).total_seconds()),
            "rows": tasks,
            "due": due,
            "users": BENCH_USERS,
        },
    )
    return time.perf_counter() - started


# Rows 1..%(rows)s, each with whether it is due: row i is when i * due / rows crosses
# an integer, so due rows are spread evenly through the table.
SPREAD = """
    SELECT i, i * %(due)s / %(rows)s > (i - 1) * %(due)s / %(rows)s AS due
    FROM generate_series(1::bigint, %(rows)s) AS i
"""


def vacuum_analyze(*tables) -> float:
    started = time.perf_counter()
    for table in (
        *(tables or ("tasks_app_task",)),
        "reminders_app_reminderlog",
        "reminders_app_reminderrun",
    ):
        sql(f"VACUUM ANALYZE {table}")
    sql("CHECKPOINT")  # the seeding's dirty pages are not flushed during a timing
    return time.perf_counter() - started


def window_end() -> datetime:
    from django.conf import settings

    return NOW + timedelta(hours=settings.REMINDER_WINDOW_HOURS)


# --- the shapes --------------------------------------------------------------


class DefaultShape:
    """This project's tasks_app.Task: a due time and one owner per task."""

    name = "default"
    target = "target under 2x"
    recipients_per_task = 1

    def describe(self, tasks: int, due: int) -> str:
        return f"{tasks:,} tasks, {due:,} due in the window"

    def refuse_foreign_data(self, reset: bool):
        refuse_foreign_data(reset)

    def wipe(self):
        wipe()

    def seed(self, tasks: int, due: int) -> float:
        return seed(tasks, due)

    def vacuum_analyze(self) -> float:
        return vacuum_analyze()

    def due_rows(self) -> tuple[str, dict]:
        """(task_id, recipient_id, due_at) of every due reminder: the queryset the
        admin's and the status command's "due" filters use, and each task's owner."""
        from reminders_app.sql import named
        from tasks_app.models import Task

        rows = (
            Task.objects.open()
            .due_between(NOW, window_end())
            .order_by()
            .values_list("id", "owner_id", "due_at")
        )
        return named(*rows.query.sql_with_params(), prefix="due")


class ChoresShape:
    """The dated host's chores.Chore (bench/chores_settings.py): a due day, a done flag,
    several assignees and the creator as fallback. A chore is due for an assignee at
    REMINDER_DUE_TIME on its day in the assignee's zone."""

    name = "chores"
    target = "aim 2.5x"
    recipients_per_task = ASSIGNEES

    def describe(self, chores: int, due: int) -> str:
        return (
            f"{chores:,} chores, {due:,} due in the window with {ASSIGNEES} assignees each: "
            f"{due * ASSIGNEES:,} reminders; {len(CHORE_PEOPLE):,} people in "
            f"{len(CHORE_ZONES)} zones ({', '.join(zone or 'default' for zone in CHORE_ZONES)})"
        )

    @property
    def tables(self) -> tuple[str, str]:
        chore = self.model()
        return chore._meta.db_table, chore.assignees.through._meta.db_table

    @staticmethod
    def model():
        from django.apps import apps

        return apps.get_model("chores", "Chore")

    def refuse_foreign_data(self, reset: bool):
        refuse_foreign_data(
            reset,
            tasks=self.model().objects.exclude(creator__username__in=CHORE_PEOPLE),
            people=CHORE_PEOPLE,
            noun="chores",
        )

    def wipe(self):
        wipe(*self.tables)

    def vacuum_analyze(self) -> float:
        return vacuum_analyze(*self.tables, "reminders_app_reminderpreference")

    def seed(self, chores: int, due: int) -> float:
        """Insert `chores` chores, `due` of them due in [NOW, NOW + window] for both of
        their assignees; return seconds.

        Each zone's people are due on one day (the day whose REMINDER_DUE_TIME there
        falls in the window: here 10 March west of UTC, 11 March east of it and in
        it). A due chore, on one of those days in turn, is assigned to two people
        due that day. The others, in turn: overdue and open (the day before the
        window among them), after the window (the day after among them), done (on a
        due day, assigned as a due one), undated; and one in five of the overdue
        ones is open on a due day but assigned to two people of another zone, for
        whom that day's due time lies outside the window. Every chore's creator is
        one of the people (the fallback: not reminded, since every chore names
        assignees).
        """
        from django.contrib.auth import get_user_model

        from reminders_app.models import ReminderPreference

        User = get_user_model()
        User.objects.bulk_create(
            [User(username=name) for name in CHORE_PEOPLE], ignore_conflicts=True
        )
        people = dict(User.objects.filter(username__in=CHORE_PEOPLE).values_list("username", "id"))
        zones = {
            people[name]: CHORE_ZONES[n % len(CHORE_ZONES)] for n, name in enumerate(CHORE_PEOPLE)
        }
        ReminderPreference.objects.bulk_create(
            [ReminderPreference(user_id=user, time_zone=zone) for user, zone in zones.items()],
            update_conflicts=True,
            unique_fields=["user"],
            update_fields=["time_zone"],
        )
        by_day = {}
        for user, zone in sorted(zones.items()):
            by_day.setdefault(zone_due_day(zone), []).append(user)
        days = sorted(by_day)
        chore_table, assignee_table = self.tables
        started = time.perf_counter()
        sql("DROP TABLE IF EXISTS bench_chore_plan, bench_pool")
        # Pools of people: 0 everyone, k the people due on days[k - 1].
        sql("CREATE TEMPORARY TABLE bench_pool (no int PRIMARY KEY, ids int[])")
        pools = [sorted(zones), *(by_day[day] for day in days)]
        for no, ids in enumerate(pools):
            sql("INSERT INTO bench_pool VALUES (%s, %s)", [no, ids])
        # Each chore: its kind, the slot of its day among the due days, its due day,
        # whether done, and the pool its assignees come from.
        sql(
            f"""
            CREATE TEMPORARY TABLE bench_chore_plan AS
            SELECT i, due_on, kind = 'done' AS done,
                CASE kind WHEN 'due' THEN 1 + slot WHEN 'done' THEN 1 + slot
                    WHEN 'other' THEN 1 + (slot + 1) %% %(n)s ELSE 0 END AS pool
            FROM (
                SELECT i, kind, slot, CASE
                    WHEN kind IN ('due', 'done', 'other') THEN (%(days)s::date[])[1 + slot]
                    WHEN kind = 'overdue' THEN %(today)s::date - (1 + i / 4 %% 29)::int
                    WHEN kind = 'later' THEN %(last)s::date + (1 + i / 4 %% 29)::int
                END AS due_on
                FROM (
                    SELECT i, CASE
                        WHEN due THEN 'due'
                        WHEN i %% 20 = 0 AND %(n)s > 1 THEN 'other'
                        ELSE (ARRAY['overdue', 'later', 'done', 'undated'])[1 + i %% 4]
                    END AS kind,
                    CASE WHEN due THEN i ELSE i / 4 END %% %(n)s AS slot
                    FROM ({SPREAD}) AS spread
                ) AS kinds
            ) AS plan
            """,  # noqa: S608 - a constant subquery
            {
                "days": days,
                "n": len(days),
                "today": NOW.date(),
                "last": window_end().date(),
                "rows": chores,
                "due": due,
            },
        )
        sql(
            f"""
            INSERT INTO {chore_table} (id, title, notes, due_on, done, creator_id)
            SELECT p.i, 'Benchmark chore ' || p.i, '', p.due_on, p.done,
                everyone.ids[1 + p.i %% cardinality(everyone.ids)]
            FROM bench_chore_plan p, bench_pool everyone WHERE everyone.no = %(everyone)s
            """,  # noqa: S608 - table names from the model's metadata
            {"everyone": 0},
        )
        sql(f"SELECT setval(pg_get_serial_sequence('{chore_table}', 'id'), %s)", [max(chores, 1)])
        # Different people of the chore's pool: a place picked by a multiplicative
        # hash of the chore's number, then every 251st after it. A pool lists its
        # people by id, so their zones take turns: a chore's two are in two zones.
        sql(
            f"""
            INSERT INTO {assignee_table} (chore_id, user_id)
            SELECT p.i, pool.ids[1 + (p.i * 2654435761 %% 4294967296 + n * 251)
                %% cardinality(pool.ids)]
            FROM bench_chore_plan p JOIN bench_pool pool ON pool.no = p.pool,
                generate_series(0, %(last)s) AS n
            """,  # noqa: S608
            {"last": ASSIGNEES - 1},
        )
        sql("DROP TABLE bench_chore_plan, bench_pool")
        return time.perf_counter() - started

    def due_rows(self) -> tuple[str, dict]:
        """(task_id, recipient_id, due_at) of every due reminder, by the definition and
        PostgreSQL's own time zone rules, apart from the job's code: each open chore of
        the days the window can reach, once per assignee (the creator when it has
        none), due at REMINDER_DUE_TIME on its day in that person's zone."""
        from django.conf import settings

        from reminders_app.roles import due_days, due_time

        chore_table, assignee_table = self.tables
        first, last = due_days(NOW, window_end())
        return (
            f"""
            SELECT r.task_id, r.recipient_id, r.due_at FROM (
                SELECT c.id AS task_id, COALESCE(a.user_id, c.creator_id) AS recipient_id,
                    (c.due_on + %(due_time)s::time) AT TIME ZONE
                        COALESCE(NULLIF(p.time_zone, ''), %(default_zone)s) AS due_at
                FROM {chore_table} c
                LEFT JOIN {assignee_table} a ON a.chore_id = c.id
                LEFT JOIN reminders_app_reminderpreference p
                    ON p.user_id = COALESCE(a.user_id, c.creator_id)
                WHERE NOT c.done AND c.due_on BETWEEN %(first)s AND %(last)s
            ) r
            WHERE r.recipient_id IS NOT NULL AND r.due_at BETWEEN %(now)s AND %(end)s
            """,  # noqa: S608 - table names from the model's metadata
            {
                "due_time": due_time(),
                "default_zone": settings.REMINDER_DEFAULT_TIME_ZONE,
                "first": first,
                "last": last,
                "now": NOW,
                "end": window_end(),
            },
        )


def zone_due_day(zone_name: str) -> date:
    """The one day whose REMINDER_DUE_TIME in the zone falls in the window."""
    from django.conf import settings

    from reminders_app.roles import due_days, due_time

    zone = zoneinfo.ZoneInfo(zone_name or settings.REMINDER_DEFAULT_TIME_ZONE)
    first, last = due_days(NOW, window_end())
    days = [
        first + timedelta(days=n)
        for n in range((last - first).days + 1)
        if NOW <= datetime.combine(first + timedelta(days=n), due_time(), zone) <= window_end()
    ]
    if len(days) != 1:
        raise BenchError(
            f"the chores shape needs one due day per zone in the window; "
            f"{zone_name or 'the default zone'} has {len(days)} (REMINDER_DUE_TIME, "
            "REMINDER_WINDOW_HOURS)",
            EXIT_USAGE,
        )
    return days[0]


SHAPES = {"default": DefaultShape(), "chores": ChoresShape()}


# --- the bounds --------------------------------------------------------------


def create_scratch_log(*, minimal: bool):
    """An empty table shaped like the reminder log: columns, defaults, checks and
    (copied one by one, deferrable as Django makes them) foreign keys; with all its
    indexes, or (`minimal`) only the primary key, the unique (task_id, recipient_id,
    due_at) constraint and an index on the run."""
    log = "reminders_app_reminderlog"
    sql(f"DROP TABLE IF EXISTS {SCRATCH}")
    if minimal:
        sql(
            f"CREATE TABLE {SCRATCH} (LIKE {log} INCLUDING DEFAULTS INCLUDING IDENTITY "
            "INCLUDING CONSTRAINTS)"
        )
        sql(f"ALTER TABLE {SCRATCH} ADD PRIMARY KEY (id)")
        sql(f"ALTER TABLE {SCRATCH} ADD UNIQUE (task_id, recipient_id, due_at)")
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


def measure_bound(shape, *, expected: int, repeats: int, minimal: bool) -> list[float]:
    """Time one INSERT ... SELECT ... ON CONFLICT DO NOTHING of the due reminders
    (shape.due_rows()) into a fresh scratch log, `repeats` times."""
    from django.utils import timezone

    from reminders_app.models import ReminderRun

    run = ReminderRun.objects.create(
        trigger="bench-bound",
        status=ReminderRun.Status.SUCCEEDED,
        window_start=NOW,
        window_end=window_end(),
        finished_at=timezone.now(),
    )
    rows, params = shape.due_rows()
    timings = []
    try:
        for _ in range(repeats):
            create_scratch_log(minimal=minimal)
            wall = timezone.now()
            started = time.perf_counter()
            inserted = sql(
                f"INSERT INTO {SCRATCH} "  # noqa: S608 - table names are constants
                "(task_id, recipient_id, due_at, status, run_id, claimed_at, sent_at, attempts, "
                "error, message_id, created_at) SELECT src.task_id, src.recipient_id, src.due_at, "
                "'sent', %(bound_run)s, %(bound_at)s, %(bound_at)s, 1, '', '', %(bound_at)s "
                f"FROM ({rows}) src(task_id, recipient_id, due_at) "
                "ON CONFLICT (task_id, recipient_id, due_at) DO NOTHING",
                params | {"bound_run": run.pk, "bound_at": wall},
            )
            timings.append(time.perf_counter() - started)
            if inserted != expected:
                raise BenchError(f"the bound inserted {inserted:,} rows, not {expected:,}")
    finally:
        sql(f"DROP TABLE IF EXISTS {SCRATCH}")
        run.delete()
    return timings


def explain_due_query() -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the job's first batch of due reminders, as its
    claim statement selects them (reminders_app.selection.due_reminders)."""
    from reminders_app.plan import RunPlan
    from reminders_app.selection import due_reminders

    plan = RunPlan.build(now=NOW)
    query, params = due_reminders(plan, limit=plan.batch_size)
    lines = sql(f"EXPLAIN (ANALYZE, BUFFERS) {query}", params, fetch=True)
    return "\n".join(f"    {line}" for (line,) in lines)


# --- the job ---------------------------------------------------------------


def run_job() -> dict:
    """Run `send_reminders --json --now NOW` as a child (settings and database as this
    process's); return its figures."""
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


def check_exactly_once(shape, expected: int, result: dict):
    """Every due (task, recipient, due instant) has one `sent` row, and there are no
    others; the job's report and its log lines say as much."""
    from reminders_app.models import ReminderLog

    rows, params = shape.due_rows()
    ((missing,),) = sql(
        f"SELECT count(*) FROM ({rows}) e(task_id, recipient_id, due_at) "  # noqa: S608
        "WHERE NOT EXISTS (SELECT 1 FROM reminders_app_reminderlog l WHERE l.status = 'sent' "
        "AND l.task_id = e.task_id AND l.recipient_id = e.recipient_id AND l.due_at = e.due_at)",
        params,
        fetch=True,
    )
    sent = ReminderLog.objects.filter(status="sent").count()
    if missing or not (result["sent"] == sent == expected == result["logged"]):
        raise BenchError(
            f"expected {expected:,} reminders; {missing:,} of them have no sent row; the job "
            f"reported {result['sent']:,}, the log table holds {sent:,} sent, stderr has "
            f"{result['logged']:,} reminder_sent lines"
        )


# --- one size ----------------------------------------------------------------


def measure(shape, tasks: int, due: int, *, verbose: bool) -> dict:
    from django.conf import settings

    shape.wipe()
    seeded = shape.seed(tasks, due)
    vacuumed = shape.vacuum_analyze()
    expected = due * shape.recipients_per_task
    batch = settings.REMINDER_BATCH_SIZE
    if verbose:
        print(f"\n== {shape.name} shape: {shape.describe(tasks, due)} ==")
        print(f"seeded in {seeded:.1f} s by set-based INSERT ... SELECT generate_series")
        print(f"VACUUM ANALYZE + CHECKPOINT: {vacuumed:.1f} s; load average {load_average()}")
        plan_before = explain_due_query()
    bounds = measure_bound(shape, expected=expected, repeats=BOUND_REPEATS, minimal=False)
    minimal_bounds = measure_bound(shape, expected=expected, repeats=BOUND_REPEATS, minimal=True)
    job = run_job()
    check_exactly_once(shape, expected, job)
    shape.vacuum_analyze()
    idle = [run_job() for _ in range(3)]
    if any(run["sent"] for run in idle):
        raise BenchError("a rerun with nothing left to send sent reminders")
    result = {
        "tasks": tasks,
        "due": expected,
        "batches": math.ceil(expected / batch),
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
        print_details(shape, result, batch, plan_before, explain_due_query())
    return result


def print_details(shape, result, batch, plan_before, plan_after):
    job, bound, due = result["job"], result["bound"], result["due"]
    each = ", ".join(f"{seconds:.3f}" for seconds in result["bounds"])
    print(
        "set-based bound, one INSERT ... SELECT ... ON CONFLICT DO NOTHING into a scratch "
        f"log (best of {BOUND_REPEATS}): {bound:.3f} s (runs: {each} s)"
    )
    each = ", ".join(f"{seconds:.3f}" for seconds in result["minimal_bounds"])
    print(
        "minimal bound, the same statement into a log with only the primary key, the "
        "unique (task_id, recipient_id, due_at), the run's foreign key and an index on the "
        f"run (best of {BOUND_REPEATS}): {result['minimal_bound']:.3f} s (runs: {each} s)"
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
            f"({shape.target})"
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
    print("due query (reminders_app.selection.due_reminders), first batch before the run:")
    print(plan_before)
    print("the same query after the run, nothing left to send:")
    print(plan_after)


def print_scaling(rows):
    print(f"\n== default shape, scaling: 1 task in {DUE_SHARE} due, best of 3 idle reruns ==")
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
        f"REMINDER_TASK_MODEL {settings.REMINDER_TASK_MODEL}, "
        f"REMINDER_BATCH_SIZE {settings.REMINDER_BATCH_SIZE:,}, job clock --now "
        f"{NOW.isoformat()}, DJANGO_DEBUG {settings.DEBUG}, load average {load_average()}"
    )


def load_average() -> str:
    """Other work on the machine shows up in every figure; this says how much there was."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


# --- the chores shape's database and process ------------------------------------


def chores_database_url(args) -> str:
    """--chores-database, or DATABASE_URL with `_chores` after its database name; never
    DATABASE_URL's own database."""
    default = os.environ.get("DATABASE_URL", "")
    url = args.chores_database or default
    parts = urlsplit(url)
    if not args.chores_database:
        url = parts._replace(path=parts.path + "_chores").geturl()
    elif (parts.hostname, parts.port, parts.path) == (
        urlsplit(default).hostname,
        urlsplit(default).port,
        urlsplit(default).path,
    ):
        raise BenchError(
            "--chores-database must name another database than DATABASE_URL's", EXIT_USAGE
        )
    return url


def create_missing_database():
    """CREATE DATABASE for the settings' database when the server says it does not exist."""
    from django.db import OperationalError, connection

    try:
        connection.ensure_connection()
    except OperationalError as exc:
        name = connection.settings_dict["NAME"]
        if f'database "{name}" does not exist' not in str(exc):
            raise
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
        print(f"created database {name}")


def run_chores_child(args, *, check_only: bool = False) -> int:
    """This benchmark with --shape chores in a process of its own (which takes its
    settings and database); its output goes where this one's does. Returns its exit
    code."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--shape=chores",
        f"--chores={args.chores}",
        f"--due-chores={args.due_chores}",
        f"--chores-database={chores_database_url(args)}",
        *(["--seed-only"] if args.seed_only else []),
        *(["--reset"] if args.reset else []),
        *(["--check-only"] if check_only else []),
    ]
    sys.stdout.flush()
    return subprocess.run(command, cwd=PROJECT).returncode


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except BenchError as exc:
        print(f"run_bench.py: {exc}", file=sys.stderr)
        return exc.code


def run(args) -> int:
    if args.shape == "chores":
        os.environ["DJANGO_SETTINGS_MODULE"] = CHORES_SETTINGS
        os.environ["DATABASE_URL"] = chores_database_url(args)
        shape, size = SHAPES["chores"], (args.chores, args.due_chores)
    else:
        shape, size = SHAPES["default"], (args.tasks, args.due)
    setup_django()
    from django.core.management import call_command
    from django.db import DatabaseError

    from reminders_app.management.base import database_error

    try:
        if shape.name == "chores":
            create_missing_database()
            call_command("migrate", interactive=False, verbosity=0)
        shape.refuse_foreign_data(args.reset)
        # The chores database is checked too before anything is measured.
        if args.shape == "both" and (code := run_chores_child(args, check_only=True)):
            return code
        if args.check_only:
            return 0
        if args.seed_only:
            shape.wipe()
            seeded = shape.seed(*size)
            shape.vacuum_analyze()
            print(
                f"seeded {shape.describe(*size)} in {seeded:.1f} s; now run with "
                f"DJANGO_SETTINGS_MODULE={os.environ['DJANGO_SETTINGS_MODULE']} and "
                f"DATABASE_URL={os.environ.get('DATABASE_URL', '')}: python manage.py "
                f"send_reminders --json --now {NOW.isoformat()}"
            )
        else:
            print(describe_machine())
            measure(shape, *size, verbose=True)
        if args.shape == "both" and (code := run_chores_child(args)):
            return code
        if args.scaling and shape.name == "default" and not args.seed_only:
            sizes = QUICK_SCALING if args.quick else SCALING
            print_scaling([measure(shape, n, n // DUE_SHARE, verbose=False) for n in sizes])
        if not args.seed_only:
            which = " of the chores shape" if args.shape == "chores" else ""
            print(f"load average at the end{which}: {load_average()}")
    except DatabaseError as exc:
        raise BenchError(database_error(exc)) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
