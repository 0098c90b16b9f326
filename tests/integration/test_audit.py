"""The append-only audit log on real databases (SQLite and PostgreSQL): every change is chained,
any edit, deletion or reordering made directly in the database is found and named, checkpoints
are signed and catch truncation, concurrent writers never fork the chain; the auditor API; retention."""
from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy import func, select, text

from gateway.api import create_app
from gateway.audit import chain
from gateway.audit.tombstone import is_tombstone
from gateway.service import audit as audit_service
from gateway.service.retention import RetentionRefused, purge
from gateway.store import db
from gateway.store import models as m
from gateway.store.uow import UnitOfWork
from tests.helpers import add_tenant, fixture_text, make_gateway, submit_sent_anyway


@pytest.fixture
def gw(tmp_path, db_url, signing_key):
    gateway, _ = make_gateway(tmp_path, db_url, signing_key)
    yield gateway
    gateway.engine.dispose()


def run_orders(gw, *names, tenant=None):
    tenant = tenant or add_tenant(gw)[0]
    ids = [submit_sent_anyway(gw, tenant, fixture_text(n)).order_id for n in names]   # held ones released
    gw.dispatcher.run_until_idle()
    return tenant, ids


def sql(gw, statement: str, **params):
    with gw.engine.begin() as conn:
        return conn.execute(text(statement), params)


def events(gw) -> list[m.AuditEvent]:
    with gw.uow_factory() as uow:
        rows = list(uow.session.scalars(select(m.AuditEvent).order_by(m.AuditEvent.id)))
        uow.session.expunge_all()        # readable after the unit of work ends
        return rows


def failures(report) -> list[str]:
    return [str(f) for f in report.failures]


# ---- the chain -------------------------------------------------------------------------------------

def test_every_change_is_chained_and_the_chain_verifies(gw):
    tenant, (order_id,) = run_orders(gw, "1210-single-line.json")
    rows = events(gw)
    actions = {e.action for e in rows}
    assert {"tenant.created", "api_key.issued", "order.received", "filing.signed", "filing.sent",
            "receipt.stored", "filing.state", "order.status"} <= actions
    # each record links to the one before it, the first to nothing, and its hash is recomputable
    assert rows[0].prev_hash is None
    for before, after in pairwise(rows):
        assert after.prev_hash == before.hash
    last = rows[-1]
    body = {"tenant_id": last.tenant_id, "subject_type": last.subject_type, "subject_id": last.subject_id,
            "action": last.action, "detail": last.detail,
            "at": last.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                            .encode()).hexdigest()
    outer = json.dumps(["gateway-audit/1", last.prev_hash, digest], separators=(",", ":")).encode()
    assert last.hash == hashlib.sha256(outer).hexdigest()
    # the evidence is in the chain: signed bytes and raw receipts by sha256
    with gw.uow_factory() as uow:
        filing = uow.filings.for_order(tenant, order_id)[0]
        receipt = uow.session.scalars(select(m.Receipt).order_by(m.Receipt.id)).first()
        uow.session.expunge_all()
    signed = next(e for e in rows if e.action == "filing.signed" and e.subject_id == filing.id)
    assert json.loads(signed.detail)["sha256"] == hashlib.sha256(bytes(filing.signed_bytes)).hexdigest()
    stored = next(e for e in rows if e.action == "receipt.stored" and e.subject_id == str(receipt.id))
    assert json.loads(stored.detail)["sha256"] == hashlib.sha256(bytes(receipt.raw)).hexdigest()
    report = audit_service.check_database(gw.uow_factory)
    assert report.ok, failures(report)
    with gw.uow_factory() as uow:
        head = uow.session.get(m.AuditChainHead, 1)
        assert (head.hash, head.records) == (rows[-1].hash, len(rows))


def test_a_rolled_back_transaction_leaves_no_record_and_no_gap_in_the_chain(gw):
    tenant, _ = add_tenant(gw)
    before = events(gw)
    with gw.uow_factory() as uow:
        uow.audit.record(tenant, "order", "X", "order.received", {"n": 1})
        uow.flush()
    with pytest.raises(RuntimeError):
        with gw.uow_factory() as uow:
            uow.audit.record(tenant, "order", "Y", "order.received", {"n": 2})
            raise RuntimeError("boom")
    with gw.uow_factory() as uow:
        uow.audit.record(tenant, "order", "Z", "order.received", {"n": 3})
        uow.commit()
    after = events(gw)
    assert [e.subject_id for e in after[len(before):]] == ["Z"]
    assert after[-1].prev_hash == before[-1].hash
    assert audit_service.check_database(gw.uow_factory).ok


