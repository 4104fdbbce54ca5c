"""gunicorn's settings for the web process: `make serve` and deploy/reminders-web.service
both start `gunicorn -c tasksite/gunicorn.conf.py tasksite.wsgi`. The address to bind
(`--bind`, or $PORT) and the workers ($WEB_CONCURRENCY) come from the command line
and the environment."""

import logging
import os

from tasksite.log_format import JSON_FORMATTER, STDERR_HANDLER

# No control socket: its default path is in $HOME, which the service user need not have.
control_socket_disable = True

# gunicorn's own lines ("Listening at", "Booting worker", a worker's timeout) and one
# line per request, as JSON on stderr like every other log line. The request line
# leaves out the client's address, its user agent and the query string (an admin
# search may hold a person's name): the TLS proxy in front logs those if wanted.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": JSON_FORMATTER},
    "handlers": {"stderr": STDERR_HANDLER},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
        "gunicorn.access": {"handlers": [], "level": "INFO", "propagate": True},
    },
}
access_log_format = "%(m)s %(U)s %(s)s %(B)s bytes %(M)s ms"
# Python's warnings through logging, as Django's LOGGING_CONFIG does in the workers.
logging.captureWarnings(True)


def on_starting(server):
    """Read the settings once in the master, before any worker boots: a bad
    environment variable is one line and exit 2, as with manage.py, not a traceback
    from each worker that fails to boot."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tasksite.settings")
    from django.conf import settings

    from tasksite.env import exit_on_bad_config

    with exit_on_bad_config():
        settings.INSTALLED_APPS  # noqa: B018 - reading one loads them all
