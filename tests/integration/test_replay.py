"""Replay on real databases (SQLite and PostgreSQL): every valid fixture order rebuilds its filings
byte for byte from what was stored (body, app time, guids, cop_no, transfer); a difference is
reported field by field; version drift is a warning; a replay goes to the sandbox only."""
from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, text

from gateway.adapters import registry
from gateway.ports import FixedClock, UuidGenerator
from gateway.service.replay import ReplayError, replay_order, resend_to_sandbox
from gateway.signing import ensure_dev_key
from gateway.store import models as m
from tests.helpers import START, add_tenant, fixture_text, make_gateway, submit_sent_anyway, valid_fixtures


@pytest.fixture
def gw(tmp_path, db_url, signing_key):
    gateway, _ = make_gateway(tmp_path, db_url, signing_key)
    yield gateway
    gateway.engine.dispose()


@pytest.fixture
def sqlite_gw(tmp_path, sqlite_url, signing_key):
    """For what does not depend on the database: SQLite only."""
    gateway, _ = make_gateway(tmp_path, sqlite_url, signing_key)
    yield gateway
    gateway.engine.dispose()


def sql(gw, statement: str, **params):
    with gw.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_every_valid_fixture_replays_to_identical_filings(gw, signing_key):
    tenant, _ = add_tenant(gw)
    # the held one (over the single limit) released: every fixture has filings to replay
    orders = {p.name: submit_sent_anyway(gw, tenant, p.read_text("utf-8")).order_id for p in valid_fixtures()}
    gw.dispatcher.run_until_idle()
    assert len(orders) >= 10
    # the tenant's details change afterwards: the replay uses the transfer recorded with each order
    sql(gw, "UPDATE tenants SET cop_name = 'Renamed Ltd', dxp_id = 'DXPENT0000999999' WHERE id = :t", t=tenant)
    for name, order_id in orders.items():
        report = replay_order(gw.uow_factory, order_id, key=signing_key, tenant_id=tenant,
                              current_versions=gw.declarer.built_with(signing_key))
        assert report.identical, (name, report.lines())
        assert report.warnings == [], (name, report.warnings)
        assert report.as_of is not None and report.as_of.isoformat().startswith("2026-11-20")
        with gw.uow_factory() as uow:
            stored = {f.message_type: f.sha256 for f in uow.filings.for_order(tenant, order_id)}
        assert {f.message_type: f.replayed_sha256 for f in report.filings} == stored, name
    with gw.uow_factory() as uow:
        replayed = uow.session.scalars(select(m.AuditEvent.subject_id).where(m.AuditEvent.action == "order.replayed"))
        assert sorted(replayed) == sorted(orders.values())


def test_a_changed_filing_is_reported_field_by_field(gw, signing_key):
    tenant, _ = add_tenant(gw)
    order_id = gw.submit(tenant, fixture_text("1210-single-line.json")).order_id
    with gw.uow_factory() as uow:
        filing = next(f for f in uow.filings.for_order(tenant, order_id) if f.message_type == "CEB621Message")
        fid, data = filing.id, bytes(filing.signed_bytes)
    sent = data.replace(b"<ceb:buyerName>\xe5\xbc\xa0\xe4\xbc\x9f</ceb:buyerName>",
                        "<ceb:buyerName>李雷</ceb:buyerName>".encode(), 1)
    assert sent != data
    sql(gw, "UPDATE filings SET signed_bytes = :b WHERE id = :id", b=sent, id=fid)
    report = replay_order(gw.uow_factory, order_id, key=signing_key)
    assert not report.identical
    diff = next(f for f in report.filings if f.message_type == "CEB621Message")
    assert [(d.path, d.original, d.replayed) for d in diff.differences] == [
        ("/CEB621Message/Inventory/InventoryHead/buyerName", "李雷", "张伟")]
    assert all(f.identical for f in report.filings if f.message_type != "CEB621Message")
    lines = "\n".join(report.lines())
    assert "DIFF  CEB621Message" in lines and "buyerName: sent '李雷', replay '张伟'" in lines
    assert lines.endswith("RESULT: DIFFERENT")


