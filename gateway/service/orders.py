"""Submitting orders and reading them back. Owns the transaction: an order, its signed filings (customs,
inspection, tax, FX), their outbox rows, the buyer's CBEC annual amount and audit events are committed
together, before the caller acknowledges."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from gateway.declarations.common import Transfer
from gateway.domain import enterprises
from gateway.domain import status as st
from gateway.domain.common.dates import china_date
from gateway.domain.common.schema import loads
from gateway.domain.date_window import DEFAULT_WINDOW, DateWindow
from gateway.domain.parse import order_number
from gateway.domain.parse import parse_order as parse_any
from gateway.domain.problems import OrderInvalid, Problem
from gateway.domain.text_rules import decode
from gateway.signing.tenant_keys import TenantKeys
from gateway.store import annual
from gateway.store import models as m
from gateway.store.db import reader
from gateway.store.tenants import sender_and_codes

from . import agencies
from .declare import Declarer, FilingInvalid, new_cop_no
from .filing_rows import FilingRows, core_insert


class OrderConflict(Exception):
    """The tenant already submitted this order number for this platform with a different body."""


class NotFound(Exception):
    pass


@dataclass(frozen=True)
class Submitted:
    order_id: str
    filing_ids: dict[str, str]    # message type -> filing id
    created: bool                 # False when an identical earlier submission was returned
    held: tuple[str, ...] = ()    # the rules the order is held for (status "held": nothing signed or sent)


def _canonical_json(data) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def submit_order(uow_factory, declarer: Declarer, key, clock, ids, tenant_id: str, body: bytes | str,
                 adapter: str | Mapping[str, str | None] = "sandbox", *, window: DateWindow = DEFAULT_WINDOW
                 ) -> Submitted:
    """Validate, build, sign and store one order. Raises OrderInvalid (nothing stored) or
    OrderConflict. Submitting the same body again returns the first submission (idempotent)."""
    item = submit_batch(uow_factory, declarer, key, clock, ids, tenant_id, [body], adapter, window=window)[0]
    if item.error is not None:
        raise item.error
    assert item.submitted is not None   # each item ends with an error or a submission
    return item.submitted


@dataclass
class BatchItem:
    index: int
    submitted: Submitted | None = None
    error: Exception | None = None        # OrderInvalid, FilingInvalid or OrderConflict for this item


def submit_batch(uow_factory, declarer: Declarer, key, clock, ids, tenant_id: str, bodies: list,
                 adapter: str | Mapping[str, str | None] = "sandbox", *, parsed: bool = False,
                 window: DateWindow = DEFAULT_WINDOW) -> list[BatchItem]:
    """Bulk upload: every valid order of the batch is built, signed and committed in ONE transaction;
    each invalid or conflicting one is reported by its index and stored nowhere. A body is a parsed
    order (dict) or JSON text (str, bytes); ``parsed=True`` (the items of a JSON array): every item is a
    parsed JSON value and anything but an object is refused. Concurrent submissions of the same order
    number: the unique constraint decides, the loser is answered from what the winner stored."""
    items = [BatchItem(i) for i in range(len(bodies))]
    parsed_items = []                             # (item, text, order, body_hash)
    now = clock.now()
    for item, body in zip(items, bodies, strict=True):
        try:
            data, text = _read_body(body, parsed)
            order = parse_any(data, on=now, window=window)
        except OrderInvalid as exc:
            item.error = exc
            continue
        parsed_items.append((item, text, order, hashlib.sha256(_canonical_json(data).encode()).hexdigest()))

    declared_on = china_date(now)
    retry = "the buyer's annual CBEC amount kept changing while this order was built: submit it again"
    for _attempt in range(MAX_ANNUAL_ATTEMPTS):
        for item, *_ in parsed_items:
            item.submitted = item.error = None
        todo, reads, transfer, key = _plan_batch(uow_factory, tenant_id, parsed_items, declared_on, key)
        # CPU work (build, validate, sign) outside any transaction
        built_with = declarer.built_with(key)
        ready = _declare_batch(declarer, ids, todo, transfer, key, now)
        if not ready:
            return items
        try:
            with uow_factory() as uow:
                if not agencies.annual_unchanged(uow, reads):
                    continue     # another submission counted for one of these buyers meanwhile: assess again
                _store_batch(uow, ids, tenant_id, adapter, now, built_with, transfer, ready)
                uow.commit()
        except IntegrityError:
            # a concurrent submission stored one of these order numbers first (rolled back on exit):
            # plan again, which answers it as identical (200) or changed (409)
            retry = "concurrent submissions of these order numbers kept colliding: submit them again"
            continue
        return items
    for item, *_ in ready:
        item.submitted, item.error = None, OrderConflict(retry)
    return items


SIGN_TOGETHER = 32      # orders whose filings are signed in one go (Declarer.sign_prepared)


def _declare_batch(declarer: Declarer, ids, todo: list, transfer: Transfer, key, now) -> list[tuple]:
    """Build and sign the filings of the ``todo`` orders: (item, text, order, body_hash, cop_no, assessment,
    filings) of each order that can be stored, in order; a refused one (FilingInvalid) gets its item's error
    and is left out. Orders are prepared one by one (ids drawn as ``declare`` draws them) and signed
    ``SIGN_TOGETHER`` at a time: the signatures back to back, not between the building of trees."""
    ready: list[list] = []
    unsigned: list[list] = []        # entries of ``ready`` whose filings are prepared, not yet signed
    for item, text, order, body_hash, assessment in todo:
        cop_no = new_cop_no(ids.new_guid())
        if assessment.holds:      # customs would refuse it: stored "held", nothing built, signed or sent
            ready.append([item, text, order, body_hash, cop_no, assessment, []])
            continue
        try:
            prepared = declarer.prepare(order, transfer=transfer, key=key, app_time=now, cop_no=cop_no,
                                        assessment=assessment)
        except FilingInvalid as exc:       # this item only: the others of the batch go on
            item.error = exc
            continue
        entry = [item, text, order, body_hash, cop_no, assessment, prepared]
        ready.append(entry)
        unsigned.append(entry)
        if len(unsigned) >= SIGN_TOGETHER:
            _sign(declarer, key, unsigned)
    _sign(declarer, key, unsigned)
    return [tuple(entry) for entry in ready if entry[0].error is None]


def _sign(declarer: Declarer, key, entries: list[list]) -> None:
    """Sign the prepared filings of ``entries`` (their last field becomes the filings, or the item's error
    the FilingInvalid); empties ``entries``."""
    if not entries:
        return
    for entry, result in zip(entries, declarer.sign_prepared([entry[6] for entry in entries], key), strict=True):
        if isinstance(result, FilingInvalid):
            entry[0].error = result
        else:
            entry[6] = result
    entries.clear()


def _read_body(body, parsed: bool):
    """(data, text to store) of one body; OrderInvalid when it cannot be an order."""
    if isinstance(body, dict):          # an item of a JSON batch, already parsed
        return body, json.dumps(body, ensure_ascii=False, default=str)
    if parsed or not isinstance(body, (str, bytes)):
        raise OrderInvalid([Problem("$", "schema:type", f"an order is a JSON object, not {_json_type(body)}")])
    text = decode(body)
    return loads(text), text


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else type(value).__name__


MAX_ANNUAL_ATTEMPTS = 5


def _plan_batch(uow_factory, tenant_id: str, parsed: list, declared_on, key):
    """In one transaction: choose the signing key (``key`` a per-tenant chooser), find earlier submissions
    (idempotency, conflicts) and assess what is new (inspection, tax with the buyers' annual amounts read now,
    FX). Returns (todo, annual reads, transfer, the key to sign with)."""
    todo = []
    with reader(uow_factory)() as uow:     # reads only: on SQLite no queue for the write lock
        if isinstance(key, TenantKeys):    # the tenant's key (or the gateway's), read in this transaction
            key = key(tenant_id, uow=uow)
        elif callable(key):                # any other chooser: tenant id -> key
            key = key(tenant_id)
        found = sender_and_codes(uow, tenant_id)      # one statement: the tenant and its enterprise codes
        if found is None:
            raise NotFound(f"tenant {tenant_id}")
        (cop_code, cop_name, dxp_id), registered = found
        transfer = Transfer(cop_code=cop_code, cop_name=cop_name, dxp_id=dxp_id)
        seen: dict[tuple, str] = {}
        new, replayed = [], []
        earlier = _earlier(uow, tenant_id, [order_number(order) for _, _, order, _ in parsed])
        for item, text, order, body_hash in parsed:
            foreign = enterprises.unregistered(order, registered)
            if foreign:     # someone else's enterprise code: refused before anything else is looked at
                item.error = OrderInvalid([Problem(path, enterprises.RULE,
                                                   f"enterprise {code} is not registered for this tenant "
                                                   "(the operator registers it: gateway enterprise add)")
                                           for path, code in foreign])
                continue
            number = order_number(order)     # (platform code or declarant code, order no.)
            existing = earlier.get(number)
            if existing is not None:
                if json.loads(existing.normalized).get("body_sha256") == body_hash:
                    replayed.append((item, existing))       # answered below: one query for all their filings
                else:
                    item.error = OrderConflict(
                        f"order {order.order_no} of {number[0]} was already submitted "
                        f"with different content (order id {existing.id})")
                continue
            if number in seen:
                item.error = OrderConflict(f"order {order.order_no} appears twice in this batch")
                continue
            seen[number] = body_hash
            new.append((item, text, order, body_hash))
        filings_of = uow.filings.for_orders(tenant_id, [existing.id for _, existing in replayed])
        for item, existing in replayed:
            item.submitted = Submitted(existing.id, {f.message_type: f.id for f in filings_of[existing.id]},
                                       created=False, held=_held_rules(existing))
        assessments, reads = agencies.assess_batch(uow, [order for _, _, order, _ in new], declared_on)
        for (item, text, order, body_hash), assessment in zip(new, assessments, strict=True):   # one per order
            if isinstance(assessment, OrderInvalid):      # a limit, a missing rate: refused, nothing stored
                item.error = assessment
                continue
            todo.append((item, text, order, body_hash, assessment))
    return todo, reads, transfer, key


# The orders already stored under some of these numbers: the columns the plan needs, as plain rows (no ORM
# objects to build for a lookup that usually finds nothing). Built once; the lists are expanding parameters.
_EARLIER = select(m.Order.id, m.Order.platform_code, m.Order.order_no, m.Order.normalized, m.Order.status).where(
    m.Order.tenant_id == bindparam("tenant_id"), m.Order.platform_code.in_(bindparam("codes", expanding=True)),
    m.Order.order_no.in_(bindparam("order_nos", expanding=True)))


_INSERT_ORDERS = core_insert(m.Order)


def _earlier(uow, tenant_id: str, numbers) -> dict[tuple[str, str], Any]:
    """(platform code, order no.) -> the stored order (id, normalized, status) of each number already used:
    one query per 500 numbers (the unique index: tenant, platform code, order no.)."""
    wanted = set(numbers)
    codes, order_nos = sorted({code for code, _ in wanted}), sorted({no for _, no in wanted})
    found: dict[tuple[str, str], Any] = {}
    for start in range(0, len(order_nos), 500):
        params = {"tenant_id": tenant_id, "codes": codes, "order_nos": order_nos[start:start + 500]}
        for row in uow.session.connection().execute(_EARLIER, params):
            if (row.platform_code, row.order_no) in wanted:
                found[(row.platform_code, row.order_no)] = row
    return found


def _store_batch(uow, ids, tenant_id, adapter, now, built_with, transfer, ready: list) -> None:
    """Store the ready orders of a batch with bulk INSERTs (orders, their filings and outbox rows, the buyers'
    annual entries: one statement each, in that order for the foreign keys) and their audit events
    (ORM: they join the hash chain at commit), in the order one-by-one storing wrote them."""
    orders, counted = [], []
    filing_rows = FilingRows(uow, tenant_id, adapter, now, built_with)
    for item, text, order, body_hash, cop_no, assessment, built in ready:
        order_id = ids.new_guid()
        orders.append(dict(
            id=order_id, tenant_id=tenant_id, order_no=order.order_no, regime=order.regime,
            direction=order.direction, platform_code=order_number(order)[0], body=text,
            normalized=_canonical_json({"body_sha256": body_hash, "app_time": now.isoformat(),
                                        "built_with": built_with,
                                        "transfer": dataclasses.asdict(transfer),     # for replay
                                        "agencies": assessment.as_json()}),           # view, replay (annual_used)
            status=st.ORDER_HELD if assessment.holds else st.IN_PROGRESS,
            status_reason=held_reason(assessment.holds) if assessment.holds else None,
            cop_no=cop_no, received_at=now, updated_at=now))
        events = [("order.received", {"order_no": order.order_no, "regime": order.regime, "body_sha256": body_hash,
                                      "body_text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()})]
        if assessment.holds:
            events.append(("order.held", {"rules": [h.rule for h in assessment.holds]}))
        filing_ids = filing_rows.add(ids, order_id, built, events)
        # the buyer's CBEC annual amount (a held order counts when the operator releases it: service/holds.py)
        entry = None if assessment.holds else agencies.annual_entry(order, assessment, order_id, tenant_id)
        if entry is not None:
            counted.append(entry)
        item.submitted = Submitted(order_id, dict(zip([b.message_type for b in built], filing_ids, strict=True)),
                                   created=True, held=tuple(h.rule for h in assessment.holds))
    uow.session.connection().execute(_INSERT_ORDERS, orders)     # plain rows: nothing for the ORM to add
    filing_rows.write()
    annual.add_new(uow, counted)


def _held_rules(order) -> tuple[str, ...]:
    if order.status != st.ORDER_HELD:
        return ()
    return tuple(h["rule"] for h in (_json_or_empty(order.normalized).get("agencies") or {}).get("holds", []))


def held_reason(holds) -> str:
    """The status reason of a held order: each rule and why."""
    return "held, not signed or sent (the operator may release it): " + "; ".join(
        f"[{h.rule}] {h.message}" for h in holds)


def order_view(uow_factory, tenant_id: str, order_id: str) -> dict:
    """The order's combined status, each filing's state and its receipt history."""
    with uow_factory() as uow:
        order = uow.orders.get(tenant_id, order_id)
        if order is None:
            raise NotFound(f"order {order_id}")
        filings = uow.filings.for_order(tenant_id, order_id)
        views = [st.FilingView(f.message_type, f.agency, f.state, _last_info(uow, f),
                               id=f.id, app_type=f.app_type or "1", corrects=f.corrects_id) for f in filings]
        corrected_by: dict[str, list[str]] = {}     # corrections (docs/corrections.md)
        for f in filings:
            if f.corrects_id:
                corrected_by.setdefault(f.corrects_id, []).append(f.id)
        extra = agencies.agency_view(uow, _json_or_empty(order.normalized), filings)
        out = {
            "id": order.id, "kind": order.kind, "order_no": order.order_no, "regime": order.regime, "direction": order.direction,
            "platform_code": order.platform_code, "status": order.status, "status_reason": order.status_reason,
            "agencies": st.per_agency(views), "received_at": order.received_at.isoformat(),
            # one entry, four agencies: the inspection decision per line, the tax computed / withheld /
            # difference (and the customs tax bill once issued), the FX record, warnings that did not refuse
            "inspection": extra["inspection"], "tax": extra["tax"], "fx": extra["fx"],
            "annual": extra.get("annual"), "warnings": extra["warnings"],
            # the rules the order is held for (status "held": not signed or sent until the operator releases it)
            "holds": extra.get("holds", []), "release": _json_or_empty(order.normalized).get("release"),
            "filings": [],
        }
        for f in filings:
            out["filings"].append({
                "id": f.id, "message_type": f.message_type, "agency": f.agency, "guid": f.guid,
                "state": f.state, "status_code": f.last_status_code, "sha256": f.sha256,
                "app_type": f.app_type or "1", "corrects": f.corrects_id, "corrected_by": corrected_by.get(f.id, []),
                "receipts": [
                    {"status_code": r.status_code, "time": r.status_time, "info": r.info,
                     "message_type": r.message_type, "outcome": r.outcome}
                    for r in uow.receipts.for_filing(f.id)
                ],
            })
        return out


def _json_or_empty(text: str) -> dict:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _last_info(uow, filing) -> str | None:
    receipts = uow.receipts.for_filing(filing.id)
    return receipts[-1].info if receipts else None


def filing_bytes(uow_factory, tenant_id: str, filing_id: str) -> tuple[str, bytes]:
    with uow_factory() as uow:
        f = uow.filings.get(tenant_id, filing_id)
        if f is None:
            raise NotFound(f"filing {filing_id}")
        return f.message_type, bytes(f.signed_bytes)


__all__ = ["submit_order", "order_view", "filing_bytes", "OrderInvalid", "OrderConflict", "NotFound",
           "Submitted", "Problem"]
