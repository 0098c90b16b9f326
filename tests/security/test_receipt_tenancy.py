"""Issue 9, item 2 — receipts belong to one tenant. Two tenants file the same order number on the
one shared sandbox channel; whatever order the receipts arrive in, each tenant's order reaches its
own final state (the first released, the second refused by the government as a repeated order
number), and no receipt is applied to the other tenant's filings. A receipt is matched by the
message it answers first, then by business key only among the filings sent on its channel; a
business key that names two tenants' filings is quarantined as ``ambiguous``, never guessed."""
from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from gateway.adapters.sandbox.receipts import ReturnEntity, receipt_message, return_time
from gateway.declarations.receipts import parse_receipt
from gateway.service.delivery.receipts import quarantine
from gateway.service.dispatch import RoundResult
from gateway.store import models as m
from tests.helpers import add_tenant, fixture_text, make_gateway

ORDER = "1210-single-line.json"


@pytest.fixture
def two_tenants(tmp_path, sqlite_url, signing_key):
    gw, sandbox = make_gateway(tmp_path, sqlite_url, signing_key)
    a, _ = add_tenant(gw, "Tenant A", cop_code="4601980AAA")
    b, _ = add_tenant(gw, "Tenant B", cop_code="4601980BBB")
    oa = gw.submit(a, fixture_text(ORDER)).order_id       # the same order number, the same channel
    ob = gw.submit(b, fixture_text(ORDER)).order_id
    return gw, sandbox, (a, oa), (b, ob)


def every_receipt(gw, sandbox) -> list:
    """Send everything and pull every receipt the sandbox gives, without applying any."""
    raws, cursor = [], None
    for _ in range(30):
        gw.dispatcher.send_due(RoundResult())
        got = sandbox.fetch_receipts(cursor)
        if got:
            cursor = max(r.cursor for r in got)
        raws += got
    return raws


def tenant_of(gw, raw) -> str | None:
    """The tenant whose filing a sandbox receipt answers (by the guid it echoes)."""
    guid = parse_receipt(raw.body)[0].guid
    with gw.uow_factory() as uow:
        return uow.session.scalar(select(m.Filing.tenant_id).where(m.Filing.guid == guid))


@pytest.mark.parametrize("arrival", ["as sent", "reversed", "second tenant first", "interleaved backwards"])
def test_two_tenants_same_order_number_shared_channel_any_receipt_order(two_tenants, arrival):
    gw, sandbox, (a, oa), (b, ob) = two_tenants
    raws = every_receipt(gw, sandbox)
    assert len(raws) > 10
    if arrival == "reversed":
        raws = raws[::-1]
    elif arrival == "second tenant first":
        raws = sorted(raws, key=lambda r: tenant_of(gw, r) != b)
    elif arrival == "interleaved backwards":
        raws = raws[1::2][::-1] + raws[0::2]
    result = RoundResult()
    for raw in raws:
        gw.dispatcher.ingest("sandbox", raw.body, raw.cursor, raw.received_at, result)
    assert result.quarantined == 0
    view_a, view_b = gw.order(a, oa), gw.order(b, ob)
    assert view_a["status"] == "released", view_a
    assert view_b["status"] == "rejected", view_b                  # the government refused the repeated number
    with gw.uow_factory() as uow:
        for event in uow.session.scalars(select(m.ReceiptEvent)):
            filing = uow.session.get(m.Filing, event.filing_id)
            assert event.tenant_id == filing.tenant_id
            guid = json.loads(event.parsed).get("guid")
            if event.message_type.startswith("CEB") and event.message_type != "CEB816Message":
                assert guid == filing.guid, (event.message_type, filing.tenant_id)
        a_codes = {f.message_type: f.last_status_code for f in uow.filings.for_order(a, oa)}
        b_codes = {f.message_type: f.last_status_code for f in uow.filings.for_order(b, ob)}
    assert (a_codes["CEB311Message"], a_codes["CEB621Message"]) == ("120", "800")
    assert b_codes["CEB311Message"] == "-301010"                     # A's 120 never reached B's order


