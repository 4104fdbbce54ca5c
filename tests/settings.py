"""The project's settings, in development mode unless the environment says otherwise.

Production is the settings' default (DJANGO_DEBUG unset means off), which would send
the test client's plain-HTTP requests to HTTPS. Tests of the production settings set
DJANGO_DEBUG=false in the environment of the processes they start.
"""

import os

os.environ.setdefault("DJANGO_DEBUG", "true")

from tasksite.settings import *  # noqa: E402, F403

# Task models of other shapes, for tests that fit reminders_app to them in-process
# (tests/test_shapes.py); the host projects under tests/hosts install them the way a
# host would, with reminders_app's wheel.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.apps.ChoresInTests"]  # noqa: F405
