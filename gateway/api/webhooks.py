"""/v1 delivery endpoints: webhooks (tenant), receipts in quarantine (tenant / operator) and the
dispatcher's state (operator).

    POST   /v1/webhooks                   {"url": "https://...", "description": "...", "events": [...]}
                                          → 201, with the signing secret (shown this once); 422 for
                                          a URL pointing to an internal address, 409 for a URL the
                                          tenant already registered
    GET    /v1/webhooks                   the tenant's webhooks (never the secret)
    GET    /v1/webhooks/<id>
    DELETE /v1/webhooks/<id>              → 204; pending deliveries are cancelled, the log stays
    GET    /v1/webhooks/<id>/deliveries   ?limit=100&state=pending|delivered|failed|cancelled
    GET    /v1/receipts/quarantine        tenant key: receipts attributed to the tenant;
                                          operator key: all, tenant-less ones included
    GET    /v1/dispatch/status            operator key: circuit breakers, outbox, deliveries

The operator key is configured by its sha256 (never the key itself): app config or the setting
``GATEWAY_OPERATOR_KEY_SHA256`` (hex; gateway.config). Without it, operator endpoints answer 403 to everyone.
"""
from __future__ import annotations

import hashlib
import hmac
from functools import wraps

from flask import Blueprint, current_app, g, jsonify
from werkzeug.exceptions import Forbidden, NotFound, Unauthorized

from gateway.domain import text_rules
from gateway.domain.problems import OrderInvalid, Problem
from gateway.service.delivery import receipts as receipt_service
from gateway.service.delivery import webhooks as webhook_service

from . import bodies, params
from .errors import problem
from .v1 import _api_key, _gateway

bp = Blueprint("delivery", __name__, url_prefix="/v1")

OPERATOR_SETTING = "GATEWAY_OPERATOR_KEY_SHA256"
MAX_LIMIT = 1000


def _operator_hash() -> str | None:
    value = current_app.config.get(OPERATOR_SETTING) or _gateway().settings.operator_key_sha256
    return value.strip().lower() if value else None


def _is_operator(key: str | None) -> bool:
    wanted = _operator_hash()
    if not key or not wanted:
        return False
    return hmac.compare_digest(hashlib.sha256(key.encode("utf-8")).hexdigest(), wanted)


def _authenticate(allow_operator: bool, allow_tenant: bool = True):
    """Sets g.operator (bool) and g.tenant_id (None for the operator)."""
    key = _api_key()
    if not key:
        raise Unauthorized("send the API key as 'Authorization: Bearer <key>'")
    if allow_operator and _is_operator(key):
        g.operator, g.tenant_id = True, None
        return
    if allow_tenant:
        with _gateway().uow_factory() as uow:
            tenant = uow.api_keys.find_tenant(key)
            tenant_id = tenant.id if tenant is not None else None
        if tenant_id is not None:
            g.operator, g.tenant_id = False, tenant_id
            return
    if not allow_tenant and not _is_operator(key):
        raise Forbidden("this endpoint is for the operator key (GATEWAY_OPERATOR_KEY_SHA256)")
    raise Unauthorized("unknown or revoked API key")


def auth(*, operator: bool = False, tenant: bool = True):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            _authenticate(operator, tenant)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def _not_found(exc):
    raise NotFound(str(exc))


# ---- webhooks -----------------------------------------------------------------------------------
@bp.post("/webhooks")
@auth()
def create_webhook():
    data = bodies.json_value()
    if not isinstance(data, dict):
        raise OrderInvalid([Problem("$", "schema:type", 'the body is a JSON object: {"url": "https://...", '
                                    '"description": "..."}')])
    text_rules.check(data)
    gw = _gateway()
    try:
        view, secret = webhook_service.register(gw.uow_factory, gw.clock, None, g.tenant_id, data.get("url"),
                                                data.get("description", ""), events=data.get("events"),
                                                egress=gw.egress, secrets=gw.secrets)
    except webhook_service.WebhookInvalid as exc:
        return problem(422, "Webhook invalid", str(exc), "webhook-invalid", [Problem("$.url", "webhook", str(exc))])
    except webhook_service.WebhookConflict as exc:
        return problem(409, "Webhook exists", str(exc), "webhook-exists")
    view["secret"] = secret
    view["signature"] = {"scheme": "Standard Webhooks (standardwebhooks.com)",
                         "headers": ["webhook-id", "webhook-timestamp", webhook_service.SIGNATURE_HEADER],
                         "value": "v1,<base64 HMAC-SHA256 of '<webhook-id>.<webhook-timestamp>.<body>', "
                                  "key = base64-decoded secret after 'whsec_'>"}
    return jsonify(view), 201


@bp.get("/webhooks")
@auth()
def list_webhooks():
    return jsonify(webhooks=webhook_service.list_hooks(_gateway().uow_factory, g.tenant_id))


@bp.get("/webhooks/<hook_id>")
@auth()
def get_webhook(hook_id: str):
    try:
        return jsonify(webhook_service.get(_gateway().uow_factory, g.tenant_id, hook_id))
    except webhook_service.WebhookNotFound as exc:
        _not_found(exc)


@bp.delete("/webhooks/<hook_id>")
@auth()
def delete_webhook(hook_id: str):
    gw = _gateway()
    try:
        webhook_service.delete(gw.uow_factory, gw.clock, g.tenant_id, hook_id)
    except webhook_service.WebhookNotFound as exc:
        _not_found(exc)
    return "", 204


@bp.get("/webhooks/<hook_id>/deliveries")
@auth()
def webhook_deliveries(hook_id: str):
    limit = params.bounded_int("limit", 100, 1, MAX_LIMIT)
    state = params.choice("state", ("pending", "delivered", "failed", "cancelled"))
    try:
        rows = webhook_service.deliveries(_gateway().uow_factory, g.tenant_id, hook_id, limit, state)
    except webhook_service.WebhookNotFound as exc:
        _not_found(exc)
    return jsonify(deliveries=rows)


# ---- receipts in quarantine ---------------------------------------------------------------------
@bp.get("/receipts/quarantine")
@auth(operator=True)
def receipts_quarantine():
    limit = params.bounded_int("limit", 100, 1, MAX_LIMIT)
    rows = receipt_service.quarantine(_gateway().uow_factory, g.tenant_id, everything=g.operator, limit=limit)
    return jsonify(scope="all tenants" if g.operator else "tenant", receipts=rows)


# ---- dispatcher state -----------------------------------------------------------------------------
@bp.get("/dispatch/status")
@auth(operator=True, tenant=False)
def dispatch_status():
    return jsonify(_gateway().dispatcher.status())
