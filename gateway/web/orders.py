"""Console pages of orders: the list, an order's page (per-agency board, signed XML and its
signature check, receipts, reasons, actions) and the confirmed cancel / return."""
from __future__ import annotations

from datetime import date, timedelta

from flask import flash, g, redirect, render_template, request, url_for
from lxml import etree

from gateway.domain.problems import OrderInvalid
from gateway.service import orders as order_service
from gateway.service.corrections import CorrectionInvalid, CorrectionRefused, CorrectionService
from gateway.service.declare import FilingInvalid
from gateway.service.listing import BadCursor
from gateway.service.order_search import (
    FILING_STATES,
    ORDER_STATUSES,
    REGIMES,
    FilterInvalid,
    OrderFilters,
    list_orders,
    status_counts,
)
from gateway.signing import SignatureInvalid, verify
from gateway.signing.verifier import parse_hardened
from gateway.store import models as m

from .access import download, scoped
from .blueprint import bp, gateway
from .session import login_required, record_auditor_read

AGENCY_ORDER = ("customs", "inspection", "tax", "fx")
PAGE_SIZE = 50
# the console's form fields → the order search's filters (gateway/service/order_search.py)
FORM = {"status": "status", "agency": "agency", "agency_state": "agency_status", "regime": "regime",
        "direction": "direction", "q": "q", "from": "received_from"}


def _search(args) -> tuple[OrderFilters, tuple[str, ...], str | None]:
    """The filters of the form, the tenants in scope and the one the form narrowed to (an auditor's
    choice among several). ``to`` is inclusive in the form: received before the next China day."""
    values = {name: (args.get(field) or "").strip() for field, name in FORM.items()}
    to = (args.get("to") or "").strip()
    if to:
        try:
            values["received_to"] = (date.fromisoformat(to) + timedelta(days=1)).isoformat()
        except ValueError:
            raise FilterInvalid("to", "a date like 2026-11-20") from None
    tenant = (args.get("tenant") or "").strip() or None
    if tenant is not None and tenant not in g.who.tenant_ids:
        raise FilterInvalid("tenant", "one of the clients you may read")
    return OrderFilters.from_text(values), ((tenant,) if tenant else tuple(g.who.tenant_ids)), tenant


@bp.get("/orders")
@login_required("tenant", "auditor")
def orders():
    try:
        filters, scope, tenant = _search(request.args)
        with gateway().uow_factory() as uow:
            page = list_orders(uow.session, scope, filters, request.args.get("cursor") or None, PAGE_SIZE)
            counts = status_counts(uow.session, scope, filters)
    except (FilterInvalid, BadCursor) as exc:
        field = {name: field for field, name in FORM.items()} | {"received_to": "to"}
        message = (f"{field.get(exc.name, exc.name)}: {exc.message}" if isinstance(exc, FilterInvalid)
                   else f"cursor: {exc}")
        return render_template("orders.html", page=None, counts=None, error=message, args=request.args,
                               choices=_choices()), 400
    record_auditor_read(g.who, tenant)
    return render_template("orders.html", page=page, counts=counts, total=sum(counts.values()), error=None,
                           args=request.args, choices=_choices())


def _choices() -> dict:
    return {"status": ORDER_STATUSES, "agency": m.AGENCIES, "agency_state": FILING_STATES,
            "regime": REGIMES, "direction": m.DIRECTIONS, "tenants": g.who.tenant_ids}


def _scoped_order(order_id: str) -> m.Order:
    return scoped(m.Order, order_id, "order")


def _signature(data: bytes) -> dict:
    try:
        verified = verify(data)
    except SignatureInvalid as exc:
        return {"ok": False, "text": f"signature does not verify: {exc.reason}"}
    subject = verified.certificate.subject.rfc4514_string()
    return {"ok": True, "text": f"signature verifies ({verified.algorithms.signature_method.rsplit('#', 1)[-1]}), "
                                f"signed by {subject} (key {verified.key_name})"}


def _readable(data: bytes) -> str:
    """The signed XML indented for reading (a copy; the download gives the exact bytes)."""
    try:
        root = parse_hardened(data).getroot()
    except etree.XMLSyntaxError:
        return data.decode("utf-8", "replace")
    copy = etree.fromstring(etree.tostring(root))
    etree.indent(copy, space="  ")
    return etree.tostring(copy, encoding="unicode")


