"""Which reminders are due: reads only. reminders_app.claims turns a selection into
claims; a dry run lists it; /metrics counts it.

A reminder is one task, one recipient and one due instant. It is due when the task
is open, the recipient is a person the task names now (each of its owners, else its
fallback owner), its due instant lies in the run's window, it has no settled (sent or
suppressed) row, and no other row holds it: a live claim, or a failure that waits for
its retry or was given up.

The statement is built around the ORM's query of the host's task model (its open
condition, any lookups REMINDER_TASK_OPEN names, the join to its owners), so the
model's own definitions reach the SQL unchanged; the rest names only columns read
from the models' metadata, and every value is a named parameter. A due time is read
by a range on the task's due column, in the order of its (due date, id) index. A
date-only due date is joined to the instants the run decided for each recipient's
zone (roles.due_instants): no function of the column in the WHERE. On PostgreSQL
each (day, instant) still ahead of the keyset is read in turn, its tasks in the
order of the (due date, id) index from the keyset on, so that a batch reads about
its own rows; elsewhere the range of days the window can reach is read whole.
"""

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import F, Q

from reminders_app.models import ReminderLog, ReminderPreference
from reminders_app.plan import Keyset, RunPlan, aware
from reminders_app.roles import TaskRoles, due_days, task_roles
from reminders_app.sql import compiled_where, db_datetime, named, quoted_columns

# The columns of every selection: (id, recipient, due_at), one row per reminder.
COLUMNS = "c.id, c.recipient, c.due_at"


def due_reminders(
    plan: RunPlan,
    *,
    after: Keyset | None = None,
    limit: int | None = None,
    ordered=True,
    held: bool = False,
    digests: bool = False,
    people: Sequence | None = None,
    not_runs: Sequence = (),
) -> tuple[str, dict]:
    """The SQL of the due reminders after the keyset `after`, as (id, recipient,
    due_at) rows (id: the task's), in keyset order: the one definition the claims,
    dry runs, slices and /metrics share.

    Reminders of people inside their quiet hours due from the end of them on
    (plan.quiet) are held: left out, or with `held` the only ones given. Those of
    people whose quiet hours ended lately (plan.held_back), due since then, are due
    even when past due: their quiet hours held them. When
    `plan.digests`, the people who get a digest are left out; `digests` gives only
    theirs instead (of `people`, when given), less the rows of the runs `not_runs`
    (the digest phase's: what this run already failed or handed back waits for the
    next run)."""
    roles = task_roles()
    start = plan.start if after is None else after.due_at
    held_back = () if held else plan.held_back
    if held_back and after is None:
        # The walk starts with what quiet hours held back, due before the window.
        start = min(start, *(woke.since for woke in held_back))
    params = {}
    log, col = quoted_columns(ReminderLog)
    same = (
        f"{log}.{col['task_id']} = c.id AND {log}.{col['recipient_id']} = c.recipient "
        f"AND {log}.{col['due_at']} = c.due_at"
    )
    # Both ranges start at the keyset, so each batch merges the ordered indexes from
    # there instead of from the window's start.
    settled, settled_params = named(
        *compiled_where(
            ReminderLog,
            Q(status__in=ReminderLog.SETTLED, due_at__gte=start, due_at__lte=plan.end),
        ),
        prefix="settled",
    )
    kept, kept_params = named(  # rows another claim holds, or not to be retried yet
        *compiled_where(
            ReminderLog,
            ~Q(status__in=ReminderLog.SETTLED) & ~ReminderLog.objects.takeable_q(**plan.policy),
        ),
        prefix="kept",
    )
    params |= settled_params | kept_params
    params |= {"start": db_datetime(start), "end": db_datetime(plan.end)}
    where = [
        "c.recipient IS NOT NULL",
        "c.due_at >= %(start)s",
        "c.due_at <= %(end)s",
        f"NOT EXISTS (SELECT 1 FROM {log} WHERE {same} AND {settled})",  # noqa: S608
        f"NOT EXISTS (SELECT 1 FROM {log} WHERE {same} AND {kept})",  # noqa: S608
    ]
    if plan.quiet or held:
        quiet, quiet_params = _quiet(plan, held=held)
        where.append(quiet)
        params |= quiet_params
    if held_back:
        woke, woke_params = _people_since(
            "woke", [(woke.person_id, woke.since) for woke in held_back]
        )
        where.append(f"(c.due_at >= %(window_start)s OR {woke})")
        params |= woke_params | {"window_start": db_datetime(plan.start)}
    if digests or plan.digests:
        mine, mine_params = _digest_people(digests=digests, people=people, not_runs=not_runs)
        where.append(mine)
        params |= mine_params
    if after is not None:
        where.append(_after(roles))
        params |= {
            "after_due": db_datetime(after.due_at),
            "after_task": after.task_id,
            "after_recipient": after.recipient_id,
        }
    if limit is not None:
        params["limit"] = limit
    if roles.date_only and connection.vendor == "postgresql":
        return _by_instant(
            roles,
            plan,
            start=start,
            where=where,
            after=after,
            ordered=ordered,
            limit=limit,
            params=params,
        )
    rows, row_params = _reminder_rows(roles, plan, start=start)
    params |= row_params
    sql = f"SELECT {COLUMNS} FROM ({rows}) c WHERE {' AND '.join(where)}"  # noqa: S608
    if ordered:
        sql += " ORDER BY c.due_at, c.id" + (", c.recipient" if roles.many_owners else "")
    if limit is not None:
        sql += " LIMIT %(limit)s"
    return sql, params


