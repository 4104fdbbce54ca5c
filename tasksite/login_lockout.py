"""Login lockout with two limits: django-axes' own per (username, address), and one per
username from any addresses (DJANGO_LOGIN_USER_FAILURE_LIMIT).

django-axes compares every lockout parameter against its one AXES_FAILURE_LIMIT; its
maintainers point to a custom handler for a second limit (jazzband/django-axes #661).
"""

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum


class UsernameAndAddressHandler(AxesDatabaseHandler):
    """axes' database handler, which also locks a username that failed
    LOGIN_USER_FAILURE_LIMIT times within the cool-off, whichever addresses the
    failures came from. The lock ends a cool-off after the last failure counted
    (failures during a lockout are not counted: AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT)."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        """The failures counted against AXES_FAILURE_LIMIT: those of this username from
        this address, or the limit itself once the username's own limit is reached
        (axes locks out when this reaches AXES_FAILURE_LIMIT, here and at login)."""
        failures = super().get_failures(request, credentials)
        username = get_client_username(request, credentials)
        if username is None:
            return failures
        by_username = (
            AccessAttempt.objects.filter(
                username=username, attempt_time__gte=get_cool_off_threshold(request)
            ).aggregate(total=Sum("failures_since_start"))["total"]
            or 0
        )
        if by_username >= settings.LOGIN_USER_FAILURE_LIMIT:
            return max(failures, get_failure_limit(request, credentials))
        return failures
