"""What the django-q2 cluster may run, once a project turns the guard on by setting
Q_CLUSTER_ALLOWED_FUNCTIONS (this project does; a host that leaves it unset, None,
keeps its own django-q2 use as it was): reminders_app's own task functions and those
listed. Nothing else a schedule row or a queued task names runs, whoever wrote it:

- the schedule admin refuses, with a form error, a function or hook not allowed
  (reminders_app.admin.schedule), superusers included;
- every worker refuses to call one (refuse_unlisted, a receiver of django-q2's
  `pre_execute` signal). django-q2 sends that signal for every task it executes,
  scheduled, queued or run in-process (`sync`), after loading the function and
  right before calling it, so no row in the database can get past it. The refused
  task is recorded as a django-q2 failure and never retried;
- `manage.py check --deploy` (reminders_app.E002), `reminders_status` and /healthz
  report any schedule that names one. Nothing refused stops `migrate`, `qcluster` or any
  other command: the cluster starts, runs what is allowed and refuses the rest.

The reminder job itself runs only as the app calls it: from its own schedule row, from
Send now, from the job (a run's parts), with their own arguments (OWN_ARGUMENTS).
Another schedule naming it, which could pass it a window of years and mail every
owner, is refused in the same three places.

The probes (`reminders_status`, /healthz) name a refused schedule by its id only: its
name and function are text staff typed, and /healthz answers anyone. `check --deploy`,
which only operators run, adds the function or hook they must list or delete.
"""

import logging

from django.db.models import Q

from reminders_app.conf import settings
from reminders_app.schedule import JOB_FUNC, PART_FUNC, SCHEDULE_NAME

logger = logging.getLogger(__name__)

# reminders_app's own task functions, the ones its schedule, admin and job queue: the
# hourly job (the admin's Send now queues it too) and the parts of a run in parts.
# A task function this app adds is listed here.
OWN_FUNCTIONS = frozenset({JOB_FUNC, PART_FUNC})
# The keyword arguments each is queued with by the app: the schedule's slot
# (scheduled_for, through its intended_date_kwarg) and Send now's trigger; a part's
# place in its run (jobs.enqueue_part).
OWN_ARGUMENTS = {
    JOB_FUNC: frozenset({"trigger", "scheduled_for"}),
    PART_FUNC: frozenset({"run_id", "part", "slices", "subslices", "grace"}),
}


def guard_on() -> bool:
    """Whether the project set Q_CLUSTER_ALLOWED_FUNCTIONS (an empty list included)."""
    return settings.Q_CLUSTER_ALLOWED_FUNCTIONS is not None


def allowed_functions() -> frozenset[str]:
    return OWN_FUNCTIONS | frozenset(settings.Q_CLUSTER_ALLOWED_FUNCTIONS or ())


def dotted_path(func) -> str | None:
    """The dotted path of a task's function or hook: as written when it is text
    (what django-q2's worker loads), a callable's module and qualified name (how
    pickle stored it), None when it has neither."""
    if isinstance(func, str):
        return func
    module, name = getattr(func, "__module__", None), getattr(func, "__qualname__", None)
    return f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else None


def is_allowed(func) -> bool:
    return not guard_on() or dotted_path(func) in allowed_functions()


def not_allowed_message(func) -> str:
    own = ", ".join(sorted(OWN_FUNCTIONS))
    return (
        f"{dotted_path(func)!r} is not a function the cluster may run: it runs {own} "
        "and the functions listed in Q_CLUSTER_ALLOWED_FUNCTIONS."
    )


JOB_ONLY_MESSAGE = (
    f"only the schedule {SCHEDULE_NAME!r} runs the reminder job (and Send now, and the "
    "job its own parts), with its own arguments."
)


def names_the_job(func) -> bool:
    return dotted_path(func) in OWN_FUNCTIONS


def own_call(task: dict) -> bool:
    """Whether a task naming the reminder job (or a part of a run) is one the app
    queued: not from another schedule (django-q2 puts a scheduled task in the group
    of its schedule's name, or id) and with no arguments but its own."""
    path = dotted_path(task.get("func"))
    if path not in OWN_FUNCTIONS:
        return True
    kwargs = task.get("kwargs") or {}
    return (
        task.get("group") in (None, SCHEDULE_NAME)
        and not task.get("args")
        and isinstance(kwargs, dict)
        and set(kwargs) <= OWN_ARGUMENTS[path]
    )


