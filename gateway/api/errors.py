"""One error format for every endpoint: ``application/problem+json`` (RFC 9457).

Every 4xx and 5xx answer is ``{"type", "title", "status", "detail", "instance", "problems": [...]}``;
``problems`` lists what is wrong (``path``, ``rule``, ``message``: a JSON path into the body, ``?name``
for a query parameter), empty when nothing more precise can be said. Some types add members of their
own (a refused correction: ``rule``, ``customs_code``, ``confirmed``). docs/errors.md lists the types.
"""
from __future__ import annotations

from flask import Response, current_app, json, request
from werkzeug.exceptions import BadRequest, HTTPException

from gateway.domain.problems import OrderInvalid, Problem
from gateway.service.declare import FilingInvalid
from gateway.service.orders import NotFound, OrderConflict
from gateway.signing.keystore import KeystoreError

TYPE_BASE = "https://gateway.example/problems/"
MEDIA_TYPE = "application/problem+json"


class BadParameter(BadRequest):
    """A query parameter is missing its bounds or shape: 400 naming the parameter."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.problem = Problem(f"?{name}", "query-parameter", message)


def problem_body(status: int, title: str, detail: str, kind: str | None = None, problems=(), **extra) -> dict:
    body = {"type": TYPE_BASE + kind if kind else "about:blank", "title": title, "status": status,
            "detail": detail, "instance": request.path if request else None,
            "problems": [p.as_dict() if isinstance(p, Problem) else p for p in problems]}
    body.update(extra)
    return body


def problem(status: int, title: str, detail: str, kind: str | None = None, problems=(), headers=None,
            **extra) -> Response:
    """A problem+json response (never escapes: any text is carried as JSON string escapes)."""
    text = json.dumps(problem_body(status, title, detail, kind, problems, **extra), ensure_ascii=True)
    return Response(text, status=status, mimetype=MEDIA_TYPE, headers=headers)


def invalid(exc: OrderInvalid | FilingInvalid, title: str = "Order invalid", kind: str = "order-invalid") -> Response:
    return problem(422, title, f"{len(exc.problems)} problem(s): see problems", kind, exc.problems)


def register_error_handlers(app) -> None:
    @app.errorhandler(OrderInvalid)
    def order_invalid(exc: OrderInvalid):
        return invalid(exc)

    @app.errorhandler(FilingInvalid)
    def filing_invalid(exc: FilingInvalid):
        return invalid(exc, "Filing could not be built", "filing-invalid")

    @app.errorhandler(OrderConflict)
    def conflict(exc: OrderConflict):
        return problem(409, "Order conflict", str(exc), "order-conflict")

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound):
        return problem(404, "Not Found", f"{exc} not found", "not-found")

    @app.errorhandler(KeystoreError)
    def signing_key_unusable(exc: KeystoreError):   # e.g. every key of the tenant expired: rotate
        return problem(409, "Signing key unusable", str(exc), "signing-key-unusable")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        found = [exc.problem] if isinstance(exc, BadParameter) else []
        return problem(exc.code or 500, exc.name, exc.description or exc.name, problems=found, headers=headers)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):    # a bug: logged with its traceback, answered without it
        current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "Internal Server Error", "an unexpected error; it was logged", "internal-error")
