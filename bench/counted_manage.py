"""`manage.py`, plus a count of the SQL statements the command sends.

The benchmark runs `send_reminders` through this file so it can report queries per
run; the command itself goes exactly the way `manage.py` takes it. The counts, and
the time each kind of statement spent between sending and its result, go as one
JSON object to the file named by BENCH_QUERY_COUNTS. COMMITs are not counted: Django
sends them outside the cursor.
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
        report = {kind: {"count": n, "seconds": seconds[kind]} for kind, n in counts.items()}
        Path(os.environ["BENCH_QUERY_COUNTS"]).write_text(json.dumps(report))


if __name__ == "__main__":
    main()
