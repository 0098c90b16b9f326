"""X-Request-Id: every request carries one, accepted from the client or generated, and every
response returns it (the header, the JSON log lines, problem details may quote it).

An incoming id is accepted when it is 1 to 128 characters of ``A-Z a-z 0-9 . _ : -``; anything
else (or nothing) gets a fresh one (32 hex digits), so a hostile header never reaches a log line.
``current()`` is the id of the request being served (None outside a request).
"""
from __future__ import annotations

import re
import uuid

from flask import Flask, g, has_request_context, request

HEADER = "X-Request-Id"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def accept(value: str | None) -> str:
    """The client's id when it is well formed, else a new one."""
    if value and _VALID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def current() -> str | None:
    if not has_request_context():
        return None
    return g.get("request_id")


def init_app(app: Flask) -> None:
    @app.before_request
    def _assign():
        g.request_id = accept(request.headers.get(HEADER))

    @app.after_request
    def _echo(response):
        rid = current()
        if rid:
            response.headers[HEADER] = rid
        return response
