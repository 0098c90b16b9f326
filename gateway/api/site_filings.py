"""/v1/site-filings: the filings of other parties that belong to no single order (docs/site-filings.md).

    POST /v1/site-filings/logistics-status   the carrier's waybill status          CEB513
    POST /v1/site-filings/entry-list         the site operator's entry list        CEB711
    POST /v1/site-filings/return-tally       the site operator's return tally      CEB215
    POST /v1/site-filings/summary            a summary application listing invtNo  CEB701

The body is the JSON document (the schemas in gateway/domain/site_filings/ and
gateway/domain/cbec_export/summary.schema.json). 201: stored with its filings and queued on the tenant's
channel before the answer; 200: the same document was stored before; 409: its number was used with another
document; 422: every problem (path, rule), nothing stored. The document is then read like an order:
GET /v1/orders/<id> (combined status, filings, receipts).
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify, url_for

from gateway.service.site_filings import KINDS

from . import bodies
from .contract import doc, ref
from .v1 import _gateway, tenant_required

bp = Blueprint("site_filings", __name__, url_prefix="/v1")

# the OpenAPI component of each kind's document (api.openapi hoists the schemas under these names)
COMPONENTS = {"logistics-status": "LogisticsStatusDocument", "entry-list": "EntryListDocument",
              "return-tally": "ReturnTallyDocument", "summary": "SummaryApplicationDocument"}


def _view(kind: str):
    def file_site():
        filed = _gateway().file_site(g.tenant_id, kind, bodies.json_text())
        body = {"id": filed.order_id, "kind": filed.kind, "number": filed.number, "filings": filed.filings,
                "links": {"self": url_for("v1.get_order", order_id=filed.order_id)}}
        return jsonify(body), (201 if filed.created else 200)

    spec = KINDS[kind]
    file_site.__name__ = f"file_{kind.replace('-', '_')}"
    return doc(f"File a {spec.what} ({spec.message_type[:6]}): stored, signed and queued before the answer",
               tags=("site filings",), body=ref(COMPONENTS[kind]),
               responses={201: ref("SiteFiled"), 200: ref("SiteFiled")},
               description="201: stored now; 200: the same document was stored before; 409: its number was used "
                           "with another document; 422: every problem (path, rule, message), nothing stored. "
                           "Follow it with GET /v1/orders/{id}.")(tenant_required(file_site))


for _kind in KINDS:
    bp.add_url_rule(f"/site-filings/{_kind}", endpoint=f"file_{_kind.replace('-', '_')}", view_func=_view(_kind),
                    methods=["POST"])
