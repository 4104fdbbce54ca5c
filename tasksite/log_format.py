"""The one JSON log format of every process: Django's LOGGING (tasksite/settings.py)
and gunicorn's own lines (tasksite/gunicorn.conf.py). Imports nothing of Django, so
gunicorn's master process can read it before any settings load."""

import logging
import logging.config

JSON_FORMATTER = {
    # orjson serialises a run's hundred thousand reminder lines twice as fast as the
    # standard library's json.
    "()": "pythonjsonlogger.orjson.OrjsonFormatter",
    "format": "%(levelname)s %(name)s %(message)s",
    "rename_fields": {"levelname": "level", "name": "logger"},
    "timestamp": True,
}

STDERR_HANDLER = {
    "class": "logging.StreamHandler",
    "stream": "ext://sys.stderr",
    "formatter": "json",
}


def configure(config: dict) -> None:
    """Django's LOGGING_CONFIG: `config` applied, and Python's warnings (a deprecation,
    whitenoise missing its static directory) sent through logging, so that they too
    are JSON lines instead of plain text on stderr."""
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