AUDIT_COLUMNS = ("id", "tenant_id", "subject_type", "subject_id", "action", "detail", "at", "prev_hash", "hash")


def _snapshot(gw) -> list[dict]:
    with gw.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_events"))]


def _restore(gw, rows: list[dict]) -> None:
    with gw.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))
        conn.execute(text(f"INSERT INTO audit_events ({', '.join(AUDIT_COLUMNS)}) "
                          f"VALUES ({', '.join(':' + c for c in AUDIT_COLUMNS)})"), rows)


def test_editing_the_log_in_the_database_is_found_and_the_first_broken_record_named(gw):
    run_orders(gw, "1210-single-line.json")
    rows = events(gw)
    original = _snapshot(gw)
    victim, after = rows[5], rows[6]
    detail = victim.detail.replace("}", ',"x":1}', 1)
    forged = chain.record_hash(victim.prev_hash, victim.tenant_id, victim.subject_type, victim.subject_id,
                               victim.action, detail, victim.at)
    tampers = {   # name -> (what the forger does, first broken record, its kind, words of the message)
        "edit detail": (lambda: sql(gw, "UPDATE audit_events SET detail = :d WHERE id = :id", d=detail, id=victim.id),
                        victim.id, "edited", "was changed"),
        "edit time": (lambda: sql(gw, "UPDATE audit_events SET at = :at WHERE id = :id",
                                  at=victim.at + timedelta(seconds=1), id=victim.id),
                      victim.id, "edited", "was changed"),
        # a careful forger recomputes the edited record's own hash: the next record no longer links
        "edit and rehash": (lambda: sql(gw, "UPDATE audit_events SET detail = :d, hash = :h WHERE id = :id",
                                        d=detail, h=forged, id=victim.id),
                            after.id, "deleted", "does not link"),
        "delete": (lambda: sql(gw, "DELETE FROM audit_events WHERE id = :id", id=victim.id),
                   after.id, "deleted", "does not link"),
        "reorder": (lambda: _swap(gw, victim.id, after.id), victim.id, "reordered", "reordered"),
    }
    for name, (tamper, expected, kind, words) in tampers.items():
        tamper()
        report = audit_service.check_database(gw.uow_factory)
        first = next((f for f in report.failures if f.subject == "chain"), None)
        assert first is not None and f"record {expected}" in first.message and words in first.message, \
            (name, failures(report))
        verified = chain.verify_records(_chain_records(gw))
        assert (verified.first_broken.record_id, verified.first_broken.kind) == (expected, kind), name
        _restore(gw, original)
        assert audit_service.check_database(gw.uow_factory).ok, name


def _swap(gw, a: int, b: int) -> None:
    cols = ("tenant_id", "subject_type", "subject_id", "action", "detail", "at", "prev_hash", "hash")
    with gw.engine.begin() as conn:
        ra = conn.execute(text(f"SELECT {', '.join(cols)} FROM audit_events WHERE id = :i"), {"i": a}).one()
        rb = conn.execute(text(f"SELECT {', '.join(cols)} FROM audit_events WHERE id = :i"), {"i": b}).one()
        sets = ", ".join(f"{c} = :{c}" for c in cols)
        conn.execute(text(f"UPDATE audit_events SET {sets} WHERE id = :i"), dict(zip(cols, rb, strict=True), i=a))
        conn.execute(text(f"UPDATE audit_events SET {sets} WHERE id = :i"), dict(zip(cols, ra, strict=True), i=b))


def _chain_records(gw):
    from gateway.store.audit_chain import iter_chain

    with gw.uow_factory() as uow:
        return list(iter_chain(uow.session))


