"""/v1: orders in, status and exact signed bytes out. Every request is authenticated by a tenant
API key and every query is scoped to that tenant."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge, Unauthorized

from gateway.domain.cbec_import.intake import order_json_schema
from gateway.domain.problems import OrderInvalid, Problem
from gateway.service.declare import FilingInvalid
from gateway.service.orders import OrderConflict

from . import bodies
from .errors import problem_body

bp = Blueprint("v1", __name__, url_prefix="/v1")


def _gateway():
    return current_app.extensions["gateway"]


def _api_key() -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("X-Api-Key")


def tenant_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        key = _api_key()
        if not key:
            raise Unauthorized("send the tenant API key as 'Authorization: Bearer <key>'")
        with _gateway().uow_factory() as uow:
            tenant = uow.api_keys.find_tenant(key)
            if tenant is None:
                raise Unauthorized("unknown or revoked API key")
            g.tenant_id = tenant.id
        return view(*args, **kwargs)

    return wrapper


@bp.get("/schema/order")
def order_schema():
    return jsonify(order_json_schema())


@bp.post("/orders")
@tenant_required
def submit_order():
    submitted = _gateway().submit(g.tenant_id, bodies.json_text())
    body = {"id": submitted.order_id, "filings": submitted.filing_ids,
            "links": {"self": url_for("v1.get_order", order_id=submitted.order_id)}}
    return jsonify(body), (201 if submitted.created else 200)


@bp.get("/orders/<order_id>")
@tenant_required
def get_order(order_id: str):
    return jsonify(_gateway().order(g.tenant_id, order_id))


@bp.get("/filings/<filing_id>/xml")
@tenant_required
def filing_xml(filing_id: str):
    message_type, data = _gateway().filing_bytes(g.tenant_id, filing_id)
    return Response(data, mimetype="application/xml",
                    headers={"Content-Disposition": f'inline; filename="{message_type}.xml"'})


@bp.post("/orders/batch")
@tenant_required
def submit_batch():
    """Bulk upload: a JSON array of 1 to ``bodies.BATCH_ITEMS`` orders. Valid ones are stored together in
    one transaction; every item gets its own result by its index (201 created, 200 already there,
    409 conflict, 422 invalid, with the problem members of docs/errors.md)."""
    data = bodies.json_value()
    if not isinstance(data, list) or not data:
        raise OrderInvalid([Problem("$", "batch", "the body is a JSON array of 1 to "
                                    f"{bodies.BATCH_ITEMS:,} orders")])
    if len(data) > bodies.BATCH_ITEMS:
        raise RequestEntityTooLarge(f"{len(data):,} orders: a batch holds at most {bodies.BATCH_ITEMS:,}")
    results = [_item_result(item) for item in _gateway().submit_batch(g.tenant_id, data)]
    accepted = sum(1 for r in results if r["status"] in (200, 201))
    return jsonify(accepted=accepted, refused=len(results) - accepted, results=results), 207


def _item_result(item) -> dict:
    if isinstance(item.error, (OrderInvalid, FilingInvalid)):
        title = "Order invalid" if isinstance(item.error, OrderInvalid) else "Filing could not be built"
        body = problem_body(422, title, f"{len(item.error.problems)} problem(s): see problems",
                            "order-invalid" if isinstance(item.error, OrderInvalid) else "filing-invalid",
                            item.error.problems)
    elif isinstance(item.error, OrderConflict):
        body = problem_body(409, "Order conflict", str(item.error), "order-conflict")
    else:
        s = item.submitted
        return {"index": item.index, "status": 201 if s.created else 200, "id": s.order_id, "filings": s.filing_ids}
    body.pop("instance")
    return {"index": item.index, **body}
