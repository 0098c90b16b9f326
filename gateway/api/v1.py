"""/v1: orders in, status and exact signed bytes out. Every request is authenticated by a tenant
API key and every query is scoped to that tenant."""
from __future__ import annotations

from functools import wraps

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from werkzeug.exceptions import NotFound, RequestEntityTooLarge, Unauthorized

from gateway.domain.cbec_export import intake as export_intake
from gateway.domain.cbec_import import intake as import_intake
from gateway.domain.general_trade import intake as gt_intake
from gateway.domain.problems import OrderInvalid, Problem
from gateway.service.declare import FilingInvalid
from gateway.service.order_search import FILING_STATES, ORDER_STATUSES, REGIMES, OrderFilters, list_orders
from gateway.service.orders import OrderConflict
from gateway.store.db import reader
from gateway.store.tenants import tenant_id_for_key

from . import bodies, paging
from .contract import INSTANT, doc, enum, ref, text
from .errors import problem_body
from .idempotent import guarded

bp = Blueprint("v1", __name__, url_prefix="/v1")

# the JSON Schema of each order format: the very documents intake validates with
ORDER_SCHEMAS = {"cbec-import": import_intake.SCHEMA, "cbec-export": export_intake.SCHEMA,
                 "general-trade": gt_intake.SCHEMA}
ANY_ORDER = {"anyOf": [ref("CbecImportOrder"), ref("CbecExportOrder"), ref("GeneralTradeOrder")]}
WWW_AUTHENTICATE = 'Bearer realm="gateway tenant API"'


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
            raise unauthorized("send the tenant API key as 'Authorization: Bearer <key>'", WWW_AUTHENTICATE)
        with reader(_gateway().uow_factory)() as uow:      # a read: never queued behind a writer
            tenant_id = tenant_id_for_key(uow.session, key)     # one statement, plain rows (store/tenants.py)
            if tenant_id is None:
                raise unauthorized("unknown or revoked API key", WWW_AUTHENTICATE + ', error="invalid_token"')
            g.tenant_id = tenant_id
        return guarded(lambda: view(*args, **kwargs))

    return wrapper


def unauthorized(message: str, challenge: str) -> Unauthorized:
    """A 401 with its WWW-Authenticate challenge (RFC 9110 §11.6.1)."""
    exc = Unauthorized(message)
    exc.www_authenticate = [challenge]      # type: ignore[list-item]   # werkzeug renders each with str()
    return exc


@bp.get("/schema/order")
@doc("JSON Schema of the CBEC import order (as /schema/order/cbec-import; kept for older clients)", auth=None,
     tags=("schemas",), responses={200: {"type": "object"}})
def order_schema():
    return jsonify(import_intake.SCHEMA.document)


@bp.get("/schema/order/<order_format>")
@doc("JSON Schema of one order format: cbec-import, cbec-export or general-trade", auth=None, tags=("schemas",),
     responses={200: {"type": "object"}})
def order_format_schema(order_format: str):
    schema = ORDER_SCHEMAS.get(order_format)
    if schema is None:
        raise NotFound(f"no order format {order_format[:40]!r} (formats: {', '.join(ORDER_SCHEMAS)})")
    return jsonify(schema.document)


ORDER_FILTERS = {
    "status": (enum(*ORDER_STATUSES), "the combined status"),
    "agency": (enum("customs", "inspection", "tax", "fx"), "with agency_status: the agency"),
    "agency_status": (enum(*FILING_STATES), "an order with a filing of `agency` in this state"),
    "regime": (enum(*REGIMES), "the customs regime"),
    "direction": (enum("import", "export"), "import or export"),
    "received_from": (INSTANT, "received at or after"),
    "received_to": (INSTANT, "received before"),
    "order_no": (text(60), "the order number (general trade: the client reference)"),
    "waybill": (text(60), "the logistics (waybill) number"),
    "q": (text(100), "text: the order number's start, or any text of the order as received (buyer, waybill …)"),
}


@bp.get("/orders")
@doc("List and search the tenant's orders, newest first", query=ORDER_FILTERS, paged="orders", tags=("orders",),
     responses={200: ref("OrderPage")})
@tenant_required
def search_orders():
    paging.only(*OrderFilters.NAMES)
    gw = _gateway()

    def read(cursor, limit):
        filters = OrderFilters.from_text(paging.filters(OrderFilters.NAMES))
        with gw.uow_factory() as uow:
            return list_orders(uow.session, g.tenant_id, filters, cursor, limit)

    return paging.page(read, "orders")


@bp.post("/orders")
@doc("Submit one order (any format): validated, built, signed and stored before the answer", tags=("orders",),
     body=ANY_ORDER, responses={201: ref("Submitted"), 200: ref("Submitted")},
     description="201: stored now; 200: the same order (same body) was stored before; 409: the order number "
                 "was used with another body; 422: every problem (path, rule, message), nothing stored.")
@tenant_required
def submit_order():
    submitted = _gateway().submit(g.tenant_id, bodies.json_text())
    body = {"id": submitted.order_id, "filings": submitted.filing_ids,
            "links": {"self": url_for("v1.get_order", order_id=submitted.order_id)}}
    if submitted.held:     # stored, not signed or sent: the operator releases it (docs/tax-fx.md "Held orders")
        body["held"] = list(submitted.held)
    return jsonify(body), (201 if submitted.created else 200)


@bp.get("/orders/<order_id>")
@doc("One order: combined and per-agency status, filings and their receipts", tags=("orders",),
     responses={200: ref("Order")})
@tenant_required
def get_order(order_id: str):
    return jsonify(_gateway().order(g.tenant_id, order_id))


@bp.get("/filings/<filing_id>/xml")
@doc("The exact signed bytes of a filing", tags=("orders",), responses={200: ("application/xml", {"type": "string"})})
@tenant_required
def filing_xml(filing_id: str):
    message_type, data = _gateway().filing_bytes(g.tenant_id, filing_id)
    return Response(data, mimetype="application/xml",
                    headers={"Content-Disposition": f'inline; filename="{message_type}.xml"'})


@bp.post("/orders/batch")
@doc("Submit up to 1,000 orders: each item's result by its index", tags=("orders",),
     body={"type": "array", "minItems": 1, "maxItems": 1000, "items": ANY_ORDER}, responses={207: ref("BatchResult")})
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
        result = {"index": item.index, "status": 201 if s.created else 200, "id": s.order_id, "filings": s.filing_ids}
        if s.held:
            result["held"] = list(s.held)
        return result
    body.pop("instance")
    return {"index": item.index, **body}
