"""/v1 delivery endpoints: webhooks (tenant), receipts in quarantine (tenant / operator) and the
dispatcher's state (operator).

    POST   /v1/webhooks                   {"url": "https://...", "description": "...", "events": [...]}
                                          → 201, with the signing secret (shown this once); 422 for
                                          a URL pointing to an internal address, 409 for a URL the
                                          tenant already registered
    GET    /v1/webhooks                   the tenant's webhooks (never the secret)
    GET    /v1/webhooks/<id>
    DELETE /v1/webhooks/<id>              → 204; pending deliveries are cancelled, the log stays
    GET    /v1/webhooks/<id>/deliveries   ?state=pending|delivered|failed|cancelled&limit=&cursor=
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
from werkzeug.exceptions import Forbidden, NotFound

from gateway.domain import text_rules
from gateway.domain.problems import OrderInvalid, Problem
from gateway.service.delivery import receipts as receipt_service
from gateway.service.delivery import webhooks as webhook_service
from gateway.store.db import reader
from gateway.store.tenants import tenant_id_for_key

from . import bodies, paging, params
from .contract import OPERATOR, TENANT, doc, enum, ref
from .errors import problem
from .idempotent import guarded
from .v1 import WWW_AUTHENTICATE, _api_key, _gateway, unauthorized

bp = Blueprint("delivery", __name__, url_prefix="/v1")
DELIVERY_STATES = ("pending", "delivered", "failed", "cancelled")

OPERATOR_SETTING = "GATEWAY_OPERATOR_KEY_SHA256"


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
    challenge = (WWW_AUTHENTICATE if allow_tenant else "") + (', ' if allow_tenant and allow_operator else "") + \
        ('Bearer realm="gateway operator API"' if allow_operator else "")
    if not key:
        raise unauthorized("send the API key as 'Authorization: Bearer <key>'", challenge)
    if allow_operator and _is_operator(key):
        g.operator, g.tenant_id = True, None
        return
    if allow_tenant:
        with reader(_gateway().uow_factory)() as uow:      # a read: never queued behind a writer
            tenant_id = tenant_id_for_key(uow.session, key)
        if tenant_id is not None:
            g.operator, g.tenant_id = False, tenant_id
            return
    if not allow_tenant and not _is_operator(key):
        raise Forbidden("this endpoint is for the operator key (GATEWAY_OPERATOR_KEY_SHA256)")
    raise unauthorized("unknown or revoked API key", challenge + ', error="invalid_token"')


def auth(*, operator: bool = False, tenant: bool = True):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            _authenticate(operator, tenant)
            return guarded(lambda: view(*args, **kwargs))

        return wrapper

    return decorator


def _not_found(exc):
    raise NotFound(str(exc))


# ---- webhooks -----------------------------------------------------------------------------------
@bp.post("/webhooks")
@doc("Register a webhook (the signing secret is shown this once)", tags=("webhooks",), body=ref("NewWebhook"),
     responses={201: ref("WebhookCreated")})
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
@doc("The tenant's webhooks, oldest first", tags=("webhooks",), paged="webhooks", responses={200: ref("WebhookPage")})
@auth()
def list_webhooks():
    paging.only()
    return paging.page(lambda cursor, limit: webhook_service.list_hooks(_gateway().uow_factory, g.tenant_id,
                                                                        cursor, limit), "webhooks")


@bp.get("/webhooks/<hook_id>")
@doc("One webhook with its delivery counts", tags=("webhooks",), responses={200: ref("Webhook")})
@auth()
def get_webhook(hook_id: str):
    try:
        return jsonify(webhook_service.get(_gateway().uow_factory, g.tenant_id, hook_id))
    except webhook_service.WebhookNotFound as exc:
        _not_found(exc)


@bp.delete("/webhooks/<hook_id>")
@doc("Delete a webhook: its pending deliveries are cancelled, the log stays", tags=("webhooks",),
     responses={204: None})
@auth()
def delete_webhook(hook_id: str):
    gw = _gateway()
    try:
        webhook_service.delete(gw.uow_factory, gw.clock, g.tenant_id, hook_id)
    except webhook_service.WebhookNotFound as exc:
        _not_found(exc)
    return "", 204


@bp.get("/webhooks/<hook_id>/deliveries")
@doc("The delivery log of a webhook, newest first", tags=("webhooks",), paged="deliveries",
     query={"state": (enum(*DELIVERY_STATES), "only deliveries in this state")}, responses={200: ref("DeliveryPage")})
@auth()
def webhook_deliveries(hook_id: str):
    paging.only("state")
    state = params.choice("state", DELIVERY_STATES)
    try:
        return paging.page(lambda cursor, limit: webhook_service.deliveries(
            _gateway().uow_factory, g.tenant_id, hook_id, limit, state, cursor), "deliveries")
    except webhook_service.WebhookNotFound as exc:
        _not_found(exc)


# ---- receipts in quarantine ---------------------------------------------------------------------
@bp.get("/receipts/quarantine")
@doc("Receipts that could not be applied, newest first (tenant: its own; operator: all)",
     auth=(TENANT, OPERATOR), tags=("receipts",), paged="receipts", responses={200: ref("QuarantinePage")})
@auth(operator=True)
def receipts_quarantine():
    paging.only()
    return paging.page(lambda cursor, limit: receipt_service.quarantine_page(
        _gateway().uow_factory, g.tenant_id, everything=g.operator, limit=limit, cursor=cursor),
        "receipts", scope="all tenants" if g.operator else "tenant")


# ---- dispatcher state -----------------------------------------------------------------------------
@bp.get("/dispatch/status")
@doc("The dispatcher: circuit breakers, outbox, webhook deliveries", auth=OPERATOR, tags=("operator",),
     responses={200: ref("DispatchStatus")})
@auth(operator=True, tenant=False)
def dispatch_status():
    return jsonify(_gateway().dispatcher.status())
