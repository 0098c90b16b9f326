"""The CBEC annual amount per buyer (26,000 CNY per person per calendar year): a small ledger.

    with uow:
        already = annual.used(uow, order.buyer.id_number, 2026)              # Decimal
        q = cbec.quote(order, annual_used=already)                           # pure
        annual.add(uow, order.buyer.id_number, q.year, q.annual_counted, order_id,
                   tenant_id=tenant_id, ruleset=q.ruleset.id)
        uow.commit()

- The limit is per person by law, so ``used`` sums the buyer's entries of every tenant (a deliberate
  exception to "always filter on the tenant", like ``filings.by_business_key``): pass
  ``tenant_id=`` to restrict it. It returns only a sum, never another tenant's rows.
- Buyers are stored as ``buyer_key`` = sha256 of "id_type:ID NUMBER" (upper-cased, stripped).
- ``add`` is idempotent per order: adding the same order again returns the existing entry; a
  different amount or buyer for an order already counted raises ``AnnualEntryConflict``.
- ``restore`` appends a negative entry for a return (2020 No.45), a cancellation or a customs
  refusal, once per order; ``restored`` says whether it was given back already.
- ``used_many`` reads many buyers' amounts in one query; ``add_new`` counts the orders of a batch
  that were created in the same unit of work with one bulk INSERT (no per-order SELECT, flush or
  SAVEPOINT). The unique (order_id, kind) index still guards it: a clash raises IntegrityError and
  the caller's unit of work rolls back (the service plans the batch again).
- Race between two units of work counting the same order: the unique (order_id, kind) index decides;
  the loser gets the winner's entry (or AnnualEntryConflict), and its unit of work stays usable.
Nothing here commits: the caller's unit of work does.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.store.models import BuyerAnnualAmount, utcnow

__all__ = ["AnnualEntryConflict", "NewEntry", "add", "add_new", "buyer_key", "entries", "restore", "restored", "used",
           "used_many"]


class AnnualEntryConflict(ValueError):
    """The order is already counted with another amount or buyer."""


def buyer_key(id_number: str, id_type: str = "1") -> str:
    """sha256 hex of "id_type:ID NUMBER": how the ledger names a buyer."""
    if not id_number or not id_number.strip():
        raise ValueError("buyer id number is empty")
    return hashlib.sha256(f"{id_type.strip()}:{id_number.strip().upper()}".encode()).hexdigest()


def _check_year(year: int) -> None:
    if not isinstance(year, int) or not 2000 <= year <= 2999:
        raise ValueError(f"year {year!r} is not a calendar year")


def entries(uow, buyer_id_number: str, year: int, *, id_type: str = "1",
            tenant_id: str | None = None) -> list[BuyerAnnualAmount]:
    _check_year(year)
    stmt = select(BuyerAnnualAmount).where(BuyerAnnualAmount.buyer_key == buyer_key(buyer_id_number, id_type),
                                           BuyerAnnualAmount.year == year)
    if tenant_id is not None:
        stmt = stmt.where(BuyerAnnualAmount.tenant_id == tenant_id)
    return list(uow.session.scalars(stmt.order_by(BuyerAnnualAmount.id)))


def used(uow, buyer_id_number: str, year: int, *, id_type: str = "1", tenant_id: str | None = None) -> Decimal:
    """The amount the buyer has used of the annual limit in ``year`` (CNY, exact)."""
    return sum((Decimal(e.amount) for e in entries(uow, buyer_id_number, year, id_type=id_type,
                                                    tenant_id=tenant_id)), Decimal(0))


# The rows of some buyers (every tenant), built once: the keys are an expanding parameter.
_USED_MANY = select(BuyerAnnualAmount.buyer_key, BuyerAnnualAmount.year, BuyerAnnualAmount.amount).where(
    BuyerAnnualAmount.buyer_key.in_(bindparam("keys", expanding=True)))


def used_many(uow, buyers: Iterable[tuple[str, str, int]]) -> dict[tuple[str, str, int], Decimal]:
    """``used`` of many (id number, id type, year) at once (every tenant): one query per 500 buyers."""
    keys = {b: (buyer_key(b[0], b[1]), b[2]) for b in buyers}
    for _, year in keys.values():
        _check_year(year)
    sums: dict[tuple[str, int], Decimal] = {}
    wanted = sorted({k for k, _ in keys.values()})
    session = uow.session
    if session.new or session.dirty or session.deleted:
        session.flush()          # what Session.execute would do first; then the connection, at half the cost
    for start in range(0, len(wanted), 500):
        for key, year, amount in session.connection().execute(_USED_MANY, {"keys": wanted[start:start + 500]}):
            sums[(key, year)] = sums.get((key, year), Decimal(0)) + Decimal(amount)
    return {b: sums.get(k, Decimal(0)) for b, k in keys.items()}


@dataclass(frozen=True)
class NewEntry:
    """One order of a batch to count (``add_new``)."""

    buyer_id_number: str
    id_type: str
    year: int
    amount: Decimal
    order_id: str
    tenant_id: str
    ruleset: str = ""


def add_new(uow, new: list[NewEntry], *, at: datetime | None = None) -> None:
    """Count orders created in this unit of work, in one INSERT. Unlike ``add`` it does not look for an
    existing entry first: the orders are new, so any clash on (order_id, kind) is an error
    (IntegrityError, the unit of work rolls back)."""
    if not new:
        return
    at = at or utcnow()
    rows = []
    for e in new:
        _check_year(e.year)
        amount = Decimal(e.amount)
        if amount < 0:
            raise ValueError(f"amount {amount} must not be negative")
        rows.append({"tenant_id": e.tenant_id, "buyer_key": buyer_key(e.buyer_id_number, e.id_type), "year": e.year,
                     "kind": "counted", "amount": format(amount, "f"), "order_id": e.order_id, "ruleset": e.ruleset,
                     "at": at})
    uow.session.connection().execute(_INSERT, rows)     # Core: plain column values (Session.execute adds nothing)


_INSERT = insert(cast(Table, BuyerAnnualAmount.__table__))


def _existing(uow, order_id: str, kind: str) -> BuyerAnnualAmount | None:
    return uow.session.scalar(select(BuyerAnnualAmount).where(BuyerAnnualAmount.order_id == order_id,
                                                              BuyerAnnualAmount.kind == kind))


def _insert(uow, entry: BuyerAnnualAmount, same) -> BuyerAnnualAmount:
    try:
        with uow.session.begin_nested():
            uow.session.add(entry)
    except IntegrityError:
        other = _existing(uow, entry.order_id, entry.kind)
        if other is None:
            raise
        return same(other)
    return entry


def add(uow, buyer_id_number: str, year: int, amount: Decimal, order_id: str, *, tenant_id: str,
        id_type: str = "1", ruleset: str = "", at: datetime | None = None) -> BuyerAnnualAmount:
    """Count ``amount`` (the order's dutiable value) toward the buyer's ``year``; idempotent per order."""
    _check_year(year)
    amount = Decimal(amount)
    if amount < 0:
        raise ValueError(f"amount {amount} must not be negative")
    key = buyer_key(buyer_id_number, id_type)

    def same(entry: BuyerAnnualAmount) -> BuyerAnnualAmount:
        if entry.buyer_key != key or Decimal(entry.amount) != amount or entry.year != year:
            raise AnnualEntryConflict(f"order {order_id} is already counted ({entry.amount} CNY in {entry.year}"
                                      f"{'' if entry.buyer_key == key else ' for another buyer'}), not {amount}")
        return entry

    existing = _existing(uow, order_id, "counted")
    if existing is not None:
        return same(existing)
    entry = BuyerAnnualAmount(tenant_id=tenant_id, buyer_key=key, year=year, kind="counted",
                              amount=format(amount, "f"), order_id=order_id, ruleset=ruleset, at=at or utcnow())
    return _insert(uow, entry, same)


def restored(uow, order_id: str) -> BuyerAnnualAmount | None:
    """The order's "restored" entry, if its amount was given back already."""
    return _existing(uow, order_id, "restored")


def restore(uow, order_id: str, *, tenant_id: str, at: datetime | None = None) -> BuyerAnnualAmount | None:
    """Give back the amount of a returned order (a negative entry); None when the order was never
    counted; the existing entry when it was already restored."""
    counted = _existing(uow, order_id, "counted")
    if counted is None:
        return None
    existing = _existing(uow, order_id, "restored")
    if existing is not None:
        return existing
    entry = BuyerAnnualAmount(tenant_id=tenant_id, buyer_key=counted.buyer_key, year=counted.year,
                              kind="restored", amount=format(-Decimal(counted.amount), "f"), order_id=order_id,
                              ruleset=counted.ruleset, at=at or utcnow())
    return _insert(uow, entry, lambda e: e)
