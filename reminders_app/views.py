"""Monitoring endpoints: `/healthz` for load balancers and orchestrators, `/metrics`
for Prometheus. Both only read the database."""

import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from reminders_app.health import check_health
from reminders_app.metrics import exposition

# What /healthz shows of health.check_health().as_dict(): an allow-list, so a field
# added there later (which might name a person or a task) stays private until
# listed here. None keeps the value as it is; a set keeps those keys of a run.
RUN_FIELDS = {
    "run_id",
    "trigger",
    "status",
    "started_at",
    "finished_at",
    "heartbeat_at",
    "scheduled_for",
    "lag_seconds",
    "selected",
    "sent",
    "skipped",
    "failed",
    "released",
    "suppressed",
    "error",
}
SCHEDULE_FIELDS = {"name", "func", "next_run", "repeats", "paused"}
PUBLIC_HEALTH = {
    "healthy": None,
    "problems": None,
    "checked_at": None,
    "schedule": SCHEDULE_FIELDS,
    "last_finished": RUN_FIELDS,
    "last_succeeded": RUN_FIELDS,
    "in_progress": RUN_FIELDS,
    "failed_reminders": None,
}


def public_health(facts: dict) -> dict:
    """The allow-listed part of the health facts."""
    shown = {}
    for key, keep in PUBLIC_HEALTH.items():
        if key not in facts:
            continue
        value = facts[key]
        if keep is not None and isinstance(value, list):
            value = [_only(item, keep) for item in value]
        elif keep is not None:
            value = _only(value, keep)
        shown[key] = value
    return shown


def _only(facts: dict | None, keys: set[str]) -> dict | None:
    return None if facts is None else {k: v for k, v in facts.items() if k in keys}


@require_safe
def healthz(request):
    """200 when the reminder worker is healthy, 503 when not; JSON either way. No
    login: it names no person and no task."""
    health = check_health()
    return JsonResponse(public_health(health.as_dict()), status=200 if health.healthy else 503)


@require_safe
def metrics(request):
    """Prometheus text. With METRICS_TOKEN set, only for `Authorization: Bearer
    <token>`; without it, only in debug mode."""
    token = settings.METRICS_TOKEN
    if not token:
        if not settings.DEBUG:
            return HttpResponse(
                "/metrics is off: set METRICS_TOKEN\n", status=403, content_type="text/plain"
            )
    else:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            response = HttpResponse("a bearer token is required\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            response["Content-Type"] = "text/plain"
            return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