def _by_instant(roles, plan, *, start, where, after, ordered, limit, params) -> tuple[str, dict]:
    """PostgreSQL, a date-only task model: the (day, instant) pairs the window holds
    from `start` on, in instant order, each joined laterally to that day's open
    tasks whose recipient's zone falls due at that instant, read in (id, recipient)
    order by the (due date, id) index from the keyset on, at most `limit` of them.
    The pairs are only read as far as the batch needs them (an incremental sort by
    instant), so a batch reads about its own rows; reading every day the window can
    reach and sorting it, each batch cost as much as the whole window. A run that
    finds nothing due still reads each pair's day whole."""
    pairs = {}
    for zone, day, at in plan.due_instants:
        if start <= at <= plan.end:
            pairs.setdefault((day, at), []).append(zone)
    days = [day for day, _ in pairs] or [start.date()]  # none: the query finds nothing
    first, last = min(days), max(days)
    tasks, task_params = _task_rows(roles, first, last)
    preference, col = quoted_columns(ReminderPreference)
    recipient = _recipient(roles)
    params |= task_params | {
        "pairs": json.dumps(
            [[day.isoformat(), at.isoformat(), zones] for (day, at), zones in sorted(pairs.items())]
        ),
        "pair_count": len(pairs),
    }
    if after is not None:
        # The keyset's own instant starts at its task, the later ones at the table's
        # first: a bound the index takes either way.
        table, task_col = quoted_columns(roles.model)
        pk = task_col[roles.model._meta.pk.attname]
        where = [
            *where,
            "c.id >= CASE WHEN c.due_at = %(after_due)s THEN %(after_task)s "  # noqa: S608
            f"ELSE (SELECT MIN({pk}) FROM {table}) END",
        ]
    inner = (
        f"SELECT {COLUMNS} FROM ("  # noqa: S608
        f"SELECT t.reminders_task AS id, {recipient} AS recipient, z.due_at AS due_at "
        f"FROM ({tasks}) t LEFT JOIN {preference} p ON p.{col['user_id']} = {recipient} "
        f"WHERE t.reminders_due = z.day AND COALESCE(p.{col['time_zone']}, '') = ANY(z.zones)"
        f") c WHERE {' AND '.join(where)}"
    )
    if ordered:
        inner += " ORDER BY c.id, c.recipient"
    if limit is not None:
        # Not a constant: the planner then plans for a tenth of the rows, by the
        # (due date, id) index, instead of reading and sorting the whole day, which
        # it would do for a constant above its estimate of one day's tasks (the
        # days a window holds have many more than the average it assumes).
        inner += " LIMIT (SELECT %(limit)s)"
    sql = (
        f"SELECT {COLUMNS} FROM ("  # noqa: S608
        "SELECT (e->>0)::date AS day, (e->>1)::timestamptz AS due_at, "
        "ARRAY(SELECT jsonb_array_elements_text(e->2)) AS zones "
        "FROM jsonb_array_elements(%(pairs)s::jsonb) AS e ORDER BY 2 "
        # Tells the planner how many there are (it assumes 100 rows of a function).
        "LIMIT %(pair_count)s"
        f") z CROSS JOIN LATERAL ({inner}) c"
    )
    if ordered:
        sql += " ORDER BY z.due_at, c.id, c.recipient"
    if limit is not None:
        sql += " LIMIT %(limit)s"
    return sql, params


