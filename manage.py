#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tasksite.settings")
    from django.core.management import execute_from_command_line

    from tasksite.env import exit_on_bad_config

    with exit_on_bad_config():
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