def test_another_key_gives_the_same_content_and_says_so(sqlite_gw, signing_key, tmp_path):
    tenant, _ = add_tenant(sqlite_gw)
    order_id = sqlite_gw.submit(tenant, fixture_text("9610-minimal.json")).order_id
    other = ensure_dev_key(tmp_path / "other-key", common_name="Replacement signer")
    report = replay_order(sqlite_gw.uow_factory, order_id, key=other)
    assert not report.identical
    assert any("signed by certificate serial" in w and other.key_name in w for w in report.warnings)
    for f in report.filings:     # only the signature differs, never the content
        paths = {d.path.rsplit("/", 1)[-1] for d in f.differences}
        assert paths and paths <= {"KeyName", "X509Certificate", "SignatureValue"}, f.differences


def test_version_drift_is_a_warning(sqlite_gw, signing_key):
    tenant, _ = add_tenant(sqlite_gw)
    order_id = sqlite_gw.submit(tenant, fixture_text("9610-minimal.json")).order_id
    with sqlite_gw.uow_factory() as uow:
        for f in uow.filings.for_order(tenant, order_id):
            built_with = json.loads(f.built_with)
            f.built_with = json.dumps(dict(built_with, schemas="0000000000000000", gateway="0.0.9"))
        uow.commit()
    report = replay_order(sqlite_gw.uow_factory, order_id, key=signing_key,
                          current_versions=sqlite_gw.declarer.built_with(signing_key))
    assert report.identical          # the bytes still come out the same: the versions are only recorded
    assert any(w.startswith("built with gateway '0.0.9'") for w in report.warnings), report.warnings
    assert any(w.startswith("built with schemas '0000000000000000'") for w in report.warnings), report.warnings


def test_unknown_order_and_other_tenants_order(gw, signing_key):
    a, _ = add_tenant(gw, "A")
    b, _ = add_tenant(gw, "B", cop_code="4601980XYZ")
    order_id = gw.submit(a, fixture_text("9610-minimal.json")).order_id
    with pytest.raises(ReplayError, match="no order NOPE"):
        replay_order(gw.uow_factory, "NOPE", key=signing_key)
    with pytest.raises(ReplayError, match=f"for tenant {b}"):
        replay_order(gw.uow_factory, order_id, key=signing_key, tenant_id=b)


def test_a_replay_is_sent_to_the_sandbox_and_never_to_another_adapter(gw, signing_key, tmp_path):
    tenant, _ = add_tenant(gw)
    order_id = gw.submit(tenant, fixture_text("1210-single-line.json")).order_id
    gw.dispatcher.run_until_idle()
    before = _stored(gw, tenant, order_id)
    report = replay_order(gw.uow_factory, order_id, key=signing_key)
    fresh_sandbox = registry.load_adapter("sandbox", {}, clock=FixedClock(START), ids=UuidGenerator())
    results = resend_to_sandbox(gw.uow_factory, fresh_sandbox, report)
    # customs' four documents and the inspection, tax and FX records, in sequence: the inventory (with the
    # inspection and FX records) after the documents it is matched with, the tax record after the inventory
    assert [r.accepted for r in results] == [True] * 7
    type_of = {f.guid: f.message_type for f in report.filings}
    assert [type_of[r.message_id] for r in results] == [
        "CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message", "FxRecord", "InspectionRecord",
        "TaxRecord"]
    for f in report.rebuilt:
        assert fresh_sandbox.received_bytes(f.guid) == f.signed_bytes
    outbox, inbox = tmp_path / "dxp-out", tmp_path / "dxp-in"
    outbox.mkdir(), inbox.mkdir()
    production = registry.load_adapter("dxp-files", {"outbox": str(outbox), "inbox": str(inbox)},
                                       clock=FixedClock(START), ids=UuidGenerator())
    with pytest.raises(ReplayError, match="refusing to send a replay to adapter 'dxp-files'"):
        resend_to_sandbox(gw.uow_factory, production, report)
    assert list(outbox.iterdir()) == []
    with gw.uow_factory() as uow:
        sent = uow.session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "order.replay_sent")).all()
        assert len(sent) == 1 and json.loads(sent[0].detail)["adapter"] == "sandbox"
    assert _stored(gw, tenant, order_id) == before      # a replay never touches the order or its filings