def _reminder_rows(roles: TaskRoles, plan: RunPlan, *, start: datetime) -> tuple[str, dict]:
    """(id, recipient, due_at) of every open task whose due date can fall in [start,
    plan.end], one row per person it names (null: nobody)."""
    first, last = due_days(start, plan.end) if roles.date_only else (start, plan.end)
    sql, params = _task_rows(roles, first, last)
    recipient = _recipient(roles)
    if not roles.date_only:
        return (
            f"SELECT t.reminders_task AS id, {recipient} AS recipient, "  # noqa: S608
            f"t.reminders_due AS due_at FROM ({sql}) t",
            params,
        )
    preference, col = quoted_columns(ReminderPreference)
    params["instants"] = json.dumps(
        [[zone, day.isoformat(), _json_datetime(at)] for zone, day, at in plan.due_instants]
    )
    return (
        f"SELECT t.reminders_task AS id, {recipient} AS recipient, z.due_at AS due_at "  # noqa: S608
        f"FROM ({sql}) t "
        f"LEFT JOIN {preference} p ON p.{col['user_id']} = {recipient} "
        f"JOIN ({_instants_table()}) z "
        f"ON z.zone = COALESCE(p.{col['time_zone']}, '') AND z.day = t.reminders_due",
        params,
    )


def _task_rows(roles: TaskRoles, first, last) -> tuple[str, dict]:
    """The ORM's query of the open tasks due between `first` and `last` (both
    included), as rows (reminders_task, reminders_due,
    reminders_owner[, reminders_fallback]): one per person the task names, and one
    with a null owner for a task that names nobody (a left join)."""
    due = roles.due.name
    columns = {
        "reminders_task": F("pk"),
        "reminders_due": F(due),
        # A many-to-many owner joins through its table: one row per owner, and one
        # with null for a task that names nobody (a left join).
        "reminders_owner": F(roles.owner.name),
    }
    if roles.fallback is not None:
        columns["reminders_fallback"] = F(roles.fallback.name)
    tasks = (
        roles.open_tasks()
        .filter(**{f"{due}__gte": first, f"{due}__lte": last})
        .annotate(**columns)
        .values_list(*columns)
        .order_by()
    )
    return named(*tasks.query.sql_with_params(), prefix="task")


def _recipient(roles: TaskRoles) -> str:
    """The person a row of _task_rows() reminds: its owner, else its fallback owner."""
    if roles.fallback is not None:
        return "COALESCE(t.reminders_owner, t.reminders_fallback)"
    return "t.reminders_owner"


def _instants_table() -> str:
    """The run's due instants (the JSON parameter `instants`) as rows (zone, day,
    due_at), by each database's own JSON table function."""
    if connection.vendor == "postgresql":
        return (
            "SELECT e->>0 AS zone, (e->>1)::date AS day, (e->>2)::timestamptz AS due_at "
            "FROM jsonb_array_elements(%(instants)s::jsonb) AS e"
        )
    return (
        "SELECT json_extract(value, '$[0]') AS zone, json_extract(value, '$[1]') AS day, "
        "json_extract(value, '$[2]') AS due_at FROM json_each(%(instants)s)"
    )


def _json_datetime(value: datetime) -> str:
    """An instant as the database compares it: ISO 8601 for PostgreSQL, Django's own
    text for SQLite (which stores datetimes as text)."""
    if connection.vendor == "postgresql":
        return value.isoformat()
    return db_datetime(value)


