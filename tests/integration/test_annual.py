"""The CBEC annual amount ledger (gateway.store.annual) on SQLite and PostgreSQL."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.domain.parse import parse_order
from gateway.domain.tax import cbec
from gateway.domain.tax.cbec import CbecRefused
from gateway.store import annual
from gateway.store.db import session_factory
from gateway.store.models import BuyerAnnualAmount
from gateway.store.tenants import create_tenant
from gateway.store.uow import UnitOfWork

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=timezone(timedelta(hours=8)))
BUYER = "44010619940309562X"
VALID = Path(__file__).resolve().parents[2] / "fixtures" / "orders" / "valid"


def new_id() -> str:
    return str(uuid.uuid4()).upper()


@pytest.fixture
def uow(migrated_engine) -> UnitOfWork:
    return UnitOfWork(session_factory(migrated_engine))


def tenant(uow, name="Shop") -> str:
    with uow:
        t, _ = create_tenant(uow, name, "3301964J31", f"{name} Ltd", "DXPENT0000012345", now=T0)
        uow.commit()
    return t.id


def test_add_used_and_idempotent_per_order(uow):
    tid = tenant(uow)
    first, second = new_id(), new_id()
    with uow:
        assert annual.used(uow, BUYER, 2026) == D("0")
        annual.add(uow, BUYER, 2026, D("826.00"), first, tenant_id=tid, ruleset="CN-2019-04@2")
        annual.add(uow, BUYER, 2026, D("226.70999"), second, tenant_id=tid)
        annual.add(uow, BUYER, 2026, D("826.00"), first, tenant_id=tid)          # again: no double count
        uow.commit()
    with uow:
        # 826.00 + 226.70999 = 1052.70999, exact (amounts are decimal strings, never floats)
        assert annual.used(uow, BUYER, 2026) == D("1052.70999")
        assert annual.used(uow, BUYER.lower(), 2026) == D("1052.70999")          # x / X: same buyer
        assert annual.used(uow, BUYER, 2025) == D("0")                           # per calendar year
        with pytest.raises(annual.AnnualEntryConflict, match="826.00"):
            annual.add(uow, BUYER, 2026, D("900.00"), first, tenant_id=tid)
        rows = uow.session.scalars(select(BuyerAnnualAmount)).all()
        assert all(BUYER not in (r.buyer_key + r.amount + r.order_id) for r in rows)   # no ID number stored
        assert {r.buyer_key for r in rows} == {annual.buyer_key(BUYER)}


def test_restore_gives_the_amount_back_once(uow):
    tid = tenant(uow)
    order_id = new_id()
    with uow:
        annual.add(uow, BUYER, 2026, D("5000.00"), order_id, tenant_id=tid)
        uow.commit()
    with uow:
        annual.restore(uow, order_id, tenant_id=tid)
        annual.restore(uow, order_id, tenant_id=tid)
        assert annual.restore(uow, new_id(), tenant_id=tid) is None              # never counted
        uow.commit()
    with uow:
        assert annual.used(uow, BUYER, 2026) == D("0.00")                        # 5000.00 - 5000.00
        assert [e.kind for e in annual.entries(uow, BUYER, 2026)] == ["counted", "restored"]


def test_the_limit_is_per_person_across_tenants(uow):
    a, b = tenant(uow, "A"), tenant(uow, "B")
    with uow:
        annual.add(uow, BUYER, 2026, D("20000.00"), new_id(), tenant_id=a)
        annual.add(uow, BUYER, 2026, D("5500.00"), new_id(), tenant_id=b)
        uow.commit()
    with uow:
        assert annual.used(uow, BUYER, 2026) == D("25500.00")
        assert annual.used(uow, BUYER, 2026, tenant_id=b) == D("5500.00")


def test_ledger_feeds_the_pure_quote(uow):
    tid = tenant(uow)
    order = parse_order((VALID / "1210-coupon-discount.json").read_text("utf-8"))
    with uow:
        annual.add(uow, order.buyer.id_number, 2026, D("25000.00"), new_id(), tenant_id=tid)
        uow.commit()
    with uow:
        used = annual.used(uow, order.buyer.id_number, 2026)
        # 25000.00 + this order's 876.00 (declared values; the discount is not deducted) = 25876.00 <= 26000
        q = cbec.quote(order, annual_used=used)
        annual.add(uow, order.buyer.id_number, q.year, q.annual_counted, new_id(), tenant_id=tid, ruleset=q.ruleset.id)
        uow.commit()
    with uow:
        assert annual.used(uow, order.buyer.id_number, 2026) == D("25876.00")
        # the same order again would reach 26752.00 > 26000: refused by the quote
        with pytest.raises(CbecRefused, match="annual"):
            cbec.quote(order, annual_used=annual.used(uow, order.buyer.id_number, 2026))


def test_bad_input_refused(uow):
    tid = tenant(uow)
    with uow:
        with pytest.raises(ValueError):
            annual.add(uow, BUYER, 2026, D("-1"), new_id(), tenant_id=tid)
        with pytest.raises(ValueError):
            annual.used(uow, "", 2026)
        with pytest.raises(ValueError):
            annual.used(uow, BUYER, 26)


def test_a_batch_is_read_in_one_query_and_counted_in_one_insert(uow):
    tid, other = tenant(uow), tenant(uow, "Other")
    second = "110101198001010010"            # another buyer
    with uow:
        annual.add(uow, BUYER, 2026, D("100.50"), new_id(), tenant_id=tid)
        annual.add(uow, BUYER, 2025, D("7"), new_id(), tenant_id=tid)
        annual.add(uow, BUYER, 2026, D("0.25"), new_id(), tenant_id=other)       # per person: every tenant
        uow.commit()
    batch = [annual.NewEntry(BUYER, "1", 2026, D("10"), new_id(), tid, "CN-2019-04@2"),
             annual.NewEntry(second, "1", 2026, D("5.5"), new_id(), tid)]
    with uow:
        asked = [(BUYER, "1", 2026), (BUYER.lower(), "1", 2025), (second, "1", 2026), (BUYER, "1", 2024)]
        assert annual.used_many(uow, asked) == {(BUYER, "1", 2026): D("100.75"), (BUYER.lower(), "1", 2025): D("7"),
                                                (second, "1", 2026): D("0"), (BUYER, "1", 2024): D("0")}
        annual.add_new(uow, batch)
        uow.commit()
    with uow:
        assert annual.used(uow, BUYER, 2026) == D("110.75")
        assert annual.used(uow, second, 2026) == D("5.5")
        assert annual.used_many(uow, [(BUYER, "1", 2026), (second, "1", 2026)]) == {
            (BUYER, "1", 2026): D("110.75"), (second, "1", 2026): D("5.5")}
        # the batch's entries are ordinary ledger rows: idempotent add, restore
        assert annual.add(uow, BUYER, 2026, D("10"), batch[0].order_id, tenant_id=tid).ruleset == "CN-2019-04@2"
        assert annual.restore(uow, batch[1].order_id, tenant_id=tid).amount == "-5.5"
        uow.commit()


def test_add_new_of_an_order_already_counted_fails_whole(uow):
    from sqlalchemy.exc import IntegrityError

    tid = tenant(uow)
    counted = new_id()
    with uow:
        annual.add(uow, BUYER, 2026, D("10"), counted, tenant_id=tid)
        uow.commit()
    with uow, pytest.raises(IntegrityError):
        annual.add_new(uow, [annual.NewEntry(BUYER, "1", 2026, D("1"), new_id(), tid),
                             annual.NewEntry(BUYER, "1", 2026, D("10"), counted, tid)])
    with uow:
        assert annual.used(uow, BUYER, 2026) == D("10")          # nothing of the failed batch stored
    with uow, pytest.raises(ValueError, match="negative"):
        annual.add_new(uow, [annual.NewEntry(BUYER, "1", 2026, D("-1"), new_id(), tid)])
