"""`manage.py qcluster`: django-q2's command, running tasksite.worker.cluster.Cluster,
after putting the reminder schedule back as `migrate` does (reminders_app.schedule)."""

import logging
import os

from django.conf import settings
from django.db import DatabaseError
from django_q.management.commands import qcluster

from reminders_app.schedule import ensure_schedule
from tasksite.worker.cluster import Cluster

logger = logging.getLogger(__name__)


class Command(qcluster.Command):
    def handle(self, *args, **options):
        # As django-q2's own handle(), with this project's cluster.
        settings.SECRET_KEY  # noqa: B018 - signing needs it: fail before starting
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        try:
            ensure_schedule()  # a next_run moved off minute 0, say, goes back at once
        except DatabaseError as exc:  # not migrated yet, or away: the cluster says so
            logger.warning(
                "schedule_not_checked",
                extra={"event": "schedule_not_checked", "error": type(exc).__name__},
            )
        cluster = Cluster()
        cluster.start()
        if options.get("run_once"):
            cluster.stop()