@bp.get("/orders/<order_id>")
@login_required("tenant", "auditor")
def order(order_id: str):
    o = _scoped_order(order_id)
    view = order_service.order_view(gateway().uow_factory, o.tenant_id, o.id)
    with gateway().uow_factory() as uow:
        signed = {f.id: bytes(f.signed_bytes) for f in uow.filings.for_order(o.tenant_id, o.id)}
    board: dict[str, list[dict]] = {a: [] for a in AGENCY_ORDER}
    for f in view["filings"]:
        f["signature"] = _signature(signed[f["id"]])
        f["xml"] = _readable(signed[f["id"]])
        board.setdefault(f["agency"], []).append(f)
    record_auditor_read(g.who, o.tenant_id)
    actions = _actions(view) if g.who.role == "tenant" else []
    return render_template("order.html", order=view, board=board, actions=actions)


def _actions(view: dict) -> list[str]:
    """What the console offers; the correction service decides (and says why it refuses)."""
    if view["regime"] == "0110":
        return []
    if view["status"] == "released":
        return ["cancel", "return"]
    if view["status"] == "in_progress":
        return ["cancel"]
    if view["status"] == "rejected":
        return ["resubmit"]
    return []


@bp.get("/filings/<filing_id>/xml")
@login_required("tenant", "auditor")
def filing_xml(filing_id: str):
    f = scoped(m.Filing, filing_id, "filing")
    record_auditor_read(g.who, f.tenant_id)
    return download(bytes(f.signed_bytes), "application/xml", f"{f.message_type}-{filing_id}.xml", f.sha256)


@bp.route("/orders/<order_id>/<any(cancel, return):action>", methods=["GET", "POST"])
@login_required("tenant")
def reverse(order_id: str, action: str):
    """GET: the confirmation page; POST (with the reason and the CSRF token): do it."""
    o = _scoped_order(order_id)
    if request.method == "GET":
        return render_template("confirm.html", order=o, action=action)
    reason = request.form.get("reason", "")
    service = CorrectionService.for_gateway(gateway())
    try:
        if action == "cancel":
            done = service.cancel(o.tenant_id, o.id, reason)
        else:
            done = service.return_order(o.tenant_id, o.id, None, reason)
    except CorrectionRefused as exc:
        refusal = exc.refusal.as_dict()
        flash(f"{action} refused: {refusal.get('message', '')} (rule {refusal.get('rule', '')})", "error")
        return redirect(url_for("console.order", order_id=o.id))
    except CorrectionInvalid as exc:
        return render_template("confirm.html", order=o, action=action, reason=reason,
                               problems=[p.as_dict() for p in exc.problems]), 422
    flash(f"{action} filed ({', '.join(done.filing_ids)}); customs' answer will show on this page", "ok")
    return redirect(url_for("console.order", order_id=o.id))


@bp.route("/orders/<order_id>/resubmit", methods=["GET", "POST"])
@login_required("tenant")
def resubmit(order_id: str):
    """GET: the order as filed, in a form to correct; POST (with the CSRF token): declare it again."""
    o = _scoped_order(order_id)
    service = CorrectionService.for_gateway(gateway())
    if request.method == "GET":
        return render_template("resubmit.html", order=o, body=service.current_body(o.tenant_id, o.id))
    body = request.form.get("body", "")
    try:
        done = service.resubmit_order(o.tenant_id, o.id, body)
    except CorrectionRefused as exc:
        flash(f"resubmit refused: {exc.refusal.message} (rule {exc.refusal.rule})", "error")
        return redirect(url_for("console.order", order_id=o.id))
    except (CorrectionInvalid, OrderInvalid, FilingInvalid) as exc:
        return render_template("resubmit.html", order=o, body=body,
                               problems=[p.as_dict() for p in exc.problems]), 422
    flash(f"corrected order filed again (version {done.order_version}: {', '.join(done.filing_ids)}); "
          "customs' answer will show on this page", "ok")
    return redirect(url_for("console.order", order_id=o.id))
