"""/v1/operator: the operator's tenant administration (operator key only, see api/webhooks.py for
how it is configured: GATEWAY_OPERATOR_KEY_SHA256).

    POST   /v1/operator/tenants                           {"name", "cop_code", "cop_name", "dxp_id",
                                                           "enterprises": [...]} → 201 with the first API key
    GET    /v1/operator/tenants                           every tenant, a page at a time (limit, cursor)
    GET    /v1/operator/tenants/<id>                      the tenant, its API keys (prefixes) and codes
    POST   /v1/operator/tenants/<id>/disable              its API keys stop working at once
    GET    /v1/operator/tenants/<id>/api-keys             a page of its keys; POST → 201 a new key {"label"} (shown once)
    DELETE /v1/operator/tenants/<id>/api-keys/<key id>    revoke: fails from the next request on
    POST   /v1/operator/tenants/<id>/api-keys/<key id>/rotate   a new key, the old one revoked
    GET    /v1/operator/tenants/<id>/enterprises          the codes the tenant may file under, a page at a time

The three lists are on the one cursor scheme (api/paging.py): ``limit`` and ``cursor`` in, ``{<items>:
[...], "next": cursor|null}`` out.
    POST   /v1/operator/tenants/<id>/enterprises          {"enterprises": [{"code": "...", "name": "..."}]} → 201
    DELETE /v1/operator/tenants/<id>/enterprises/<code>   → 204 (404 when not registered)
    POST   /v1/operator/tenants/<id>/orders/<order id>/release   {"reason"} → 200: a held order (a customs
                                                           rule it breaks, docs/tax-fx.md "Held orders") built,
                                                           signed and queued; 409 when it is not held
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import NotFound

from gateway.domain import text_rules
from gateway.domain.problems import OrderInvalid, Problem
from gateway.service import tenants as tenant_service
from gateway.service.holds import NotHeld

from . import bodies, paging
from .contract import OPERATOR, doc, ref
from .errors import problem
from .v1 import _gateway
from .webhooks import auth

bp = Blueprint("operator", __name__, url_prefix="/v1/operator")
OBJ = {"type": "object"}


def _json_object() -> dict:
    """The body: a bounded JSON object of text XML can carry (docs/errors.md), else 422."""
    data = bodies.json_value()
    if not isinstance(data, dict):
        raise OrderInvalid([Problem("$", "schema:type", "the body is a JSON object")])
    text_rules.check(data)
    return data


@bp.errorhandler(tenant_service.TenantNotFound)
def _tenant_not_found(exc):
    return problem(404, "Not Found", str(exc), "not-found")


@bp.errorhandler(tenant_service.KeyNotFound)
def _key_not_found(exc):
    return problem(404, "Not Found", str(exc), "not-found")


@bp.errorhandler(tenant_service.TenantInvalid)
def _tenant_invalid(exc):
    return problem(422, "Tenant invalid", str(exc), "tenant-invalid", [Problem(exc.path, exc.rule, str(exc))])


@bp.errorhandler(NotHeld)
def _not_held(exc):
    return problem(409, "Order not held", str(exc), "order-not-held")


@bp.post("/tenants")
@doc("Create a tenant with its enterprise codes; answers its first API key (shown once)", auth=OPERATOR, tags=("operator",), body=OBJ, responses={201: OBJ})
@auth(operator=True, tenant=False)
def create_tenant():
    data, gw = _json_object(), _gateway()
    enterprises = data.get("enterprises") or []
    if not isinstance(enterprises, list):
        raise OrderInvalid([Problem("$.enterprises", "schema:type", "enterprises is a list of codes")])
    view = tenant_service.create(gw.uow_factory, gw.clock, data.get("name"), data.get("cop_code"),
                                 data.get("cop_name"), data.get("dxp_id"), enterprises)
    return jsonify(view), 201


@bp.get("/tenants")
@doc("Every tenant, oldest first", auth=OPERATOR, tags=("operator",), paged="tenants",
     responses={200: ref("TenantPage")})
@auth(operator=True, tenant=False)
def list_tenants():
    paging.only()
    return paging.page(lambda cursor, limit: tenant_service.tenant_page(_gateway().uow_factory, cursor, limit),
                       "tenants")


@bp.get("/tenants/<tenant_id>")
@doc("One tenant with its API keys (prefixes) and enterprise codes", auth=OPERATOR, tags=("operator",), responses={200: OBJ})
@auth(operator=True, tenant=False)
def show_tenant(tenant_id: str):
    return jsonify(tenant_service.show(_gateway().uow_factory, tenant_id))


@bp.post("/tenants/<tenant_id>/disable")
@doc("Disable a tenant: its API keys stop working at once", auth=OPERATOR, tags=("operator",), responses={200: OBJ})
@auth(operator=True, tenant=False)
def disable_tenant(tenant_id: str):
    gw = _gateway()
    return jsonify(tenant_service.disable(gw.uow_factory, gw.clock, tenant_id))


@bp.get("/tenants/<tenant_id>/api-keys")
@doc("A tenant's API keys (prefixes, never the keys), oldest first", auth=OPERATOR, tags=("operator",),
     paged="api_keys", responses={200: ref("ApiKeyPage")})
@auth(operator=True, tenant=False)
def list_keys(tenant_id: str):
    paging.only()
    return paging.page(lambda cursor, limit: tenant_service.key_page(_gateway().uow_factory, tenant_id, cursor,
                                                                     limit), "api_keys")


@bp.post("/tenants/<tenant_id>/api-keys")
@doc("A new API key for the tenant (shown once)", auth=OPERATOR, tags=("operator",), body=OBJ, responses={201: OBJ})
@auth(operator=True, tenant=False)
def create_key(tenant_id: str):
    data = _json_object() if request.content_length else {}     # the body (a label) is optional
    gw = _gateway()
    return jsonify(tenant_service.create_key(gw.uow_factory, gw.clock, tenant_id, data.get("label", ""))), 201


@bp.delete("/tenants/<tenant_id>/api-keys/<key_id>")
@doc("Revoke an API key: refused from the next request on", auth=OPERATOR, tags=("operator",), responses={200: OBJ})
@auth(operator=True, tenant=False)
def revoke_key(tenant_id: str, key_id: str):
    gw = _gateway()
    return jsonify(tenant_service.revoke_key(gw.uow_factory, gw.clock, tenant_id, key_id))


@bp.post("/tenants/<tenant_id>/api-keys/<key_id>/rotate")
@doc("A new API key; the old one revoked in the same transaction", auth=OPERATOR, tags=("operator",), responses={201: OBJ})
@auth(operator=True, tenant=False)
def rotate_key(tenant_id: str, key_id: str):
    gw = _gateway()
    return jsonify(tenant_service.rotate_key(gw.uow_factory, gw.clock, tenant_id, key_id)), 201


@bp.get("/tenants/<tenant_id>/enterprises")
@doc("The enterprise codes a tenant may file under: its own (own) and the registered ones, by code",
     auth=OPERATOR, tags=("operator",), paged="enterprises", responses={200: ref("EnterprisePage")})
@auth(operator=True, tenant=False)
def list_enterprises(tenant_id: str):
    paging.only()
    uow_factory = _gateway().uow_factory
    own = tenant_service.own_code(uow_factory, tenant_id)
    return paging.page(lambda cursor, limit: tenant_service.enterprise_page(uow_factory, tenant_id, cursor, limit),
                       "enterprises", tenant_id=tenant_id, own=own)


@bp.post("/tenants/<tenant_id>/enterprises")
@doc("Register enterprise codes for a tenant", auth=OPERATOR, tags=("operator",), body=OBJ, responses={201: OBJ})
@auth(operator=True, tenant=False)
def add_enterprises(tenant_id: str):
    gw = _gateway()
    added = tenant_service.add_enterprises(gw.uow_factory, gw.clock, tenant_id, _json_object().get("enterprises"))
    return jsonify(added=added), 201


@bp.delete("/tenants/<tenant_id>/enterprises/<code>")
@doc("Remove a registered enterprise code", auth=OPERATOR, tags=("operator",), responses={204: None})
@auth(operator=True, tenant=False)
def remove_enterprise(tenant_id: str, code: str):
    if not tenant_service.remove_enterprise(_gateway().uow_factory, tenant_id, code):
        raise NotFound(f"{code} is not registered for tenant {tenant_id}")
    return "", 204


@bp.post("/tenants/<tenant_id>/orders/<order_id>/release")
@doc("Release a held order (a customs rule it breaks is known at intake): its filings are built, signed and "
     "queued; the reason is kept in the audit chain", auth=OPERATOR, tags=("operator",), body=OBJ,
     responses={200: OBJ})
@auth(operator=True, tenant=False)
def release_held(tenant_id: str, order_id: str):
    data, gw = _json_object(), _gateway()
    released = gw.release_held(tenant_id, order_id, data.get("reason") or "")
    return jsonify(order_id=released.order_id, filings=released.filing_ids,
                   status=gw.order(tenant_id, order_id)["status"])

