"""App configs for the test project's own run of host apps (tests/settings.py)."""

from tests.hosts.dated.chores.apps import ChoresConfig


class ChoresInTests(ChoresConfig):
    """The dated host's chores app, imported from the checkout as a test module."""

    name = "tests.hosts.dated.chores"
