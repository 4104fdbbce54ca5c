"""Send now: staff with the send_reminders_now permission queue one run of the job
on the cluster, after a confirmation."""

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django_q.status import Stat
from django_q.tasks import async_task

from reminders_app.broker import unreachable
from reminders_app.conf import settings
from reminders_app.models import ReminderRun
from reminders_app.plan import RunPlan
from reminders_app.schedule import JOB_FUNC

SEND_NOW_PERMISSION = "reminders_app.send_reminders_now"

logger = logging.getLogger(__name__)


def running_clusters() -> list:
    """The django-q2 clusters that reported in the last few seconds (their
    statistics live in the shared `django_q` cache table)."""
    return Stat.get_all()


def admin_runs_url() -> str:
    return f"{reverse('admin:reminders_app_reminderrun_changelist')}?trigger__exact=admin"


def send_now_view(model_admin, request):
    """Queue one run of the job on the cluster (trigger `admin`), after a
    confirmation. Without a running cluster it says so and queues nothing: the run
    would wait unseen until a cluster starts, when the schedule runs anyway."""
    if not request.user.has_perm(SEND_NOW_PERMISSION):
        raise PermissionDenied
    try:
        clusters = running_clusters()
        task_id = None
        if request.method == "POST" and clusters:
            task_id = async_task(JOB_FUNC, trigger=ReminderRun.Trigger.ADMIN, task_name="send-now")
    except Exception as exc:  # noqa: BLE001 - whatever the broker's client raises
        logger.warning(
            "send_now_not_queued",
            extra={"event": "send_now_not_queued", "error": type(exc).__name__},
        )
        return _page(model_admin, request, status=503, broker_error=unreachable(exc))
    if task_id is not None:
        messages.success(
            request,
            format_html(
                "Queued a run of the reminder job (task {}). It will appear in "
                '<a href="{}">Reminder runs started from the admin</a> once the cluster '
                "picks it up, usually within seconds.",
                task_id[:8],
                admin_runs_url(),
            ),
        )
        return HttpResponseRedirect(admin_runs_url())
    status = 200 if clusters or request.method == "GET" else 409
    return _page(model_admin, request, status=status, clusters=clusters)


def _page(model_admin, request, *, status: int, **facts) -> TemplateResponse:
    """The confirmation page, or what stands in the way (`clusters` empty: none runs;
    `broker_error`: the broker failed)."""
    plan = RunPlan.build()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Send reminders now",
        "opts": model_admin.opts,
        "window_start": plan.start,
        "window_end": plan.end,
        "channel": settings.REMINDER_CHANNEL,
        "admin_runs_url": admin_runs_url(),
        **facts,
    }
    return TemplateResponse(
        request, "admin/reminders_app/reminderrun/send_now.html", context, status=status
    )
