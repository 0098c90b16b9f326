"""Reading what is stored about an order for a correction: its body versions, the filings that stand,
the inventory's numbers and release as customs' receipts told them, and what was returned already."""
from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from gateway.declarations.ceb_reversals import InventoryRef
from gateway.domain import corrections as rules
from gateway.domain import status as st
from gateway.domain.common.dates import CHINA_TZ
from gateway.domain.common.schema import loads
from gateway.domain.problems import OrderInvalid, Problem
from gateway.store import models as m

from .results import CorrectionRefused


def _read_body(body) -> tuple[str, dict]:
    if isinstance(body, dict):
        return json.dumps(body, ensure_ascii=False, default=str), body
    try:
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    except UnicodeDecodeError as exc:
        raise OrderInvalid([Problem("$", "json", f"not UTF-8 text: {exc}")]) from None
    if not isinstance(text, str):
        raise OrderInvalid([Problem("$", "schema:type", "an order is a JSON object")])
    data = loads(text)
    if not isinstance(data, dict):
        raise OrderInvalid([Problem("$", "schema:type", "an order is a JSON object")])
    return text, data


def _app_time(order: m.Order) -> datetime:
    try:
        return datetime.fromisoformat(json.loads(order.normalized)["app_time"])
    except (KeyError, TypeError, ValueError):
        return order.received_at


def _last_version(uow, order: m.Order) -> int:
    versions = uow.session.scalars(select(m.OrderVersion.version).where(m.OrderVersion.order_id == order.id)).all()
    return max(versions, default=1)


def _current_body(uow, order: m.Order, filings) -> tuple[int, str, str]:
    """(version, body, sha256 of its canonical JSON) of the order as it stands: the newest version not
    refused in full by customs (its every correction rejected); version 1 is ``orders.body``."""
    versions = list(uow.session.scalars(select(m.OrderVersion).where(m.OrderVersion.order_id == order.id)
                                        .order_by(m.OrderVersion.version.desc())))
    states = {f.id: f.state for f in filings}
    for v in versions:
        made = uow.session.scalars(select(m.Correction.filing_id).where(
            m.Correction.order_id == order.id, m.Correction.order_version == v.version)).all()
        if made and all(states.get(fid) == st.REJECTED for fid in made):
            continue
        return v.version, v.body, v.body_sha256
    return 1, order.body, json.loads(order.normalized).get("body_sha256", "")


def _body_of(uow, order: m.Order, filing: m.Filing) -> str:
    """The order body ``filing`` was built from: its correction's version, else version 1."""
    version = uow.session.scalar(select(m.Correction.order_version).where(m.Correction.filing_id == filing.id))
    if version:
        body = uow.session.scalar(select(m.OrderVersion.body).where(m.OrderVersion.order_id == order.id,
                                                                    m.OrderVersion.version == version))
        if body is not None:
            return body
    return order.body


def _view(f: m.Filing) -> st.FilingView:
    return st.FilingView(f.message_type, f.agency, f.state, id=f.id, app_type=f.app_type or "1",
                         corrects=f.corrects_id)


def _current(filings) -> dict[str, m.Filing]:
    by_id = {f.id: f for f in filings}
    return {mt: by_id[v.id] for mt, v in rules.current_versions([_view(f) for f in filings]).items()}


def _doc(uow, filing: m.Filing, now: datetime) -> rules.Doc:
    in_flight = False
    if filing.state == st.PENDING:
        row = uow.outbox.for_filing(filing.tenant_id, filing.id)
        in_flight = row is not None and (bool(row.in_doubt) or (row.claimed_until is not None and row.claimed_until > now))
    return rules.Doc(filing.message_type, filing.state, filing.last_status_code, in_flight, filing.app_type or "1")


def _inventory(current: dict, direction: str) -> m.Filing:
    mt = "CEB621Message" if direction == "import" else "CEB603Message"
    inventory = current.get(mt)
    if inventory is None:
        raise CorrectionRefused(rules.Refusal("no-inventory", f"the order has no {mt} that stands"))
    return inventory


def _reversals_of(filings, inventory: m.Filing) -> list[m.Filing]:
    return [f for f in filings if f.corrects_id == inventory.id and f.message_type in rules.REVERSAL_TYPES]


def _receipt_fields(uow, filing: m.Filing) -> list[tuple[m.ReceiptEvent, dict]]:
    rows = uow.session.scalars(select(m.ReceiptEvent).where(m.ReceiptEvent.filing_id == filing.id)
                               .order_by(m.ReceiptEvent.id)).all()
    out = []
    for r in rows:
        try:
            out.append((r, json.loads(r.parsed or "{}")))
        except ValueError:
            continue
    return out


def _inventory_ref(uow, order: m.Order, inventory: m.Filing) -> InventoryRef:
    """copNo (ours), and preNo and invtNo as customs' receipts told them; the invtNo is required."""
    pre_no = invt_no = None
    for _, fields in _receipt_fields(uow, inventory):
        pre_no = fields.get("preNo") or pre_no
        invt_no = fields.get("invtNo") or invt_no
    if not invt_no:
        raise CorrectionRefused(rules.Refusal("inventory-number-unknown", f"no receipt of {inventory.message_type} "
                                              "gave its inventory number (invtNo) yet"))
    if pre_no is not None and len(pre_no) != 18:
        pre_no = None
    return InventoryRef(order.cop_no, invt_no, pre_no)


def _ref_dict(ref: InventoryRef) -> dict:
    return {"copNo": ref.cop_no, "invtNo": ref.invt_no, "preNo": ref.pre_no}


def _released_at(uow, inventory: m.Filing) -> datetime | None:
    """When customs released the inventory: the returnTime of the first applied 800/899 receipt (China
    time), else when we applied it."""
    for event, _ in _receipt_fields(uow, inventory):
        if event.outcome == "applied" and st.state_for(event.message_type, event.status_code or "") == st.RELEASED:
            return _receipt_time(event.status_time) or event.at
    return None


def _receipt_time(text: str | None) -> datetime | None:
    if not text or len(text) < 14 or not text[:14].isdigit():
        return None
    try:
        return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=CHINA_TZ)
    except ValueError:
        return None


def _returned_quantities(uow, filings, inventory: m.Filing) -> dict[int, Decimal]:
    """gnum -> quantity in the returns of this inventory that customs has not refused."""
    states = {f.id: f.state for f in filings}
    rows = uow.session.scalars(select(m.Correction).where(m.Correction.target_id == inventory.id,
                                                          m.Correction.kind == "return")).all()
    out: dict[int, Decimal] = {}
    for c in rows:
        if states.get(c.filing_id) in (st.REJECTED, st.WITHDRAWN):
            continue
        for line in json.loads(c.detail).get("lines", []):
            out[int(line["gnum"])] = out.get(int(line["gnum"]), Decimal(0)) + Decimal(line["quantity"])
    return out
