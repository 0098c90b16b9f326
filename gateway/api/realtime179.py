"""The 179 real-time payment data endpoints (ceb-messages.md §9, docs/signing.md):

* ``POST /ceb179/<tenant id>/platDataOpen`` — called by customs with form field ``openReq``;
  answers at once {"code": "10000", "message": "", "serviceTime": …} and uploads the signed data in
  the background, once per (order, sessionID). No tenant API key: customs finds it at the URL
  registered in the 通关服务系统 (one per tenant) and checks the signature of what comes back against
  the registered certificate. Bounded: 8 KiB body (413), a per-tenant rate limit (429), an optional
  source-address allow-list (403), unknown or disabled tenant 404 — each with
  {"code": "20000", "message": …}.
* ``POST /ceb179/platDataOpen`` (the old, tenant-less URL) — 410 Gone with the message naming the
  new URL; nothing is looked up or uploaded (docs/signing.md "179").
* ``POST /v1/orders/<id>/payment-raw`` — the tenant stores the raw payment-company request and
  response and the other 179 fields orders do not carry (201; the latest body counts).
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import ServiceUnavailable

from gateway.domain import text_rules
from gateway.domain.problems import OrderInvalid, Problem
from gateway.service.realtime179_calls import MAX_BODY

from . import bodies
from .contract import doc, ref
from .errors import problem
from .v1 import _gateway, tenant_required

bp = Blueprint("realtime179", __name__)
# what customs' 179 client reads, success or refusal (ceb-messages.md §9): not problem+json
ANSWER_179 = {"type": "object", "required": ["code", "message", "serviceTime"],
              "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                             "serviceTime": {"type": "integer"}}}


def _service():
    service = getattr(_gateway(), "realtime179", None)
    if service is None:
        raise ServiceUnavailable("the 179 real-time data service is not configured")
    return service


@bp.post("/ceb179/<tenant_id>/platDataOpen")
@doc("Customs asks for an order's payment data (179), per tenant: answered at once, uploaded signed in the "
     "background; idempotent per order and session, rate-limited", auth=None, tags=("179",),
     body=("application/x-www-form-urlencoded", {"type": "object", "properties": {"openReq": {"type": "string"}}}),
     responses={status: ANSWER_179 for status in (200, 403, 404, 413, 429)})
def plat_data_open(tenant_id: str):
    service = _service()
    if request.content_length is None or request.content_length > MAX_BODY:
        return jsonify(code="20000", message=f"the request body is limited to {MAX_BODY} bytes (with Content-Length)",
                       serviceTime=0), 413
    status, answer = service.open_call(tenant_id, request.form.get("openReq"), request.remote_addr)
    return jsonify(answer), status


@bp.post("/ceb179/platDataOpen")
@doc("The retired shared 179 URL: answers 410 and names the per-tenant URL", auth=None, tags=("179",),
     responses={410: {"type": "object"}})
def plat_data_open_moved():
    return jsonify(code="20000", serviceTime=0,
                   message="this URL is retired: register https://<gateway>/ceb179/<tenant id>/platDataOpen "
                           "with customs (one URL per tenant)"), 410


@bp.post("/v1/orders/<order_id>/payment-raw")
@doc("Store the raw payment exchange and the other 179 fields of an order", tags=("179",),
     body={"type": "object"}, responses={201: ref("PaymentRawStored")})
@tenant_required
def payment_raw(order_id: str):
    from gateway.service.realtime179 import PaymentRawInvalid

    body = bodies.json_value()
    if not isinstance(body, dict):
        raise OrderInvalid([Problem("$", "schema:type", "send the raw payment data as a JSON object")])
    text_rules.check(body, free_text=True)      # raw requests and responses, kept as given
    try:
        stored = _service().store_payment_raw(g.tenant_id, order_id, body)
    except PaymentRawInvalid as e:
        return problem(422, "Payment data invalid", str(e), "payment-data-invalid", [Problem("$", "payment-raw", str(e))])
    return jsonify({"order_id": order_id, "stored": sorted(stored)}), 201
