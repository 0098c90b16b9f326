"""The sandbox's E-Port-style HTTP face (and the admin endpoints), a plain WSGI app.

    POST /messages            body = the exact signed bytes; headers X-Message-Id (required),
                              X-Message-Type; 200 JSON ack {"status": "accepted" | "duplicate",
                              "payloadSha256": sha256 of the body received, "deliveries", ...};
                              503 when the government is unavailable (scripted)
    GET  /messages/<id>       200 JSON ack of the first delivery, 404 if it never arrived
    GET  /receipts?since=&limit=
                              200 {"receipts": [{"cursor", "receivedAt", "body": base64}], "next"}
    GET  /health              200 JSON
    GET|POST /admin/faults    transport faults (faults.py); POST replaces them
    POST /admin/script        replace the business script (SandboxScript data)
    GET  /admin/received      {message id: {"deliveries", "face", "sha256"}}
    GET  /admin/wire          what went over the wire: sha256 of each request and response body
"""
from __future__ import annotations

import json
import re
import time

from werkzeug.wrappers import Request, Response

from .faults import Action
from .server import SandboxServer
from .wsgi import delay_or_drop

MAX_BODY = 32 * 1024 * 1024
_MESSAGE_PATH = re.compile(r"^/messages/([^/]{1,255})$")


def create_http_app(server: SandboxServer, face: str = "http"):
    def app(environ, start_response):
        request = Request(environ)
        request.max_content_length = MAX_BODY
        if request.path.startswith("/admin/"):
            return _admin(server, request)(environ, start_response)
        operation, message_id = _operation(request)
        body = request.get_data(cache=True) if request.method == "POST" else b""
        if operation is None:
            return _json({"error": f"no such endpoint: {request.method} {request.path}"}, 404)(environ, start_response)
        action = server.faults.action(face, operation if operation != "health" else "health")
        dropped = delay_or_drop(server, face, operation, message_id, body, action, environ, start_response)
        if dropped is not None:
            return dropped
        if action.kind in ("error_5xx", "down_503"):
            reason = "scripted downtime" if action.kind == "down_503" else "scripted server error"
            response = _json({"error": f"{action.status} ({reason})"}, action.status,
                             headers={"Retry-After": "1"} if action.kind == "down_503" else None)
            server.record_wire(face, operation, message_id, body, response.get_data(), action.kind)
            return response(environ, start_response)
        response = _handle(server, face, operation, message_id, request, body, action)
        if operation != "health":
            server.record_wire(face, operation, message_id, body, response.get_data(), str(response.status_code))
        if action.kind == "timeout_after_accept":
            time.sleep(action.hold)        # kept; the answer comes after the client gave up
        return response(environ, start_response)

    return app


def _operation(request: Request) -> tuple[str | None, str | None]:
    if request.path == "/messages" and request.method == "POST":
        return "send", request.headers.get("X-Message-Id")
    match = _MESSAGE_PATH.match(request.path)
    if match and request.method == "GET":
        return "lookup", match.group(1)
    if request.path == "/receipts" and request.method == "GET":
        return "receipts", None
    if request.path == "/health" and request.method == "GET":
        return "health", None
    return None, None


def _handle(server: SandboxServer, face: str, operation: str, message_id: str | None, request: Request,
            body: bytes, action: Action) -> Response:
    if operation == "send":
        if not message_id:
            return _json({"error": "X-Message-Id header is required"}, 400)
        message_type = request.headers.get("X-Message-Type", "")
        ack = server.receive(face, message_id, message_type, body)
        if action.kind == "duplicate_answers":
            ack = server.receive(face, message_id, message_type, body)
        if ack["status"] == "unavailable":
            return _json(ack, 503, headers={"Retry-After": "1"})
        return _json(ack, 200)
    if operation == "lookup":
        known = server.ack(message_id or "")
        return _json(known, 200) if known is not None else _json({"messageId": message_id, "status": "unknown"}, 404)
    if operation == "receipts":
        since = request.args.get("since") or None
        try:
            limit = int(request.args.get("limit", "100"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= 1000:
            return _json({"error": "limit must be 1..1000"}, 400)
        server.feed.pull()
        items = server.feed.since(since, limit)
        return _json({"receipts": [item.to_json() for item in items],
                      "next": items[-1].cursor if items else since}, 200)
    return _json(server.health(), 200)


def _admin(server: SandboxServer, request: Request) -> Response:
    path, method = request.path, request.method
    try:
        if path == "/admin/faults" and method == "GET":
            return _json(server.faults.to_dict(), 200)
        if path == "/admin/faults" and method == "POST":
            return _json(server.set_faults(_body_json(request)), 200)
        if path == "/admin/script" and method == "POST":
            server.set_script(_body_json(request))
            return _json(server.government.script.to_dict(), 200)
        if path == "/admin/received" and method == "GET":
            return _json(server.received(), 200)
        if path == "/admin/wire" and method == "GET":
            return _json(server.wire(), 200)
    except (ValueError, KeyError, TypeError) as exc:
        return _json({"error": str(exc)}, 400)
    return _json({"error": f"no such admin endpoint: {method} {path}"}, 404)


def _body_json(request: Request) -> dict:
    try:
        data = json.loads(request.get_data() or b"{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _json(data, status: int, headers: dict | None = None) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8"), status=status,
                    headers=headers, content_type="application/json; charset=utf-8")
