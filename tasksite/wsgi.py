"""WSGI config: `gunicorn tasksite.wsgi` (see docs/deploy.md)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tasksite.settings")

application = get_wsgi_application()
