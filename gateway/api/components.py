"""The shared parts of the OpenAPI document (``api.openapi``): the problem+json error, the answers'
schemas, the Idempotency-Key parameter, the docs page. Views name these with ``contract.ref``."""
from __future__ import annotations

from gateway.service.idempotency import KEY_PATTERN
from gateway.service.listing import MAX_LIMIT

API_DESCRIPTION = f"""Orders in, signed filings to customs and the other agencies, status and evidence out.

* **Errors** are `application/problem+json` (RFC 9457) with the extension member `problems`
  (`path`, `rule`, `message`); see docs/errors.md.
* **Lists** share one cursor scheme: `limit` (1..{MAX_LIMIT}, default 100) and the opaque `cursor`
  (the `next` of the page before; `null` at the end), bound to the filters it was made with. Unknown
  query parameters answer 400 naming the parameter.
* **Idempotency-Key** on every authenticated POST: the same key with the same body replays the
  first answer (header `Idempotent-Replayed: true`); with another body: 422
  (rule `idempotency-key-reused`); while the first is still running: 409. Keys are kept per tenant
  for GATEWAY_IDEMPOTENCY_HOURS (default 24 h).
* `/healthz`, `/readyz` and `/metrics`, where deployed, are outside this contract (docs/api.md).
"""

STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 207: "Multi-Status: one result per item"}

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_OBJ = {"type": "object"}
_NEXT = {"type": ["string", "null"], "description": "cursor of the next page; null at the end"}


def _object(required: dict, optional: dict | None = None) -> dict:
    return {"type": "object", "required": sorted(required), "properties": {**required, **(optional or {})}}


def _page(key: str, item: dict, **extra) -> dict:
    return _object({key: {"type": "array", "items": item}, "next": _NEXT, **extra})


PROBLEM = _object(
    {"type": _STR, "title": _STR, "status": {"type": "integer", "minimum": 400, "maximum": 599}, "detail": _STR,
     "problems": {"type": "array", "items": _object({"path": _STR, "rule": _STR, "message": _STR})}},
    {"instance": _NSTR})

ORDER_SUMMARY = _object({"id": _STR, "order_no": _STR, "platform_code": _STR, "regime": _STR,
                         "direction": {"enum": ["import", "export"]}, "status": _STR, "status_reason": _NSTR,
                         "received_at": _STR, "updated_at": _STR})
FILING_VIEW = _object({"id": _STR, "message_type": _STR, "agency": _STR, "guid": _STR, "state": _STR,
                       "sha256": _STR, "receipts": {"type": "array", "items": _OBJ}})
ORDER_VIEW = _object({"id": _STR, "order_no": _STR, "regime": _STR, "direction": _STR, "platform_code": _STR,
                      "status": _STR, "agencies": _OBJ, "received_at": _STR,
                      "filings": {"type": "array", "items": FILING_VIEW}},
                     {"kind": {"enum": ["order", "logistics-status", "entry-list", "return-tally", "summary"]}})
SUBMITTED = _object({"id": _STR, "filings": {"type": "object", "additionalProperties": _STR},
                     "links": _object({"self": _STR})},
                    {"held": {"type": "array", "items": _STR}})   # held: the rules; no filing signed or sent
BATCH_RESULT = _object({"accepted": _INT, "refused": _INT, "results": {"type": "array", "items": _object(
    {"index": _INT, "status": {"enum": [200, 201, 409, 422]}},
    {"id": _STR, "filings": _OBJ, "error": _STR, "message": _STR, "problems": {"type": "array"},
     "held": {"type": "array", "items": _STR}})}})
WEBHOOK = _object({"id": _STR, "url": _STR, "description": _STR, "created_at": _STR, "deleted_at": _NSTR,
                   "deliveries": _OBJ})
DELIVERY = _object({"id": _INT, "event_id": _STR, "event_type": _STR, "state": _STR, "attempts": _INT,
                    "created_at": _STR, "event": _OBJ, "log": {"type": "array"}},
                   {"last_status": {"type": ["integer", "null"]}, "last_error": _NSTR, "delivered_at": _NSTR,
                    "next_attempt_at": _NSTR})
QUARANTINED = _object({"id": _INT, "adapter": _STR, "outcome": _STR, "sha256": _STR, "size": _INT,
                       "received_at": _STR, "preview": _STR},
                      {"reason": _NSTR, "tenant_id": _NSTR, "cursor": _NSTR})
KEY = _object({"id": _STR, "channel": _STR, "key_type": _STR, "key_name": _STR, "state": _STR,
               "not_before": _STR, "not_after": _STR, "warnings": {"type": "array", "items": _STR}})