def order_receipt(key: str, guid: str, status: str, when) -> bytes:
    ebp, ebc, order_no = key.split(":", 1)[1].split("|")
    entity = ReturnEntity("OrderReturn", guid, (("ebpCode", ebp), ("ebcCode", ebc), ("orderNo", order_no)),
                          status, return_time(when), f"status {status}")
    return receipt_message("CEB312Message", f"M-{guid}", [entity])


def order_filing(gw, tenant, order_id):
    """(guid, business key, last status code) of the order's CEB311 filing."""
    with gw.uow_factory() as uow:
        f = next(f for f in uow.filings.for_order(tenant, order_id) if f.message_type == "CEB311Message")
        return SimpleNamespace(guid=f.guid, business_key=f.business_key, last_status_code=f.last_status_code)


def test_a_business_key_of_two_tenants_is_quarantined_as_ambiguous(two_tenants):
    gw, _, (a, oa), (b, ob) = two_tenants
    gw.dispatcher.send_due(RoundResult())
    fa, fb = order_filing(gw, a, oa), order_filing(gw, b, ob)
    assert fa.business_key == fb.business_key
    # an e-port generated guid (as the specification allows): only the business key is left
    body = order_receipt(fa.business_key, "E0000000-0000-4000-8000-0000000000AA", "120", gw.clock.now())
    result = RoundResult()
    gw.dispatcher.ingest("sandbox", body, "amb-1", gw.clock.now(), result)
    assert (result.quarantined, result.applied) == (1, 0)
    (row,) = [r for r in quarantine(gw.uow_factory, everything=True) if r["cursor"] == "amb-1"]
    assert row["outcome"] == "quarantined" and row["reason"].startswith("ambiguous: ")
    assert a in row["reason"] and b in row["reason"]
    assert (order_filing(gw, a, oa).last_status_code, order_filing(gw, b, ob).last_status_code) == \
        (fa.last_status_code, fb.last_status_code)                   # neither tenant's filing moved


def test_the_guid_it_answers_decides_before_the_business_key(two_tenants):
    gw, _, (a, oa), (b, ob) = two_tenants
    gw.dispatcher.send_due(RoundResult())
    fa, fb = order_filing(gw, a, oa), order_filing(gw, b, ob)
    result = RoundResult()
    gw.dispatcher.ingest("sandbox", order_receipt(fb.business_key, fb.guid, "120", gw.clock.now()), "g-1",
                         gw.clock.now(), result)
    assert result.applied == 1
    assert order_filing(gw, b, ob).last_status_code == "120"
    assert order_filing(gw, a, oa).last_status_code == fa.last_status_code


def test_a_receipt_is_matched_only_among_the_filings_of_its_channel(tmp_path, sqlite_url, signing_key):
    gw, _ = make_gateway(tmp_path, sqlite_url, signing_key)
    a, _ = add_tenant(gw)
    oa = gw.submit(a, fixture_text(ORDER)).order_id
    fa = order_filing(gw, a, oa)
    when = gw.clock.now() + timedelta(seconds=5)
    result = RoundResult()
    # on another channel, neither its guid nor its business key reaches the filing
    gw.dispatcher.ingest("elsewhere", order_receipt(fa.business_key, fa.guid, "120", when), "x-1", when, result)
    gw.dispatcher.ingest("elsewhere", order_receipt(fa.business_key, "E0000000-0000-4000-8000-0000000000BB", "120",
                                                    when), "x-2", when, result)
    assert (result.applied, result.unmatched) == (0, 2)
    assert order_filing(gw, a, oa).last_status_code is None
    # on its own channel, a receipt with an e-port guid still matches the one tenant's key
    gw.dispatcher.ingest("sandbox", order_receipt(fa.business_key, "E0000000-0000-4000-8000-0000000000CC", "120",
                                                  when), "x-3", when, result)
    assert result.applied == 1 and order_filing(gw, a, oa).last_status_code == "120"
