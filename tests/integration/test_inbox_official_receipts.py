"""Every official 202205 sample receipt, dropped into a real dxp-files InBox in each form a DXP client
writes (DxpMsg, a transport node's DxpMsgSv, the raw CEB message), is read, matched and applied to
its filing; the platform's DxpRep answer rejects the transmission it names.

The filings the samples answer are stored first with the business keys the samples carry (the
samples' numbers belong to no order of ours: CEB513/711/215 are not built by the gateway yet, and
the others name the sample companies), one order per sample, state "sent".
"""
from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from sqlalchemy import select

from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.declarations.receipts import parse_receipt
from gateway.domain import status as st
from gateway.ports import FixedClock, SequentialIds
from gateway.store.models import Filing, Order, OutboxItem, Receipt, ReceiptEvent
from tests import dxp_forms
from tests.helpers import REFERENCE, START, add_tenant
from tests.unit.test_receipts import OFFICIAL_RECEIPTS

SAMPLES = [(d, n) for d, names in OFFICIAL_RECEIPTS.items() for n in names]
needs_samples = pytest.mark.skipif(not (REFERENCE / "samples").is_dir(),
                                   reason=f"official samples not present at {REFERENCE}/samples")


@pytest.fixture
def gateway(tmp_path, signing_key):
    folders = {"outbox": str(tmp_path / "OutBox"), "inbox": str(tmp_path / "InBox")}
    settings = Settings(instance_dir=tmp_path / "instance", database_url=f"sqlite:///{tmp_path}/gw.sqlite3",
                        adapter="dxp-files", adapter_options={**folders, "sender_id": "DXPENT0000458763"},
                        channel_environment="sandbox")      # the samples' signers are no trusted government
    gw = bootstrap(settings, clock=FixedClock(START, step_seconds=1), ids=SequentialIds(prefix="1B0C0000-0000-4000-8000"),
                   key=signing_key)
    tenant, _ = add_tenant(gw)
    return gw, tenant, tmp_path / "InBox"


def store_filing(gw, tenant: str, message_type: str, business_key: str, order_no: str) -> str:
    """An order with one filing of ``message_type`` and ``business_key``, as if it had been sent on the
    dxp-files channel (receipts are matched among the filings sent on their channel)."""
    with gw.uow_factory() as uow:
        order = Order(id=str(uuid.uuid4()), tenant_id=tenant, order_no=order_no, regime="9610",
                      direction="import", platform_code="1105910159", body="{}", normalized="{}",
                      status=st.IN_PROGRESS, cop_no=order_no[:20])
        filing = Filing(id=str(uuid.uuid4()), tenant_id=tenant, order_id=order.id, message_type=message_type,
                        agency="customs", guid=str(uuid.uuid4()).upper(), sequence=1, state=st.SENT,
                        signed_bytes=b"<sent/>", sha256=hashlib.sha256(b"<sent/>").hexdigest(),
                        business_key=business_key, built_with=json.dumps({}))
        uow.session.add_all([order, filing])
        uow.flush()
        uow.session.add(OutboxItem(tenant_id=tenant, filing_id=filing.id, adapter="dxp-files", state="done",
                                   attempts=1, next_attempt_at=START, created_at=START))
        uow.commit()
        return filing.id


def drain(gw, inbox) -> None:
    for _ in range(10):
        gw.dispatcher.run_once()
        if not [p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".")]:
            gw.dispatcher.run_once()       # hands the last ones over
            return
    raise AssertionError(f"the InBox was not emptied: {sorted(p.name for p in inbox.iterdir())}")


@needs_samples
def test_every_official_sample_receipt_is_applied_through_the_dxp_inbox(gateway):
    gw, tenant, inbox = gateway
    expected: dict[str, tuple[str, str]] = {}          # filing id -> (sample, state it must reach)
    forms = sorted(dxp_forms.FORMS)
    for number, (directory, name) in enumerate(SAMPLES):
        data = (REFERENCE / "samples" / directory / f"{name}.xml").read_bytes()
        for k, entry in enumerate({e.business_key: e for e in parse_receipt(data)}.values()):
            filing_id = store_filing(gw, tenant, entry.answers, entry.business_key, f"S{number}-{k}-{name}")
            expected[filing_id] = (name, st.state_for(entry.message_type, entry.status_code))
        dxp_forms.write(inbox, forms[number % len(forms)], data, f"{number:02d}-{name}")
    drain(gw, inbox)

    with gw.uow_factory() as uow:
        receipts = uow.session.scalars(select(Receipt)).all()
        assert len(receipts) == len(SAMPLES)
        assert {r.message_type for r in receipts} == {name for _, name in SAMPLES}
        assert [(r.message_type, r.outcome, r.info) for r in receipts if r.outcome != "applied"] == []
        for filing_id, (name, state) in expected.items():
            filing = uow.session.get(Filing, filing_id)
            applied = uow.session.scalars(select(ReceiptEvent).where(
                ReceiptEvent.filing_id == filing_id, ReceiptEvent.outcome == "applied")).all()
            assert applied and all(e.message_type == name for e in applied), name
            assert filing.state == state != st.SENT, (name, filing.state)
    assert not list((inbox / "quarantine").iterdir())


def test_the_platform_answer_rejects_the_transmission_it_names(gateway):
    gw, tenant, inbox = gateway
    refused = store_filing(gw, tenant, "CEB311Message", "order:A|B|DXP-1", "DXP-1")
    confirmed = store_filing(gw, tenant, "CEB311Message", "order:A|B|DXP-2", "DXP-2")
    with gw.uow_factory() as uow:
        guids = {fid: uow.session.get(Filing, fid).guid for fid in (refused, confirmed)}
    (inbox / "rep-1.xml").write_bytes(dxp_forms.dxp_rep(guids[refused], "CEB311Message", "1001", "数字签名无效"))
    (inbox / "rep-2.xml").write_bytes(dxp_forms.dxp_rep(guids[confirmed], "CEB311Message", "0000"))
    drain(gw, inbox)
    with gw.uow_factory() as uow:
        assert uow.session.get(Filing, refused).state == st.REJECTED
        assert uow.session.get(Filing, refused).last_status_code == "1001"
        assert uow.session.get(Filing, confirmed).state == st.SENT       # a hand-over confirmation moves nothing
