"""The public endpoints: `/readyz` for load balancers, `/healthz` for the worker's
health and `/metrics` for Prometheus (all three only read the database), and the
one-click unsubscribe link each reminder mail carries."""

import hmac

from django.core import signing
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from reminders_app import preferences
from reminders_app.conf import settings
from reminders_app.health import check_health
from reminders_app.metrics import exposition
from reminders_app.models import ReminderPreference
from reminders_app.runs import COUNT_FIELDS

# What /healthz shows of health.check_health().as_dict(): an allow-list, so a field
# added there later (which might name a person or a task) stays private until
# listed here. None keeps the value as it is; a set keeps those keys of a run.
RUN_FIELDS = {
    "run_id",
    "trigger",
    "status",
    "outcome",
    "started_at",
    "finished_at",
    "heartbeat_at",
    "scheduled_for",
    "lag_seconds",
    *COUNT_FIELDS,
    "error",
}
SCHEDULE_FIELDS = {"id", "name", "next_run", "repeats", "paused"}
PUBLIC_HEALTH = {
    "status": None,
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
def readyz(request):
    """200 while this web process can serve, that is reach its database; 503 when it
    cannot. For a load balancer: it says nothing of the worker, so a stopped worker
    does not take the admin out of service. A 503 is logged at WARNING
    (tasksite/log_filters.py)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return JsonResponse({"ready": False, "problem": type(exc).__name__}, status=503)
    return JsonResponse({"ready": True})


@require_safe
def healthz(request):
    """200 when the reminder worker is healthy or starting (a fresh deploy before its
    first run), 503 when not; JSON either way. No login: it names no person and no
    task."""
    try:
        health = check_health()
    except DatabaseError as exc:  # the facts live there (and the ORM broker's queue)
        problem = f"the database cannot be reached ({type(exc).__name__})"
        return JsonResponse(
            {"status": "unhealthy", "healthy": False, "problems": [problem]}, status=503
        )
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


@csrf_exempt  # RFC 8058: mail providers POST without a session or a CSRF token
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    """GET shows a confirm button and changes nothing (link scanners fetch links);
    POST, from that button or a mail provider's one-click, turns reminder mail off
    for the user the signed token names. A forged or altered token changes nothing:
    400; one past its lifetime (preferences.UNSUBSCRIBE_MAX_AGE): 410; one for a
    person deleted, erased or at another address since: 404."""
    try:
        user = preferences.user_from_token(token)
    except signing.SignatureExpired:
        return unsubscribe_page(request, "expired", status=410)
    except signing.BadSignature:
        return unsubscribe_page(request, "invalid", status=400)
    if user is None:
        return unsubscribe_page(request, "gone", status=404)
    # In the language of the mail the link came in, whatever the browser asks for.
    language = ReminderPreference.of(user).preferred_language
    if request.method == "POST":
        preferences.unsubscribe(user.pk)
        return unsubscribe_page(request, "done", language=language)
    return unsubscribe_page(request, "confirm", language=language)


def unsubscribe_page(request, state: str, *, language: str | None = None, status: int = 200):
    """The unsubscribe page in `language` (default: the site's), saying so in its
    Content-Language header."""
    with translation.override(language or settings.LANGUAGE_CODE):
        response = render(request, "reminders/unsubscribe.html", {"state": state}, status=status)
        response["Content-Language"] = translation.get_language()
    return response