def test_deleting_the_newest_records_is_found_by_the_head_and_by_a_signed_checkpoint(gw, signing_key, tmp_path):
    run_orders(gw, "1210-single-line.json")
    cp = audit_service.make_checkpoint(gw.uow_factory, signing_key, gw.clock, tmp_path / "checkpoints")
    assert (tmp_path / "checkpoints" / f"checkpoint-{cp.id:06d}.json").is_file()
    assert json.loads((tmp_path / "checkpoints" / f"checkpoint-{cp.id:06d}.json").read_text())["head_hash"] == cp.head_hash
    assert audit_service.check_database(gw.uow_factory).ok
    rows = events(gw)
    cut = rows[-4]
    sql(gw, "DELETE FROM audit_events WHERE id >= :id", id=cut.id)
    report = audit_service.check_database(gw.uow_factory)
    assert any(f.subject == "head" and "deleted from the end" in f.message for f in report.failures), failures(report)
    # the forger also rewinds the head: the signed checkpoint still names the deleted head
    sql(gw, "UPDATE audit_chain_head SET hash = :h, records = :n", h=rows[-5].hash, n=len(rows) - 4)
    report = audit_service.check_database(gw.uow_factory)
    by_subject = {f.subject: f.message for f in report.failures}
    assert "head" not in by_subject and "chain" not in by_subject      # the forgery is consistent ...
    assert f"record {cp.last_event_id}" in by_subject[f"checkpoint {cp.id}"], failures(report)   # ... but signed
    # the deleted tail held the last receipt's record: that receipt is no longer chain-covered
    assert any(s.startswith("receipt ") for s in by_subject), failures(report)


def test_a_checkpoint_whose_signed_head_was_edited_does_not_verify(gw, signing_key):
    run_orders(gw, "9610-minimal.json")
    cp = audit_service.make_checkpoint(gw.uow_factory, signing_key, gw.clock)
    sql(gw, "UPDATE audit_checkpoints SET records = records + 1 WHERE id = :id", id=cp.id)
    report = audit_service.check_database(gw.uow_factory)
    assert any(f.subject == f"checkpoint {cp.id}" and "does not verify" in f.message for f in report.failures)


def test_editing_stored_evidence_is_found_and_named(gw):
    tenant, (order_id,) = run_orders(gw, "1210-single-line.json")
    with gw.uow_factory() as uow:
        filing = uow.filings.for_order(tenant, order_id)[-1]
        receipt = uow.session.scalars(select(m.Receipt).order_by(m.Receipt.id)).first()
        uow.session.expunge_all()
    signed, raw, body = bytes(filing.signed_bytes), bytes(receipt.raw), fixture_text("1210-single-line.json")
    flipped = signed[:200] + bytes([signed[200] ^ 1]) + signed[201:]

    def set_filing(data, sha):
        sql(gw, "UPDATE filings SET signed_bytes = :b, sha256 = :s WHERE id = :id", b=data, s=sha, id=filing.id)

    cases = {   # name -> (tamper, restore, subject named)
        "one bit of the signed bytes": (lambda: set_filing(flipped, filing.sha256),
                                        lambda: set_filing(signed, filing.sha256), f"filing {filing.id}"),
        "signed bytes and their sha256 column": (
            lambda: set_filing(flipped, hashlib.sha256(flipped).hexdigest()),
            lambda: set_filing(signed, filing.sha256), f"filing {filing.id}"),
        "a raw receipt": (lambda: sql(gw, "UPDATE receipts SET raw = :b WHERE id = :id", b=raw + b" ", id=receipt.id),
                          lambda: sql(gw, "UPDATE receipts SET raw = :b WHERE id = :id", b=raw, id=receipt.id),
                          f"receipt {receipt.id}"),
        "the order body": (lambda: sql(gw, "UPDATE orders SET body = :b WHERE id = :id", b=body + " ", id=order_id),
                           lambda: sql(gw, "UPDATE orders SET body = :b WHERE id = :id", b=body, id=order_id),
                           f"order {order_id}"),
    }
    for name, (tamper, restore, subject) in cases.items():
        tamper()
        report = audit_service.check_database(gw.uow_factory)
        assert [f.subject for f in report.failures] == [subject], (name, failures(report))
        assert "changed" in report.failures[0].message, name
        restore()
        assert audit_service.check_database(gw.uow_factory).ok, name


def test_rows_written_around_the_gateway_are_found(gw):
    tenant, (order_id,) = run_orders(gw, "1210-single-line.json")
    sql(gw, "INSERT INTO audit_events (tenant_id, subject_type, subject_id, action, detail, at) "
            "VALUES (:t, 'order', :o, 'order.status', '{}', :at)", t=tenant, o=order_id, at=events(gw)[-1].at)
    report = audit_service.check_database(gw.uow_factory)
    assert any("has no hash" in f.message for f in report.failures), failures(report)