def forbidden_schedules() -> list:
    """Schedules the cluster refuses to run, oldest first: those whose function or
    hook is not allowed, and those that name the reminder job.

    Not the reminder job's own rows (named SCHEDULE_NAME): `migrate` puts them back
    and removes extra rows of that name, and the W002 check and the health check
    report them already.
    """
    from django_q.models import Schedule

    if not guard_on():
        return []
    allowed = allowed_functions()
    hook_set = Q(hook__isnull=False) & ~Q(hook="")
    return list(
        Schedule.objects.exclude(name=SCHEDULE_NAME)
        .filter(
            ~Q(func__in=allowed) | Q(func__in=OWN_FUNCTIONS) | (hook_set & ~Q(hook__in=allowed))
        )
        .order_by("pk")
    )


def schedule_problem(schedule) -> str:
    """One sentence on a forbidden schedule and what to do about it, naming it by its
    id: nothing staff typed (its name, its function) reaches a probe."""
    if schedule.func in OWN_FUNCTIONS:
        return (
            f"the schedule #{schedule.pk} runs the reminder job, which the cluster refuses "
            f"from any schedule but {SCHEDULE_NAME!r}: delete it"
        )
    return (
        f"the schedule #{schedule.pk} names a function or hook the cluster refuses to run: "
        "delete it, or list its function in Q_CLUSTER_ALLOWED_FUNCTIONS"
    )


def schedule_detail(schedule) -> str:
    """For operators (`check --deploy`): what the schedule names that is refused."""
    if schedule.func in OWN_FUNCTIONS:
        return f"it runs {schedule.func}"
    if schedule.func in allowed_functions():
        return f"its hook is {dotted_path(schedule.hook)!r}"
    return f"its function is {dotted_path(schedule.func)!r}"


class FunctionNotAllowed(Exception):
    """A task named a function or hook the cluster may not run."""


class RefusedArguments:
    """Stands in for a refused task's arguments. The worker unpacks them to call the
    function (`f(*task["args"], ...)`), and unpacking this raises, so the function is
    never entered; the worker records the task as failed. It pickles as an empty
    tuple: the task's real arguments reach neither the result queue nor the
    failure's row."""

    def __init__(self, message: str):
        self.message = message

    def __iter__(self):
        raise FunctionNotAllowed(self.message)

    def __reduce__(self):
        return (tuple, ())


def refusal(task: dict) -> str | None:
    """Why the cluster refuses to run `task`, or None."""
    for path in (task.get("func"), task.get("hook")):
        if path is not None and not is_allowed(path):
            return not_allowed_message(path)
    if guard_on() and not own_call(task):
        return JOB_ONLY_MESSAGE
    return None


def refuse_unlisted(sender, func, task, **kwargs) -> None:
    """pre_execute receiver: a task the guard refuses (refusal()) is not run. One
    ERROR line names the task and its schedule by their ids (django-q2 puts a
    scheduled task in the group of its schedule's name, or id), never its arguments
    or anything staff typed."""
    reason = refusal(task)
    if reason is None:
        return
    logger.error(
        "task_refused",
        extra={
            "event": "task_refused",
            "task_id": task.get("id"),
            "schedule_id": _schedule_id(task.get("group")),
            "func": dotted_path(task.get("func")),
            "hook": dotted_path(task.get("hook")),
        },
    )
    task["args"], task["kwargs"] = RefusedArguments(reason), {}
    task.pop("hook", None)  # the monitor would call it with the result
    task.pop("chain", None)


def record_refusal(sender, task, **kwargs) -> None:
    """post_execute_in_worker receiver: a refused task's result is one sentence,
    not the traceback of the refusal."""
    if isinstance(task.get("args"), RefusedArguments):
        task["result"] = f"refused: {task['args'].message}"
        task["args"] = ()


def _schedule_id(group) -> int | None:
    """The id of the schedule a task came from (its group is the schedule's name, or
    its id when it has none); None for a task no schedule queued."""
    from django_q.models import Schedule

    if group is None:
        return None
    if isinstance(group, int):
        return group
    return Schedule.objects.filter(name=group).order_by("pk").values_list("pk", flat=True).first()


def queue_refused_tasks(sender, task, **kwargs) -> None:
    """pre_enqueue receiver: a task the guard refuses goes through the broker even
    when asked to run in-process (`sync`), where its refusal would raise out of the
    scheduler and hold up every other schedule due with it."""
    if task.get("sync") and refusal(task) is not None:
        task["sync"] = False
