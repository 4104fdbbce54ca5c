"""Which reminders are due: reads only. reminders_app.claims turns a selection into
claims; a dry run lists it.

A task's reminder is due when the task is open, due in the run's window, has no
settled (sent or suppressed) reminder for that due date, and no other row holds it:
a live claim, or a failure that waits for its retry or was given up.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from reminders_app.conf import task_fields, task_model
from reminders_app.models import ReminderLog
from reminders_app.plan import Keyset, RunPlan, aware


def open_tasks() -> QuerySet:
    """The task model's open tasks (REMINDER_TASK_MODEL, REMINDER_TASK_FIELDS)."""
    return task_model()._default_manager.filter(**{f"{task_fields().completed_at}__isnull": True})


def due_between(tasks: QuerySet, start, end) -> QuerySet:
    """Tasks due in [start, end], both ends included."""
    due = task_fields().due_at
    return tasks.filter(**{f"{due}__gte": start, f"{due}__lte": end})


def _same_reminder(**filters) -> QuerySet[ReminderLog]:
    """ReminderLog rows for the outer task's current due date."""
    return ReminderLog.objects.filter(
        task=OuterRef("pk"), due_at=OuterRef(task_fields().due_at), **filters
    )


def due_reminders(plan: RunPlan, *, after: Keyset | None = None) -> QuerySet:
    """The due reminders after the keyset `after`, as (task_id, due_at) rows in
    keyset order: the one definition the claims, dry runs and the health check share."""
    start = plan.start if after is None else after.due_at
    # Both ranges start at the keyset, so each batch merges the two (due_at, id)
    # ordered indexes from there instead of from the window's start.
    settled = _same_reminder(
        status__in=ReminderLog.SETTLED, due_at__gte=start, due_at__lte=plan.end
    )
    held = (
        _same_reminder()
        .exclude(status__in=ReminderLog.SETTLED)
        .exclude(ReminderLog.objects.takeable_q(**plan.policy))
    )
    due = task_fields().due_at
    qs = due_between(open_tasks(), start, plan.end).filter(~Exists(settled), ~Exists(held))
    if after is not None:
        qs = qs.filter(
            Q(**{f"{due}__gt": after.due_at}) | Q(**{due: after.due_at, "pk__gt": after.task_id})
        )
    return qs.order_by(due, "pk").values_list("pk", due)


def candidates_query(plan: RunPlan, *, after: Keyset | None = None) -> QuerySet:
    """The next batch: up to `plan.batch_size` due reminders after `after`."""
    return due_reminders(plan, after=after)[: plan.batch_size]


def due_task_ids(plan: RunPlan) -> Iterator[int]:
    """Every task id a run with this plan would claim now, batch by batch."""
    after = None
    while True:
        batch = list(candidates_query(plan, after=after))
        yield from (task_id for task_id, _ in batch)
        if len(batch) < plan.batch_size:
            return
        after = Keyset(due_at=batch[-1][1], task_id=batch[-1][0])


# The due date at which each slice after the first begins: the rows whose rank in
# (due_at, id) order crosses a multiple of total / parts. One scan of the due query.
_SLICE_BOUNDS = """
WITH due(id, due_at) AS ({due})
SELECT due_at FROM (
    SELECT due_at, row_number() OVER (ORDER BY due_at, id) AS rank, count(*) OVER () AS total
    FROM due
) ranked
WHERE rank < total AND (rank * %s) / total > ((rank - 1) * %s) / total
ORDER BY rank
"""


def slices(plan: RunPlan, parts: int) -> list[tuple[datetime, datetime]]:
    """Divide the window into `parts` contiguous slices by due date, each with about
    as many due reminders: a run's parts each walk one, so none waits on rows
    another is claiming (parts that walk the same batches wait on each other's
    uncommitted claims; a filter such as id % parts defeats the index merge).
    Slices are inclusive and a microsecond apart; reminders sharing a due date
    share a slice, so a slice may be empty (its start after its end)."""
    sql, params = due_reminders(plan).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(_SLICE_BOUNDS.format(due=sql), [*params, parts, parts])
        ends = [aware(due_at) for (due_at,) in cursor.fetchall()][: parts - 1]
    ends += [plan.end] * (parts - 1 - len(ends))  # fewer due reminders than parts
    starts = [plan.start, *(end + timedelta(microseconds=1) for end in ends)]
    return list(zip(starts, [*ends, plan.end], strict=True))