CORRECTION_DONE = _object({"order_id": _STR, "kind": _STR, "filings": _OBJ, "corrections": {"type": "array"},
                           "links": _OBJ}, {"withdrawn": {}, "due_by": _NSTR, "order_version": {}})
AUDIT_EVENT = _object({"id": _INT, "at": _STR, "tenant_id": _NSTR, "subject_type": _STR, "subject_id": _STR,
                       "action": _STR, "detail": {}, "prev_hash": _STR, "hash": _STR})
AUDIT_TENANT = _object({"id": _STR, "name": _STR, "cop_code": _STR, "cop_name": _STR, "dxp_id": _STR})
TENANT = _object({"id": _STR, "name": _STR, "cop_code": _STR, "cop_name": _STR, "dxp_id": _STR, "created_at": _STR,
                  "disabled_at": _NSTR})
API_KEY = _object({"id": _STR, "prefix": _STR, "label": _STR, "created_at": _STR, "revoked_at": _NSTR})
ENTERPRISE = _object({"code": _STR, "name": _STR, "created_at": _STR})
AUDIT_ORDER = _object({"id": _STR, "order_no": _STR, "regime": _STR, "status": _STR, "received_at": _STR})

SCHEMAS = {
    "Problem": PROBLEM,
    "OrderSummary": ORDER_SUMMARY,
    "OrderPage": _page("orders", {"$ref": "#/components/schemas/OrderSummary"}),
    "Order": ORDER_VIEW,
    "Submitted": SUBMITTED,
    "SiteFiled": _object({"id": _STR, "kind": _STR, "number": _STR, "links": _OBJ,
                          "filings": {"type": "array", "items": _object({"id": _STR, "message_type": _STR, "guid": _STR,
                                                                         "business_key": _STR})}}),
    "BatchResult": BATCH_RESULT,
    "Webhook": WEBHOOK,
    "NewWebhook": _object({"url": {"type": "string", "maxLength": 2000}},
                          {"description": {"type": "string", "maxLength": 200}}),
    "WebhookCreated": {"allOf": [WEBHOOK, _object({"secret": _STR, "signature": _OBJ})]},
    "WebhookPage": _page("webhooks", WEBHOOK),
    "DeliveryPage": _page("deliveries", DELIVERY),
    "QuarantinePage": _page("receipts", QUARANTINED, scope={"enum": ["tenant", "all tenants"]}),
    "KeyPage": _page("keys", KEY, warnings={"type": "array", "items": _STR}, signing_with=_STR, channel=_STR),
    "CorrectionDone": CORRECTION_DONE,
    "History": _object({"order_id": _STR, "versions": {"type": "array"}, "filings": {"type": "array"},
                        "corrections": {"type": "array"}}),
    "Reason": {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 255}}},
    "Return": {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 255},
                                                "lines": {"type": "array", "items": _OBJ}, "shipment": _OBJ}},
    "PaymentRawStored": _object({"order_id": _STR, "stored": {"type": "array", "items": _STR}}),
    "AuditTenantPage": _page("tenants", AUDIT_TENANT),
    "TenantPage": _page("tenants", TENANT),
    "ApiKeyPage": _page("api_keys", API_KEY),
    "EnterprisePage": _page("enterprises", ENTERPRISE, tenant_id=_STR, own=_STR),
    "AuditOrderPage": _page("orders", AUDIT_ORDER),
    "AuditEventPage": _page("events", AUDIT_EVENT),
    "AuditOrder": _object({"id": _STR, "tenant_id": _STR, "order_no": _STR, "status": _STR,
                           "filings": {"type": "array", "items": _OBJ}}),
    "ChainReport": _object({"summary": _STR}),
    "DispatchStatus": _OBJ,
}

RESPONSES = {"Problem": {"description": "an error: what is wrong, in `problems` (path, rule, message)",
                         "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
PARAMETERS = {"IdempotencyKey": {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "pattern": KEY_PATTERN.pattern, "maxLength": 200},
    "description": "retry safely: the same key and body replay the first answer (docs/api.md)"}}
HEADERS = {"RequestId": {"schema": {"type": "string"}, "description": "the request's id (sent or generated)"}}

DOCS_FILES = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png")
DOCS_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Gateway API</title>
<link rel="stylesheet" href="/v1/docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="/v1/docs/static/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="/v1/docs/static/swagger-ui-bundle.js"></script>
<script src="/v1/docs/static/swagger-ui-standalone-preset.js"></script>
<script src="/v1/docs/static/init.js"></script>
</body></html>
"""
DOCS_INIT = ('window.ui = SwaggerUIBundle({url: "/v1/openapi.json", dom_id: "#swagger-ui", '
             'presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"});\n')
