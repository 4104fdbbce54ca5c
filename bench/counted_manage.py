"""`manage.py`, plus a count of the SQL statements the command sends and its peak RSS.

The benchmark runs `send_reminders` through this file so it can report queries per
run; the command itself goes exactly the way `manage.py` takes it. The counts, the
time each kind of statement spent between sending and its result, and the process's
peak RSS go as one JSON object to the file named by BENCH_REPORT. COMMITs are not
counted: Django sends them outside the cursor.

The peak is VmHWM, the high-water mark of this process's own memory. getrusage's
ru_maxrss is not used: Linux carries it over from the forked parent across exec, so
it would report the benchmark's own size whenever that is larger.
"""

import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

# `SELECT "tasks_app_task"."id" ...`, `INSERT INTO "reminders_app_reminderlog" ...`
_FIRST_TABLE = re.compile(r'"(\w+)"')


def statement_kind(sql: str) -> str:
    """`SELECT tasks_app_task`, `UPDATE reminders_app_reminderrun`, `SELECT`, ..."""
    verb = sql.lstrip().split(None, 1)[0].upper()
    table = _FIRST_TABLE.search(sql)
    return f"{verb} {table.group(1)}" if table else verb


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])  # "VmHWM:     61234 kB"
    raise RuntimeError("no VmHWM in /proc/self/status")


def main():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tasksite.settings")
    from django.core.management import execute_from_command_line
    from django.db import connection

    counts, seconds = Counter(), Counter()

    def count(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = statement_kind(sql)
            counts[kind] += 1
            seconds[kind] += time.perf_counter() - started

    try:
        with connection.execute_wrapper(count):
            execute_from_command_line(sys.argv)
    finally:
        queries = {kind: {"count": n, "seconds": seconds[kind]} for kind, n in counts.items()}
        report = {"queries": queries, "peak_rss_kib": peak_rss_kib()}
        Path(os.environ["BENCH_REPORT"]).write_text(json.dumps(report))


if __name__ == "__main__":
    main()
