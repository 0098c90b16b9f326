"""Storing and queueing a filing that belongs to no single order (docs/site-filings.md "Sending").

The document is what was filed, so it is stored as an ``orders`` row of its own kind (``orders.kind``,
migration 0036): the JSON exactly as received, the tenant, the filing party's code (``platform_code``) and
the document's number (``order_no``), with its signed filing(s) under it and their outbox rows on the
tenant's customs channel, in ONE transaction, before the caller acknowledges. From there the dispatcher,
the receipts (matched by guid, then business key, on the channel it went out on), the combined status,
webhooks, audit and the evidence bundle treat it as they treat an order.

- The number: the entry list's ``entry_no`` and the summary's ``summary_no`` (copNo, the number their
  receipts name); a waybill status and a return tally have no number of their own, so theirs is "SF" and
  18 hex digits of the SHA-256 of the canonical document (the same document filed again is the same one).
- Idempotent like orders: the same number with the same document answers the first submission; the same
  number with another document is a conflict (``OrderConflict``).
- The flat messages are sent one entity per message (``site_filings.parts``): a document of n waybill
  statuses or n tallied parcels has n filings, so each CEB514 / CEB216 names exactly one of them. They are
  independent of each other (all sequence 1): one refused does not hold the others back.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from gateway.domain import status as st
from gateway.domain.common.schema import loads, order_object
from gateway.domain.text_rules import decode
from gateway.store import models as m

from . import channels
from .declare import BuiltFiling, new_cop_no
from .filing_rows import FilingRows
from .orders import OrderConflict
from .site_filings import KINDS, parts, sign_document, tenant_transfer

# import or export side of each kind (orders.direction): the waybill status and the entry list are import
# messages (ceb-import.xsd), the return tally and the summary export ones (ceb-export.xsd)
DIRECTION = {"logistics-status": "import", "entry-list": "import", "return-tally": "export", "summary": "export"}


@dataclass(frozen=True)
class Filed:
    order_id: str                  # the document's row (orders, kind = the document's kind)
    kind: str
    number: str                    # orders.order_no
    filings: list[dict[str, Any]]  # {"id", "message_type", "guid", "business_key"} in sending order
    created: bool                  # False: the same document was stored before (this is that one)


def _canonical(data) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _read(body) -> tuple[dict, str]:
    """(the document, the text stored): a dict as given, JSON text (str or bytes) parsed; OrderInvalid else."""
    if isinstance(body, dict):
        return body, json.dumps(body, ensure_ascii=False, default=str)
    if not isinstance(body, (bytes, str)):
        return order_object(body), ""          # refused: a document is a JSON object
    text = decode(body)
    return order_object(loads(text)), text


def number_of(kind: str, document, body_sha256: str) -> str:
    if kind == "entry-list":
        return document.entry_no
    if kind == "summary":
        return document.summary_no
    return "SF" + body_sha256[:18].upper()


def _filed(uow, tenant_id: str, order, kind: str, body_hash: str) -> Filed:
    """The earlier submission under this number, or OrderConflict when it is another document."""
    if order.kind != kind or json.loads(order.normalized).get("body_sha256") != body_hash:
        raise OrderConflict(f"{kind} {order.order_no} of {order.platform_code} was already submitted "
                            f"with different content (id {order.id})")
    return Filed(order.id, kind, order.order_no, [
        {"id": f.id, "message_type": f.message_type, "guid": f.guid, "business_key": f.business_key}
        for f in uow.filings.for_order(tenant_id, order.id)], created=False)


def submit(uow_factory, declarer, key, clock, ids, tenant_id: str, kind: str, body,
           adapter: str | dict = "sandbox") -> Filed:
    """Validate, build, sign (the tenant's key: ``key`` or ``key(tenant_id)``) and store one ``kind``
    document with its filings and their outbox rows. Raises OrderInvalid (every problem; nothing stored),
    TenantNotFound, OrderConflict or FilingInvalid."""
    spec = KINDS[kind]
    now = clock.now()
    data, text = _read(body)
    document = spec.parse(data, now)
    body_hash = hashlib.sha256(_canonical(data).encode()).hexdigest()
    filer = getattr(document, spec.filer).code
    number = number_of(kind, document, body_hash)
    with uow_factory() as uow:
        transfer = tenant_transfer(uow, tenant_id, data)
        existing = uow.orders.find_by_number(tenant_id, filer, number)
        if existing is not None:
            return _filed(uow, tenant_id, existing, kind, body_hash)
    if callable(key):
        key = key(tenant_id)
    built_with = declarer.built_with(key)
    signed = [sign_document(kind, part, declarer=declarer, key=key, transfer=transfer, app_time=now)
              for part in parts(kind, document)]
    built = [BuiltFiling(message_type=s.message_type, agency=channels.CUSTOMS, sequence=1, guid=s.guid,
                         business_key=s.business_keys[0], signed_bytes=s.signed_bytes, sha256=s.sha256)
             for s in signed]      # independent of each other: all sequence 1, on the customs channel
    order_id = ids.new_guid()
    try:
        with uow_factory() as uow:
            uow.session.add(m.Order(
                id=order_id, tenant_id=tenant_id, kind=kind, order_no=number, regime=spec.message_type[:6],
                direction=DIRECTION[kind], platform_code=filer, body=text,
                normalized=_canonical({"body_sha256": body_hash, "app_time": now.isoformat(), "kind": kind,
                                       "built_with": built_with, "transfer": transfer.__dict__}),
                status=st.IN_PROGRESS, status_reason=None, cop_no=new_cop_no(order_id), received_at=now,
                updated_at=now))
            uow.flush()
            filing_rows = FilingRows(uow, tenant_id, adapter, now, built_with)
            filing_ids = filing_rows.add(ids, order_id, built, [(
                "order.received", {"order_no": number, "kind": kind, "regime": spec.message_type[:6],
                                   "body_sha256": body_hash,
                                   "body_text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()})])
            filing_rows.write()
            uow.commit()
    except IntegrityError:
        # a concurrent submission stored this number first: answer from what it stored
        with uow_factory() as uow:
            existing = uow.orders.find_by_number(tenant_id, filer, number)
            if existing is None:
                raise
            return _filed(uow, tenant_id, existing, kind, body_hash)
    return Filed(order_id, kind, number, [
        {"id": fid, "message_type": b.message_type, "guid": b.guid, "business_key": b.business_key}
        for fid, b in zip(filing_ids, built, strict=True)], created=True)
