"""The project's django-q2 worker: `manage.py qcluster` runs the cluster of
tasksite.worker.cluster, django-q2's own made to survive its workers and to stop
when asked (this app comes before django_q in INSTALLED_APPS, so its command wins)."""
