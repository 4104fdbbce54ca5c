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
  name any schedule that names one. Nothing refused stops `migrate`, `qcluster` or any
  other command: the cluster starts, runs what is allowed and refuses the rest.
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


def forbidden_schedules() -> list:
    """Schedules whose function or hook the cluster refuses to run, oldest first.

    Not the reminder job's own rows (named SCHEDULE_NAME): `migrate` puts their
    function back and removes extra rows of that name, and the W002 check and the
    health check name them already.
    """
    from django_q.models import Schedule

    if not guard_on():
        return []
    allowed = allowed_functions()
    hook_set = Q(hook__isnull=False) & ~Q(hook="")
    return list(
        Schedule.objects.exclude(name=SCHEDULE_NAME)
        .filter(~Q(func__in=allowed) | (hook_set & ~Q(hook__in=allowed)))
        .order_by("pk")
    )


def schedule_problem(schedule) -> str:
    """One sentence naming a forbidden schedule and what to do about it."""
    name = schedule.name or f"#{schedule.pk}"
    if schedule.func in allowed_functions():
        what = f"has the hook {schedule.hook!r}"
    else:
        what = f"runs {schedule.func!r}"
    return (
        f"the schedule {name!r} {what}, which the cluster refuses to run: delete it, or "
        "list the function in Q_CLUSTER_ALLOWED_FUNCTIONS"
    )


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


def refuse_unlisted(sender, func, task, **kwargs) -> None:
    """pre_execute receiver: a task whose function or hook is not allowed is not
    run. One ERROR line names the task and its schedule (django-q2 puts a scheduled
    task in the group of its schedule's name), never its arguments."""
    refused = [
        path
        for path in (task.get("func"), task.get("hook"))
        if path is not None and not is_allowed(path)
    ]
    if not refused:
        return
    logger.error(
        "task_refused",
        extra={
            "event": "task_refused",
            "task_id": task.get("id"),
            "task_name": task.get("name"),
            "schedule": task.get("group"),
            "func": dotted_path(task.get("func")),
            "hook": dotted_path(task.get("hook")),
        },
    )
    task["args"], task["kwargs"] = RefusedArguments(not_allowed_message(refused[0])), {}
    task.pop("hook", None)  # the monitor would call it with the result
    task.pop("chain", None)


def record_refusal(sender, task, **kwargs) -> None:
    """post_execute_in_worker receiver: a refused task's result is one sentence,
    not the traceback of the refusal."""
    if isinstance(task.get("args"), RefusedArguments):
        task["result"] = f"refused: {task['args'].message}"
        task["args"] = ()


def queue_refused_tasks(sender, task, **kwargs) -> None:
    """pre_enqueue receiver: a task not allowed goes through the broker even when
    asked to run in-process (`sync`), where its refusal would raise out of the
    scheduler and hold up every other schedule due with it."""
    if task.get("sync") and not all(
        is_allowed(path) for path in (task.get("func"), task.get("hook")) if path is not None
    ):
        task["sync"] = False