def test_concurrent_writers_never_link_to_the_same_record(gw):
    tenant, _ = add_tenant(gw)
    writers, per_writer = 6, 15
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                with gw.uow_factory() as uow:
                    uow.audit.record(tenant, "order", f"W{n}-{i}", "order.status", {"i": i})
                    uow.audit.record(tenant, "order", f"W{n}-{i}", "order.status", {"i": i, "second": True})
                    uow.commit()
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    rows = events(gw)
    prevs = [e.prev_hash for e in rows]
    assert len(prevs) == len(set(prevs))                     # no fork: every record has its own predecessor
    assert sum(e.subject_id.startswith("W") for e in rows) == writers * per_writer * 2
    # the two records of one transaction are adjacent: nobody got in between
    for a, b in pairwise(rows):
        if a.subject_id.startswith("W") and "second" not in a.detail:
            assert b.subject_id == a.subject_id
    report = audit_service.check_database(gw.uow_factory)
    assert report.ok, failures(report)


def test_the_migration_chains_events_written_before_it(tmp_path, db_url):
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine, "0002")
        with engine.begin() as conn:
            for i in range(3):
                conn.execute(text("INSERT INTO audit_events (tenant_id, subject_type, subject_id, action, detail, at) "
                                  "VALUES (NULL, 'order', :s, 'order.received', :d, :at)"),
                             {"s": f"O{i}", "d": json.dumps({"i": i}),
                              "at": f"2026-01-01 00:00:0{i}.000000" if engine.dialect.name == "sqlite"
                              else f"2026-01-01T00:00:0{i}+00:00"})
        db.upgrade(engine)
        uow = UnitOfWork(db.session_factory(engine))
        with uow:
            uow.audit.record(None, "order", "O3", "order.received", {"i": 3})
            uow.commit()
        with uow:
            rows = list(uow.session.scalars(select(m.AuditEvent).order_by(m.AuditEvent.id)))
            assert [r.subject_id for r in rows] == ["O0", "O1", "O2", "O3"]
            assert rows[0].prev_hash is None and all(b.prev_hash == a.hash for a, b in pairwise(rows))
            assert uow.session.get(m.AuditChainHead, 1).records == 4
        report = audit_service.check_database(lambda: UnitOfWork(db.session_factory(engine)), evidence=False)
        assert report.ok, failures(report)
    finally:
        engine.dispose()


def test_chain_verifier_on_records_alone():
    at = "2026-11-20T02:00:00.000000Z"
    recs, prev = [], None
    for i in range(1, 6):
        h = chain.record_hash(prev, "T", "order", f"O{i}", "order.received", "{}", at)
        recs.append(chain.ChainRecord(i, prev, h, "T", "order", f"O{i}", "order.received", "{}", at))
        prev = h
    assert chain.verify_records(recs).ok
    # a redacted record still links (digest instead of content) but its digest is bound by the hash
    redacted = recs[:2] + [recs[2].redact()] + recs[3:]
    assert chain.verify_records(redacted).ok
    bad = chain.ChainRecord(3, recs[2].prev_hash, recs[2].hash, digest="0" * 64)
    report = chain.verify_records(recs[:2] + [bad] + recs[3:])
    assert report.first_broken.record_id == 3 and report.first_broken.kind == "edited"
    # a slice starting mid-chain is fine unless it claims to be the start
    assert chain.verify_records(recs[2:], expect_genesis=False).ok
    assert chain.verify_records(recs[2:]).first_broken.kind == "deleted"
    with pytest.raises(ValueError, match="naive"):
        chain.format_at(datetime(2026, 1, 1))


# ---- auditors and the read-only API -----------------------------------------------------------------