def _quiet(plan: RunPlan, *, held: bool) -> tuple[str, dict]:
    """The condition that holds the reminders of people inside their quiet hours
    (with `held`: that picks them), due from the end of them on. Added only when
    someone is quiet, so a run where nobody is pays nothing."""
    exists, params = _people_since("quiet", [(q.person_id, q.ends) for q in plan.quiet])
    if not held:
        return f"NOT {exists}", params
    # Their ids as a list too: an index of the task model's owners can then read their
    # tasks alone (the admin's list of held reminders, at any size of the task table).
    names = [f"%(quiet_person{i})s" for i in range(len(plan.quiet))] or ["NULL"]
    return f"c.recipient IN ({', '.join(names)}) AND {exists}", {
        **params,
        **{f"quiet_person{i}": q.person_id for i, q in enumerate(plan.quiet)},
    }


def _people_since(name: str, people: Sequence[tuple]) -> tuple[str, dict]:
    """Whether the row's recipient is one of `people`, (person, instant) pairs, and
    its due instant is at or after theirs: the pairs as the JSON parameter `name`,
    read as a table by each database's own JSON function."""
    value = json.dumps([[person, _json_datetime(at)] for person, at in people])
    if connection.vendor == "postgresql":
        person = get_user_model()._meta.pk.db_type(connection)
        table = (
            f"SELECT CAST(e->>0 AS {person}) AS person, "  # noqa: S608 - a type name from the model
            f"(e->>1)::timestamptz AS since FROM jsonb_array_elements(%({name})s::jsonb) AS e"
        )
    else:
        table = (
            "SELECT json_extract(value, '$[0]') AS person, "  # noqa: S608 - `name` is ours
            f"json_extract(value, '$[1]') AS since FROM json_each(%({name})s)"
        )
    exists = (
        f"EXISTS (SELECT 1 FROM ({table}) {name} "  # noqa: S608 - no value: named parameters
        f"WHERE {name}.person = c.recipient AND c.due_at >= {name}.since)"
    )
    return exists, {name: value}


def _digest_people(*, digests: bool, people, not_runs) -> tuple[str, dict]:
    """The condition that leaves out the people who get a digest, or (`digests`)
    keeps only them: of `people` when given, without rows of the runs `not_runs`."""
    preference, col = quoted_columns(ReminderPreference)
    exists = (
        f"EXISTS (SELECT 1 FROM {preference} dp "  # noqa: S608 - names from model metadata
        f"WHERE dp.{col['user_id']} = c.recipient AND dp.{col['digest']})"
    )
    if not digests:
        return f"NOT {exists}", {}
    where, params = [exists], {}
    if people is not None:
        names = [f"%(person{i})s" for i in range(len(people))] or ["NULL"]
        where.append(f"c.recipient IN ({', '.join(names)})")
        params |= {f"person{i}": person for i, person in enumerate(people)}
    if not_runs:
        log, col = quoted_columns(ReminderLog)
        run_field = ReminderLog._meta.get_field("run")
        names = [f"%(not_run{i})s" for i in range(len(not_runs))]
        where.append(
            f"NOT EXISTS (SELECT 1 FROM {log} WHERE "  # noqa: S608
            f"{log}.{col['task_id']} = c.id AND {log}.{col['recipient_id']} = c.recipient "
            f"AND {log}.{col['due_at']} = c.due_at "
            f"AND {log}.{col['run_id']} IN ({', '.join(names)}))"
        )
        params |= {
            f"not_run{i}": run_field.get_db_prep_value(run, connection)
            for i, run in enumerate(not_runs)
        }
    return " AND ".join(where), params


def _after(roles: TaskRoles) -> str:
    """Rows after the keyset: by (due_at, id), and the recipient where a task may have
    several."""
    same_task = "c.id > %(after_task)s"
    if roles.many_owners:
        same_task = (
            "(c.id > %(after_task)s OR (c.id = %(after_task)s "
            "AND c.recipient > %(after_recipient)s))"
        )
    return f"(c.due_at > %(after_due)s OR (c.due_at = %(after_due)s AND {same_task}))"


def fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def next_batch(plan: RunPlan, *, after: Keyset | None = None, **which) -> list[tuple]:
    """Up to `plan.batch_size` due reminders after `after` (`which`: due_reminders'
    choice of them), or all of them with `people` (a digest phase's): (task id,
    recipient id, aware due_at) rows."""
    limit = None if which.get("people") is not None else plan.batch_size
    rows = fetch(*due_reminders(plan, after=after, limit=limit, **which))
    return [(task_id, recipient, aware(due)) for task_id, recipient, due in rows]


def due_now(plan: RunPlan, *, held: bool = False) -> Iterator[tuple]:
    """Every reminder a run with this plan would claim now (`held`: would hold for
    quiet hours instead), batch by batch: (task id, recipient id, due_at) rows."""
    if held and not plan.quiet:
        return
    after = None
    while True:
        batch = next_batch(plan, after=after, held=held)
        yield from batch
        if len(batch) < plan.batch_size:
            return
        after = Keyset(due_at=batch[-1][2], task_id=batch[-1][0], recipient_id=batch[-1][1])


def digest_people(plan: RunPlan, *, not_runs: Sequence) -> list:
    """The people who get a digest and have due reminders in the plan's window, less
    those of the runs `not_runs`, in order."""
    sql, params = due_reminders(plan, ordered=False, digests=True, not_runs=not_runs)
    rows = fetch(f"SELECT DISTINCT recipient FROM ({sql}) d ORDER BY recipient", params)  # noqa: S608
    return [person for (person,) in rows]


def count_due(plan: RunPlan) -> int:
    sql, params = due_reminders(plan, ordered=False)
    ((count,),) = fetch(f"SELECT count(*) FROM ({sql}) d", params)  # noqa: S608
    return count


def count_without_recipient(plan: RunPlan) -> int:
    """Open tasks due in the window that name nobody to remind (no owner, and no
    fallback owner): no reminder is selected for them; a run reports how many."""
    rows, params = _reminder_rows(task_roles(), plan, start=plan.start)
    params |= {"start": db_datetime(plan.start), "end": db_datetime(plan.end)}
    sql = (
        f"SELECT count(*) FROM ({rows}) c WHERE c.recipient IS NULL "  # noqa: S608
        "AND c.due_at >= %(start)s AND c.due_at <= %(end)s"
    )
    ((count,),) = fetch(sql, params)
    return count


# The due date at which each slice after the first begins: the rows whose rank in
# (due_at, id, recipient) order crosses a multiple of total / parts. One scan of the
# due query.
_SLICE_BOUNDS = """
WITH due(id, recipient, due_at) AS ({due})
SELECT due_at FROM (
    SELECT due_at, row_number() OVER (ORDER BY due_at, id, recipient) AS rank,
        count(*) OVER () AS total
    FROM due
) ranked
WHERE rank < total AND (rank * %(parts)s) / total > ((rank - 1) * %(parts)s) / total
ORDER BY rank
"""


def slices(plan: RunPlan, parts: int) -> list[tuple[datetime, datetime]]:
    """Divide the window into `parts` contiguous slices by due date, each with about
    as many due reminders: a run's parts each walk one, so none waits on rows
    another is claiming (parts that walk the same batches wait on each other's
    uncommitted claims; a filter such as id % parts defeats the index merge).
    Slices are inclusive and a microsecond apart; reminders sharing a due date
    share a slice, so a slice may be empty (its start after its end). The first
    slice's walk also takes what quiet hours held back, due before the window
    (RunPlan.held_back); they are not counted here."""
    sql, params = due_reminders(replace(plan, woke=()), ordered=False)
    rows = fetch(_SLICE_BOUNDS.format(due=sql), params | {"parts": parts})
    ends = [aware(due_at) for (due_at,) in rows][: parts - 1]
    ends += [plan.end] * (parts - 1 - len(ends))  # fewer due reminders than parts
    starts = [plan.start, *(end + timedelta(microseconds=1) for end in ends)]
    return list(zip(starts, [*ends, plan.end], strict=True))
