"""Logging filters named in settings.LOGGING."""

import logging


class ClientErrorAsWarning(logging.Filter):
    """A bad request from a client (such as a Host header the site does not serve) is
    the client's fault, not the server's: log it at WARNING, one line, no traceback.

    Django logs these at ERROR with the exception attached, which would page someone
    for every scanner on the internet.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True
