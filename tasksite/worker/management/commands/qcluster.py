"""`manage.py qcluster`: django-q2's command, running tasksite.worker.cluster.Cluster."""

import os

from django.conf import settings
from django_q.management.commands import qcluster

from tasksite.worker.cluster import Cluster


class Command(qcluster.Command):
    def handle(self, *args, **options):
        # As django-q2's own handle(), with this project's cluster.
        settings.SECRET_KEY  # noqa: B018 - signing needs it: fail before starting
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        cluster = Cluster()
        cluster.start()
        if options.get("run_once"):
            cluster.stop()