def test_auditor_reads_granted_tenants_only_and_every_read_is_recorded(gw):
    tenant_a, key_a = add_tenant(gw, "Tenant A")
    tenant_b, _ = add_tenant(gw, "Tenant B", cop_code="4601980XYZ")
    _, (order_a,) = run_orders(gw, "1210-single-line.json", tenant=tenant_a)
    _, (order_b,) = run_orders(gw, "9610-minimal.json", tenant=tenant_b)
    with gw.uow_factory() as uow:
        auditor, auditor_key = audit_service.create_auditor(uow, "Customs audit team", [tenant_a])
        uow.commit()
        filing_a = uow.filings.for_order(tenant_a, order_a)[0]
        receipt_a = uow.session.scalar(select(m.Receipt).where(m.Receipt.tenant_id == tenant_a))
        uow.session.expunge_all()
    client = create_app(gw).test_client()
    auth = {"Authorization": f"Bearer {auditor_key}"}

    def reads() -> int:
        with gw.uow_factory() as uow:
            return uow.session.scalar(select(func.count()).select_from(m.AuditEvent)
                                      .where(m.AuditEvent.action == "auditor.read"))

    assert client.get("/v1/audit/tenants", headers=auth).json["tenants"][0]["id"] == tenant_a
    r = client.get(f"/v1/audit/orders/{order_a}", headers=auth)
    assert r.status_code == 200 and r.json["filings"][0]["built_with"]["standard"]
    assert r.json["normalized"]["app_time"]
    assert client.get(f"/v1/audit/orders/{order_b}", headers=auth).status_code == 404
    assert client.get(f"/v1/audit/tenants/{tenant_b}/orders", headers=auth).status_code == 404
    xml = client.get(f"/v1/audit/filings/{filing_a.id}/xml", headers=auth)
    assert xml.data == bytes(filing_a.signed_bytes) and xml.headers["X-Content-SHA256"] == filing_a.sha256
    assert client.get(f"/v1/audit/receipts/{receipt_a.id}/raw", headers=auth).data == bytes(receipt_a.raw)
    assert client.get(f"/v1/audit/orders/{order_a}/body", headers=auth).get_data(as_text=True) == \
        fixture_text("1210-single-line.json")
    listed = client.get(f"/v1/audit/tenants/{tenant_a}/orders?from=2026-11-20&to=2026-11-21", headers=auth)
    assert [o["id"] for o in listed.json["orders"]] == [order_a]
    assert client.get(f"/v1/audit/tenants/{tenant_a}/orders?from=2026-13-01", headers=auth).status_code == 400
    ev = client.get(f"/v1/audit/events?tenant={tenant_a}&subject_type=order&subject_id={order_a}", headers=auth)
    assert {e["action"] for e in ev.json["events"]} >= {"order.received", "order.status"}
    assert all(e["tenant_id"] == tenant_a for e in ev.json["events"])
    bundle = client.get(f"/v1/audit/orders/{order_a}/bundle", headers=auth)
    assert bundle.status_code == 200 and bundle.mimetype == "application/zip"
    from gateway.audit.bundle import verify_bundle

    assert verify_bundle(bundle.data, trusted=[gw.key.certificate]).ok
    with gw.uow_factory() as uow:
        exported = uow.session.scalar(select(m.AuditEvent.detail).where(m.AuditEvent.action == "evidence.exported"))
    assert json.loads(exported)["actor"] == f"auditor:{auditor.id}"
    before = reads()
    verify = client.get("/v1/audit/chain/verify", headers=auth)
    assert verify.status_code == 200 and verify.json["ok"] is True, verify.json
    assert reads() == before + 1
    with gw.uow_factory() as uow:
        last = uow.session.scalar(select(m.AuditEvent).order_by(m.AuditEvent.id.desc()).limit(1))
        uow.session.expunge_all()
    assert (last.action, last.subject_id, json.loads(last.detail)["path"]) == \
        ("auditor.read", auditor.id, "/v1/audit/chain/verify")
    # refused: no key, a tenant's key, a revoked key; and an auditor key is no tenant key
    assert client.get("/v1/audit/tenants").status_code == 401
    assert client.get("/v1/audit/tenants", headers={"Authorization": f"Bearer {key_a}"}).status_code == 401
    assert client.get(f"/v1/orders/{order_a}", headers=auth).status_code == 401
    with gw.uow_factory() as uow:
        audit_service.revoke_auditor(uow, auditor.id)
        uow.commit()
    assert client.get("/v1/audit/tenants", headers=auth).status_code == 401


