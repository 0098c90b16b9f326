"""Receipts from a government that signs its answers: verified against an explicit expectation;
tampered, wrapped, unsigned (when required) or wrongly signed receipts are refused with a clear
reason and kept in quarantine, and never block the receipts behind them."""
import pytest
from lxml import etree
from sqlalchemy import select

from gateway.adapters.sandbox import SandboxGovernment
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.ports import FixedClock, SequentialIds
from gateway.service.delivery.receipt_trust import ReceiptRefused, ReceiptTrust
from gateway.service.dispatch import RoundResult
from gateway.signing import Expectation, XmlSigner, ensure_dev_key
from gateway.store import models as m
from tests.helpers import START, add_tenant, fixture_text

RECEIPT = (b'<?xml version="1.0" encoding="UTF-8"?>\n<CEB312Message xmlns="http://www.chinaport.gov.cn/ceb" '
           b'guid="A1B2C3D4-0000-4000-8000-000000000001" version="1.0"><OrderReturn>'
           b'<guid>A1B2C3D4-0000-4000-8000-000000000002</guid><ebpCode>46121601BC</ebpCode>'
           b'<ebcCode>4612260A0K</ebcCode><orderNo>HT20261120000101</orderNo><returnStatus>120</returnStatus>'
           b'<returnTime>20261120103000000</returnTime><returnInfo>ok</returnInfo></OrderReturn></CEB312Message>')


@pytest.fixture(scope="module")
def government_key(tmp_path_factory):
    return ensure_dev_key(tmp_path_factory.mktemp("government"), common_name="Sandbox customs receipts")


@pytest.fixture(scope="module")
def stranger_key(tmp_path_factory):
    return ensure_dev_key(tmp_path_factory.mktemp("stranger"), common_name="Not customs")


def signed(key, body=RECEIPT) -> bytes:
    return XmlSigner().sign(etree.fromstring(body), key)


def trust(mode, key=None):
    return ReceiptTrust(mode, Expectation(trusted_certificates=[key.certificate] if key else None))


def test_policy_unit_behaviour(government_key, stranger_key):
    good = signed(government_key)
    assert b"ds:Signature" not in trust("required", government_key).trusted_bytes(good)   # signed content only
    assert trust("if-present", government_key).trusted_bytes(RECEIPT) == RECEIPT
    with pytest.raises(ReceiptRefused, match="unsigned receipt refused"):
        trust("required", government_key).trusted_bytes(RECEIPT)
    with pytest.raises(ReceiptRefused, match="digest"):
        trust("if-present", government_key).trusted_bytes(good.replace(b">120<", b">800<"))
    with pytest.raises(ReceiptRefused, match="receipt signature refused"):
        trust("required", government_key).trusted_bytes(signed(stranger_key))
    # wrapping: the signed receipt moved under a new root next to a forged one
    forged = good.replace(b'<?xml version="1.0" encoding="UTF-8"?>\n', b"")
    wrapped = b"<Wrapper>" + RECEIPT.split(b"\n", 1)[1].replace(b">120<", b">800<") + forged + b"</Wrapper>"
    with pytest.raises(ReceiptRefused):
        trust("if-present", government_key).trusted_bytes(wrapped)
    assert trust("none").trusted_bytes(b"anything") == b"anything"
    with pytest.raises(ValueError):
        ReceiptTrust("sometimes")


def make(tmp_path, db_url, signing_key, government_key, mode):
    clock = FixedClock(START, step_seconds=1)
    sandbox = SandboxGovernment(clock=clock, ids=SequentialIds(prefix="5A4D8B00-0000-4000-9000"),
                                receipt_key=government_key)
    cert = tmp_path / "customs.pem"
    from cryptography.hazmat.primitives.serialization import Encoding
    cert.write_bytes(government_key.certificate.public_bytes(Encoding.PEM))
    settings = Settings(instance_dir=tmp_path / "instance", database_url=db_url, receipt_signatures=mode,
                        government_certs=(cert,), auto_migrate="always")
    gw = bootstrap(settings, clock=clock, ids=SequentialIds(), adapters={"sandbox": sandbox}, key=signing_key)
    return gw


def test_signed_receipts_from_a_trusted_government_release_the_order(tmp_path, db_url, signing_key, government_key):
    gw = make(tmp_path, db_url, signing_key, government_key, "required")
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, sub.order_id)["status"] == "released"


def test_bad_receipts_are_quarantined_with_the_reason(tmp_path, db_url, signing_key, government_key, stranger_key):
    gw = make(tmp_path, db_url, signing_key, government_key, "required")
    tenant, _ = add_tenant(gw)
    sub = gw.submit(tenant, fixture_text("1210-single-line.json"))
    good = signed(government_key)
    r = RoundResult()
    ingest = gw.dispatcher.receipts.ingest
    ingest("sandbox", good.replace(b">120<", b">100<"), "t1", gw.clock.now(), r)      # tampered
    ingest("sandbox", RECEIPT, "t2", gw.clock.now(), r)                                # unsigned
    ingest("sandbox", signed(stranger_key), "t3", gw.clock.now(), r)                   # wrong signer
    assert r.quarantined == 3
    with gw.uow_factory() as uow:
        rows = uow.session.scalars(select(m.Receipt).where(m.Receipt.outcome == "quarantined")
                                   .order_by(m.Receipt.id)).all()
        reasons = [row.info for row in rows]
    assert "digest" in reasons[0]
    assert "unsigned receipt refused" in reasons[1]
    assert "receipt signature refused" in reasons[2]
    # nothing was applied from them, and the real receipts still complete the order
    gw.dispatcher.run_until_idle()
    assert gw.order(tenant, sub.order_id)["status"] == "released"
