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


class ProbeUnavailableAsWarning(logging.Filter):
    """A probe answering 503 (/healthz, /readyz) is the answer it exists to give, not
    a fault of the web process: Django's one line for it at WARNING, not ERROR.
    Other requests are left as they are."""

    PROBES = {"healthz", "readyz"}

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        match = getattr(request, "resolver_match", None)
        if (
            getattr(record, "status_code", None) == 503
            and match is not None
            and match.url_name in self.PROBES
            and record.levelno > logging.WARNING
        ):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