def test_the_chain_endpoint_reports_a_broken_chain(gw):
    tenant, _ = add_tenant(gw)
    with gw.uow_factory() as uow:
        _, key = audit_service.create_auditor(uow, "Auditor", [tenant])
        uow.commit()
    run_orders(gw, "9610-minimal.json", tenant=tenant)
    victim = events(gw)[3]
    sql(gw, "UPDATE audit_events SET action = 'order.deleted' WHERE id = :id", id=victim.id)
    r = create_app(gw).test_client().get("/v1/audit/chain/verify", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json["ok"] is False
    assert any(f"record {victim.id}" in f["message"] for f in r.json["findings"] if f["level"] == "fail")


# ---- retention ----------------------------------------------------------------------------------------

def test_purge_refuses_inside_the_retention_period(gw, signing_key, tmp_path):
    run_orders(gw, "9610-minimal.json")
    today = gw.clock.now().date()
    with pytest.raises(RetentionRefused, match="inside the retention period of 5 years"):
        purge(gw.uow_factory, signing_key, gw.clock, before=today, export_dir=tmp_path / "bundles")
    assert not (tmp_path / "bundles").exists()


def test_purge_exports_then_tombstones_and_the_chain_stays_verifiable(gw, signing_key, tmp_path):
    from gateway.audit.bundle import verify_bundle
    from gateway.service.replay import replay_order

    tenant, (done, rejected) = run_orders(gw, "1210-single-line.json", "9610-over-single-limit.json")
    in_progress = gw.submit(tenant, fixture_text("9610-minimal.json")).order_id      # never dispatched
    gw.clock.start = gw.clock.start.replace(year=gw.clock.start.year + 6)
    before = (gw.clock.now() - timedelta(days=365 * 5 + 2)).date()
    with gw.uow_factory() as uow:
        sizes = {f.id: len(f.signed_bytes) for f in uow.filings.for_order(tenant, done)}
    result = purge(gw.uow_factory, signing_key, gw.clock, before=before, export_dir=tmp_path / "bundles")
    assert sorted(result.purged) == sorted([done, rejected])
    assert [o for o, _ in result.skipped] == [in_progress]
    # 1210-single-line: 4 customs + inspection, tax, FX records; 9610-over-single-limit: 4 customs + FX
    assert result.filings == 7 + 5 and result.receipts > 0
    with gw.uow_factory() as uow:
        order = uow.orders.get(tenant, done)
        assert is_tombstone(order.body)
        for f in uow.filings.for_order(tenant, done):
            assert is_tombstone(bytes(f.signed_bytes)) and len(f.signed_bytes) < sizes[f.id]
        assert not is_tombstone(uow.orders.get(tenant, in_progress).body)
        purged = uow.session.scalars(select(m.AuditEvent.action).where(m.AuditEvent.action.like("%.purged"))).all()
    assert set(purged) == {"order.purged", "filing.purged", "receipt.purged"}
    for bundle in result.bundles:
        assert verify_bundle(bundle, trusted=[gw.key.certificate]).ok
    report = audit_service.check_database(gw.uow_factory)
    assert report.ok, failures(report)
    # a purged order cannot be replayed, and says where its evidence went
    r = replay_order(gw.uow_factory, done, key=signing_key, record=False)
    assert not r.identical and f"{done}.zip" in r.error
    # a second purge finds nothing new; a forged tombstone is caught
    assert purge(gw.uow_factory, signing_key, gw.clock, before=before, export_dir=tmp_path / "b2").purged == []
    with gw.uow_factory() as uow:
        f = uow.filings.for_order(tenant, done)[0]
        uow.session.expunge_all()
    sql(gw, "UPDATE filings SET signed_bytes = :b WHERE id = :id",
        b=bytes(f.signed_bytes).replace(f.sha256.encode(), b"0" * 64), id=f.id)
    report = audit_service.check_database(gw.uow_factory)
    assert [x.subject for x in report.failures] == [f"filing {f.id}"] and "tombstone" in report.failures[0].message


def test_the_retention_period_is_configurable_and_checked(gw, signing_key, tmp_path):
    from gateway.config import ConfigError, Settings

    assert Settings.from_env(env={}).retention_years == 5
    assert Settings.from_env(env={"GATEWAY_RETENTION_YEARS": "7"}).retention_years == 7
    for bad in ("five", "0"):
        with pytest.raises(ConfigError, match="GATEWAY_RETENTION_YEARS"):
            Settings.from_env(env={"GATEWAY_RETENTION_YEARS": bad})
    run_orders(gw, "9610-minimal.json")
    gw.clock.start = gw.clock.start.replace(year=gw.clock.start.year + 6)      # six years later
    before = gw.clock.now().date().replace(year=gw.clock.now().year - 5)
    with pytest.raises(RetentionRefused, match="7 years"):
        purge(gw.uow_factory, signing_key, gw.clock, before=before, export_dir=tmp_path / "b", retention_years=7)
    assert len(purge(gw.uow_factory, signing_key, gw.clock, before=before, export_dir=tmp_path / "b",
                     dry_run=True).purged) == 1