def _stored(gw, tenant, order_id):
    with gw.uow_factory() as uow:
        order = uow.orders.get(tenant, order_id)
        return (order.status, order.body, [(f.state, f.guid, bytes(f.signed_bytes), f.updated_at)
                                           for f in uow.filings.for_order(tenant, order_id)])


def test_cli_replay(sqlite_gw, tmp_path, sqlite_url, monkeypatch, capsys):
    from gateway.cli import main

    tenant, _ = add_tenant(sqlite_gw)
    order_id = sqlite_gw.submit(tenant, fixture_text("1210-gift-line.json")).order_id
    sqlite_gw.dispatcher.run_until_idle()
    monkeypatch.setenv("GATEWAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("GATEWAY_INSTANCE_DIR", str(tmp_path / "cli-instance"))
    # the CLI signs with its own key (a development key in its instance): same content, other signature
    assert main(["replay", "--order", order_id]) == 1
    out = capsys.readouterr().out
    assert "WARNING the filings were signed by certificate serial" in out and "RESULT: DIFFERENT" in out
    assert "/Signature/SignatureValue" in out and "/Inventory/" not in out
    # with the gateway's own key, as configured: identical
    keys = tmp_path / "configured-keys"
    keys.mkdir()
    (keys / "k.pem").write_bytes(sqlite_gw.key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (keys / "c.pem").write_bytes(sqlite_gw.key.certificate.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setenv("GATEWAY_SIGNING_KEY", str(keys / "k.pem"))
    monkeypatch.setenv("GATEWAY_SIGNING_CERT", str(keys / "c.pem"))
    assert main(["replay", "--order", order_id, "--send-to-sandbox"]) == 0
    out = capsys.readouterr().out
    assert "RESULT: identical" in out and out.count("SAME  CEB") == 4 and out.count("accepted") == 7
    assert all(f"SAME  {t}" in out for t in ("InspectionRecord", "TaxRecord", "FxRecord"))
    assert main(["replay", "--order", "NO-SUCH"]) == 2
    assert "no order NO-SUCH" in capsys.readouterr().err


def test_an_order_dated_2018_is_built_and_replayed_with_the_2018_rules_and_rates(tmp_path, db_url, signing_key):
    """Declared on 2018-06-15: the rule set in force then (CN-2018-05: VAT 16 %, 2,000/20,000 CNY
    limits) and the 2018 reference rows are used, and a replay years later rebuilds the same bytes."""
    from datetime import datetime, timedelta, timezone

    from lxml import etree

    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    gw.clock.start = datetime(2018, 6, 15, 10, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    tenant, _ = add_tenant(gw)
    body = fixture_text("1210-single-line.json").replace("2026-11-20T", "2018-06-15T")
    assert "2026" not in json.loads(body)["payment"]["paid_at"]
    order_id = gw.submit(tenant, body).order_id
    with gw.uow_factory() as uow:
        filings = {f.message_type: bytes(f.signed_bytes) for f in uow.filings.for_order(tenant, order_id)}
    tax = next(data for mt, data in filings.items() if "Tax" in mt)
    root = etree.fromstring(tax)
    texts = {etree.QName(el).localname: el.text for el in root.iter() if isinstance(el.tag, str)}
    assert texts["ruleSet"].startswith("CN-2018-05")
    assert "0.16" in {el.text for el in root.iter() if etree.QName(el).localname == "vatRate"}
    inventory = etree.fromstring(filings["CEB621Message"])
    assert inventory.findtext(".//{http://www.chinaport.gov.cn/ceb}declTime") == "20180615"
    gw.clock.start = datetime(2026, 11, 22, 9, 0, 0, tzinfo=timezone(timedelta(hours=8)))   # years later
    report = replay_order(gw.uow_factory, order_id, key=signing_key, tenant_id=tenant)
    assert report.identical, report.lines()
    assert report.as_of.date().isoformat() == "2018-06-15"
