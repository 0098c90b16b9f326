"""The Idempotency-Key header on every authenticated POST (``service.idempotency``): called by the
tenant authentication wrappers once ``g.tenant_id`` is known. Without the header nothing changes."""
from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

from flask import Response, current_app, g, make_response, request

from gateway.service import idempotency

from .errors import problem

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def _body() -> bytes:
    """The request body, read once and put back so the view reads it as usual."""
    data = request.get_data(cache=True)
    request.environ["wsgi.input"] = io.BytesIO(data)
    request.environ["CONTENT_LENGTH"] = str(len(data))
    request.__dict__.pop("stream", None)
    return data


def guarded(call: Callable[[], object]):
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None or getattr(g, "tenant_id", None) is None:
        return call()
    if not idempotency.valid_key(key):
        return problem(400, "Bad Request", f"{HEADER}: 1 to 200 printable ASCII characters without blanks",
                       problems=[{"path": f"header:{HEADER}", "rule": "idempotency-key",
                                  "message": "1 to 200 printable ASCII characters without blanks"}])
    gw = current_app.extensions["gateway"]
    tenant_id = g.tenant_id
    sha = idempotency.fingerprint(request.method, request.path, _body())
    ttl = timedelta(hours=gw.settings.idempotency_hours)
    try:
        earlier = idempotency.begin(gw.uow_factory, gw.clock.now(), tenant_id, key, sha, ttl)
    except idempotency.KeyReused:
        return problem(422, "Idempotency key reused", f"this {HEADER} was first used with another request",
                       "idempotency-key-reused",
                       [{"path": f"header:{HEADER}", "rule": "idempotency-key-reused",
                         "message": "the same key must come with the same method, path and body"}])
    except idempotency.KeyInUse:
        return problem(409, "Idempotency key in use", f"the first request with this {HEADER} is still running",
                       "idempotency-key-in-use", headers={"Retry-After": "1"})
    if earlier is not None:
        replay = Response(earlier.body, status=earlier.status, headers=earlier.headers)
        replay.headers[REPLAYED] = "true"
        return replay
    try:
        try:
            response = make_response(call())
        except Exception as exc:        # an error answer (422, 409 …) is kept like any other
            response = make_response(current_app.handle_user_exception(exc))
    except Exception:
        idempotency.abandon(gw.uow_factory, tenant_id, key)
        raise
    if response.is_streamed:            # never for our POSTs; not kept rather than half kept
        idempotency.abandon(gw.uow_factory, tenant_id, key)
        return response
    idempotency.finish(gw.uow_factory, tenant_id, key,
                       idempotency.Answer(response.status_code, list(response.headers.items()), response.get_data()))
    return response
