"""/v1 corrections and reversals (docs/corrections.md): modify, delete, cancel, return, history.

    POST /v1/orders/<id>/modify    body: the corrected order (JSON, as for POST /v1/orders)
    POST /v1/orders/<id>/cancel    body: {"reason": "..."}                      CEB623 / CEB605
    POST /v1/orders/<id>/return    body: {"reason": "...", "lines": [{"gnum": 1, "quantity": "1"}],
                                          "shipment": {...} (export only)}      CEB625 / CEB213
    POST /v1/filings/<id>/delete   body: {"reason": "..."} (optional)           appType 3
    GET  /v1/orders/<id>/history   versions, filings with what they correct, corrections, deadlines

201 with the new filing(s); 409 when the state does not allow it (the rule, and the e-port code it
stands for); 422 when the request is wrong (every problem: path, rule, message). Nothing is stored then.
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request, url_for

from gateway.domain import text_rules
from gateway.domain.problems import OrderInvalid, Problem
from gateway.service.corrections import CorrectionInvalid, CorrectionRefused, CorrectionService, history

from . import bodies
from .contract import doc, ref
from .errors import problem
from .v1 import ANY_ORDER, _gateway, tenant_required

bp = Blueprint("corrections", __name__, url_prefix="/v1")


@bp.app_errorhandler(CorrectionRefused)
def refused(exc: CorrectionRefused):
    refusal = exc.refusal.as_dict()
    return problem(409, "Correction refused", refusal.pop("message"), "correction-refused", **refusal)


@bp.app_errorhandler(CorrectionInvalid)
def invalid(exc: CorrectionInvalid):
    return problem(422, "Correction invalid", f"{len(exc.problems)} problem(s): see problems", "correction-invalid",
                   exc.problems)


def _service() -> CorrectionService:
    return CorrectionService.for_gateway(_gateway())


def _object(*names: str) -> dict:
    """The request's JSON object (an empty body is ``{}``), with no field but ``names``; every string
    passes the text rules (reasons are free text: line breaks allowed, control characters not)."""
    if not request.content_length and not request.headers.get("Transfer-Encoding"):
        return {}
    try:
        data = bodies.json_value()
        if not isinstance(data, dict):
            raise CorrectionInvalid([Problem("$", "json", "the body is a JSON object")])
        text_rules.check(data)
    except OrderInvalid as exc:
        raise CorrectionInvalid(exc.problems) from None
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise CorrectionInvalid([Problem(f"$.{name}", "unknown-field", f"not a field of this request "
                                         f"(fields: {', '.join(sorted(names))})") for name in unknown])
    return data


def _reason() -> str | None:
    """The reason of a cancellation or deletion (a body ``{"reason": ...}``, or none)."""
    return _object("reason").get("reason")


def _answer(done):
    return jsonify({
        "order_id": done.order_id, "kind": done.kind, "filings": done.filing_ids, "corrections": done.correction_ids,
        "withdrawn": done.withdrawn, "due_by": done.due_by.isoformat() if done.due_by else None,
        "order_version": done.order_version,
        "links": {"order": url_for("v1.get_order", order_id=done.order_id),
                  "history": url_for("corrections.order_history", order_id=done.order_id)},
    }), 201


@bp.post("/orders/<order_id>/modify")
@doc("Modify an order (appType 2): the corrected order, as for POST /v1/orders", tags=("corrections",),
     body=ANY_ORDER, responses={201: ref("CorrectionDone")})
@tenant_required
def modify(order_id: str):
    return _answer(_service().modify_order(g.tenant_id, order_id, bodies.json_text()))


@bp.post("/orders/<order_id>/resubmit")
@doc("Correct and declare again a rejected order (appType 2 of the refused documents; docs/corrections.md)",
     tags=("corrections",), body=ANY_ORDER, responses={201: ref("CorrectionDone")})
@tenant_required
def resubmit(order_id: str):
    """A rejected order, corrected: its refused documents are declared again (appType 2)."""
    return _answer(_service().resubmit_order(g.tenant_id, order_id, bodies.json_text()))


@bp.post("/orders/<order_id>/cancel")
@doc("Cancel a released inventory (CEB623 / CEB605)", tags=("corrections",), body=ref("Reason"),
     responses={201: ref("CorrectionDone")})
@tenant_required
def cancel(order_id: str):
    return _answer(_service().cancel(g.tenant_id, order_id, _reason()))


@bp.post("/orders/<order_id>/return")
@doc("Return goods of an order (CEB625 / CEB213)", tags=("corrections",), body=ref("Return"),
     responses={201: ref("CorrectionDone")})
@tenant_required
def return_goods(order_id: str):
    data = _object("reason", "lines", "shipment")
    return _answer(_service().return_order(g.tenant_id, order_id, data.get("lines"), data.get("reason"),
                                           data.get("shipment")))


@bp.post("/filings/<filing_id>/delete")
@doc("Delete a filing at customs (appType 3)", tags=("corrections",), body=ref("Reason"),
     responses={201: ref("CorrectionDone")})
@tenant_required
def delete(filing_id: str):
    return _answer(_service().delete_filing(g.tenant_id, filing_id, _reason()))


@bp.get("/orders/<order_id>/history")
@doc("An order's versions, filings with what they correct, corrections and deadlines", tags=("corrections",),
     responses={200: ref("History")})
@tenant_required
def order_history(order_id: str):
    gw = _gateway()
    return jsonify(history(gw.uow_factory, g.tenant_id, order_id, clock=gw.clock))
