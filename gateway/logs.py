"""Log lines of the long-running processes (``gateway serve``, ``gateway dispatch run``): one JSON
object per line (python-json-logger) or plain text, on stderr, never with colour codes.

``configure(fmt, process)`` replaces the root logger's handlers; ``ContextFilter`` adds the request
id and the tenant of the request being served to every record (``request_id``, ``tenant``), so a
line logged deep in the service layer still says which request it belongs to.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``tenant`` (None outside a request) from a context provider."""

    def __init__(self, provider: Callable[[], dict]):
        super().__init__()
        self.provider = provider

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.provider().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter(JSON_FIELDS, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                             timestamp=False)
    return logging.Formatter(TEXT_FORMAT)


def handler(fmt: str = "json", stream=None, provider: Callable[[], dict] | None = None) -> logging.Handler:
    """A handler writing ``fmt`` lines to ``stream`` (default stderr), with the request context."""
    out = logging.StreamHandler(stream if stream is not None else sys.stderr)
    out.setFormatter(formatter(fmt))
    if provider is not None:
        out.addFilter(ContextFilter(provider))
    return out


def configure(fmt: str = "json", level: int = logging.INFO, provider: Callable[[], dict] | None = None) -> None:
    """Root logger → stderr in ``fmt``; werkzeug's own request lines (coloured) are turned off, the
    API logs each request itself (gateway.api.metrics)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(fmt, provider=provider))
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
