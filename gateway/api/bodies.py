"""Request bodies read strictly: JSON only (``application/json``, UTF-8), no content coding, at most
``BODY_LIMIT`` bytes whether or not ``Content-Length`` is sent — read through a bounded stream and
never parsed when cut. Batches hold at most ``BATCH_ITEMS`` orders (docs/errors.md "Limits").

The byte limit is derived from the item limit: ``BATCH_ITEMS`` orders of ``ORDER_BYTES`` each. The
largest fixture (1210-six-lines.json) pretty-printed with an indent of 2 inside a batch is about
5.8 KB as UTF-8 and 6.6 KB with every non-ASCII character escaped as \\u escapes: 8 KiB an order leaves
room for either, so a documented 1,000-order batch fits however the client writes its JSON.
"""
from __future__ import annotations

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from gateway.domain import text_rules

BATCH_ITEMS = 1000                  # orders in one batch
ORDER_BYTES = 8 * 1024              # room for one order of a batch, pretty-printed
BODY_LIMIT = BATCH_ITEMS * ORDER_BYTES     # bytes of one request body (a single order or a batch): 8,192,000
JSON_TYPES = ("application/json",)
_CHUNK = 64 * 1024


def body_limit() -> int:
    return int(current_app.config.get("BODY_LIMIT_BYTES", BODY_LIMIT))


def _check_headers() -> None:
    mimetype = request.mimetype
    if mimetype not in JSON_TYPES:
        raise UnsupportedMediaType(f"send the body as application/json (UTF-8), not {mimetype or 'no Content-Type'}")
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"the body is UTF-8; charset={charset} is not accepted")
    coding = request.headers.get("Content-Encoding", "").strip().lower()
    if coding not in ("", "identity"):
        raise UnsupportedMediaType(f"Content-Encoding {coding} is not accepted: send the body uncompressed")


def raw_body(limit: int | None = None) -> bytes:
    """The body's bytes, at most ``limit``; one byte more → 413 (the app's MAX_CONTENT_LENGTH is
    the limit plus one, so a cut stream is always detected here)."""
    limit = body_limit() if limit is None else limit
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"the body is {request.content_length} bytes; the limit is {limit} bytes")
    stream = request.stream
    parts, size = [], 0
    while size <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    if size > limit:
        raise RequestEntityTooLarge(f"the body is over the limit of {limit} bytes")
    return b"".join(parts)


def json_text() -> str:
    """The body as UTF-8 text after the header checks (415) and the size check (413); not UTF-8 →
    422 with rule ``encoding``."""
    _check_headers()
    return text_rules.decode(raw_body())


def json_value():
    """The body parsed as JSON (``text_rules.loads``): 422 ``json`` / ``encoding`` when it is not."""
    return text_rules.loads(json_text())
