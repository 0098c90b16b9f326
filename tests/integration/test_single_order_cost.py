"""One order a call (POST /v1/orders, ``Gateway.submit``): what issue 14 made cheaper stays correct and
stays cheap. The statements of one POST are counted (a regression to a query per row or a read before
every write shows here, not in a timed test); the plan's single read of the tenant and its enterprise codes
sees a code removed a moment before; the audit records of single orders and batches keep consecutive ids
in chain order; an expired Idempotency-Key is taken again in the one transaction of a first use."""
import json
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import event, select

from gateway.api import create_app
from gateway.domain import enterprises
from gateway.domain.problems import OrderInvalid
from gateway.service import idempotency
from gateway.service.audit import check_database
from gateway.service.tenants import codes_named, remove_enterprise
from gateway.store import models as m
from tests.helpers import add_tenant, fixture_json, make_gateway

# The statements of one new CBEC import order (the buyer's annual amount read, re-read and counted).
# SQLite: plan 4 (the tenant's signing keys, tenant with its codes, earlier orders, annual); store 8 (annual
# re-read, order, filings, outbox, annual entry, chain head with the largest audit id, audit records, head
# moved); BEGIN statements (SQLite sends them through the cursor) are counted as transactions instead: two
# (plan with the key choice, store; CPU work between plan and store). PostgreSQL adds the buyer's advisory lock
# and reads the largest id through INSERT .. RETURNING instead.
SERVICE_STATEMENTS = 12
# POST with Idempotency-Key adds the API key lookup (1), the key's first use (2: expired rows deleted,
# row inserted) and its answer kept (1), in three more transactions.
POST_STATEMENTS = SERVICE_STATEMENTS + 4
SERVICE_TRANSACTIONS, POST_TRANSACTIONS = 2, 5


def _numbered(name: str, suffix: str) -> str:
    data = fixture_json(name)
    data["order_no"] = f"{data['order_no']}-{suffix}"
    for holder in (data.get("payment"), data.get("logistics")):
        for field in ("transaction_no", "waybill_no"):
            if isinstance(holder, dict) and field in holder:
                holder[field] = f"{holder[field][:18]}{suffix}"
    return json.dumps(data, ensure_ascii=False)


class _Statements:
    def __init__(self, engine):
        self.sent: list[str] = []
        self.transactions = 0
        event.listen(engine, "before_cursor_execute", self._seen)
        event.listen(engine, "begin", self._began)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if not statement.upper().startswith("BEGIN"):
            self.sent.append(" ".join(statement.split()))

    def _began(self, conn):
        self.transactions += 1

    def clear(self):
        self.sent.clear()
        self.transactions = 0

    def starting(self, prefix: str) -> list[str]:
        return [s for s in self.sent if s.upper().startswith(prefix.upper())]


def test_one_post_costs_a_bounded_number_of_statements(tmp_path, db_url, signing_key):
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    tenant, key = add_tenant(gw)
    client = create_app(gw, {"TESTING": True}).test_client()
    gw.submit(tenant, _numbered("1210-single-line.json", "warm"))      # the chain head exists, pools are warm
    counted = _Statements(gw.engine)
    gw.submit(tenant, _numbered("1210-single-line.json", "svc"))
    service = list(counted.sent)
    assert len(counted.starting("INSERT INTO audit_events")) == 1        # every record of the order: ONE insert
    assert len(counted.starting("SELECT tenants.cop_code")) == 1         # tenant and codes: one read
    assert not counted.starting("SELECT tenant_enterprises")
    assert len(counted.starting("SELECT signing_keys")) == 1            # the key choice: one read, in the plan
    extra = 1 if gw.engine.dialect.name == "postgresql" else 0           # the buyer's advisory lock
    assert len(service) <= SERVICE_STATEMENTS + extra, service
    assert counted.transactions <= SERVICE_TRANSACTIONS

    counted.clear()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Idempotency-Key": "one"}
    r = client.post("/v1/orders", data=_numbered("1210-single-line.json", "api").encode(), headers=headers)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert not counted.starting("SELECT idempotency_keys")                # a first use inserts without reading
    assert len(counted.sent) <= POST_STATEMENTS + extra, counted.sent
    assert counted.transactions <= POST_TRANSACTIONS
    again = client.post("/v1/orders", data=_numbered("1210-single-line.json", "api").encode(), headers=headers)
    assert again.status_code == 201 and again.data == r.data and again.headers["Idempotent-Replayed"] == "true"
    with gw.uow_factory() as uow:
        stored = uow.session.scalar(select(m.Order).where(m.Order.id == r.get_json()["id"]))
        assert stored is not None and len(uow.filings.for_order(tenant, stored.id)) == len(r.get_json()["filings"])


def test_an_enterprise_code_removed_between_two_orders_refuses_the_second(tmp_path, db_url, signing_key):
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    first = _numbered("1210-single-line.json", "a")
    assert gw.submit(tenant, first).created
    foreign = [c for c in codes_named([first], gw.clock.now()) if c != "4601980ABC"]
    assert foreign and remove_enterprise(gw.uow_factory, tenant, foreign[0])
    with pytest.raises(OrderInvalid) as refused:
        gw.submit(tenant, _numbered("1210-single-line.json", "b"))
    assert {p.rule for p in refused.value.problems} == {enterprises.RULE}
    assert any(foreign[0] in p.message for p in refused.value.problems)
    # a tenant with no registered code at all (the outer join's one row without a code) files only its own
    bare, _ = add_tenant(gw, "Tenant B", cop_code="4601980ABD", enterprises=())
    with pytest.raises(OrderInvalid) as bare_refused:
        gw.submit(bare, _numbered("1210-single-line.json", "c"))
    assert {p.rule for p in bare_refused.value.problems} == {enterprises.RULE}


def test_audit_ids_follow_the_chain_across_single_orders_and_batches(tmp_path, db_url, signing_key):
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    for i in range(3):
        gw.submit(tenant, _numbered("1210-single-line.json", f"s{i}"))
    items = gw.submit_batch(tenant, [json.loads(_numbered("1210-single-line.json", f"b{i}")) for i in range(3)])
    assert all(it.error is None for it in items)
    gw.submit(tenant, _numbered("1210-single-line.json", "last"))
    with gw.uow_factory() as uow:
        records = list(uow.session.execute(select(m.AuditEvent.id, m.AuditEvent.prev_hash, m.AuditEvent.hash)
                                           .order_by(m.AuditEvent.id)))
        head = uow.session.get(m.AuditChainHead, 1)
        assert head.hash == records[-1].hash and head.records == len(records)
    for before, after in pairwise(records):
        assert after.prev_hash == before.hash
    if gw.engine.dialect.name == "sqlite":           # ids drawn under the write lock: no gap, no reuse
        assert [r.id for r in records] == list(range(records[0].id, records[0].id + len(records)))
    assert check_database(gw.uow_factory).ok


def test_an_expired_idempotency_key_is_taken_again_in_one_first_use(tmp_path, db_url, signing_key):
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    tenant, _ = add_tenant(gw)
    now, ttl = gw.clock.now(), timedelta(hours=1)
    assert idempotency.begin(gw.uow_factory, now, tenant, "k", "sha-1", ttl) is None
    idempotency.finish(gw.uow_factory, tenant, "k", idempotency.Answer(201, [("Content-Type", "a/b")], b"{}"))
    kept = idempotency.begin(gw.uow_factory, now, tenant, "k", "sha-1", ttl)
    assert kept == idempotency.Answer(201, [("Content-Type", "a/b")], b"{}")
    with pytest.raises(idempotency.KeyReused):
        idempotency.begin(gw.uow_factory, now, tenant, "k", "sha-2", ttl)
    later = now + ttl                                  # expired: as new, with another request even
    assert idempotency.begin(gw.uow_factory, later, tenant, "k", "sha-2", ttl) is None
    idempotency.finish(gw.uow_factory, tenant, "k", idempotency.Answer(503, [], b""))    # a 5xx is not kept
    assert idempotency.begin(gw.uow_factory, later, tenant, "k", "sha-3", ttl) is None
    with gw.uow_factory() as uow:
        rows = uow.session.scalars(select(m.IdempotencyRecord).where(m.IdempotencyRecord.tenant_id == tenant)).all()
        assert [(r.request_sha256, r.state) for r in rows] == [("sha-3", "running")]


def test_authentication_reads_the_key_afresh_on_every_request(tmp_path, db_url, signing_key):
    """The API key lookup (one statement, ``store.tenants.tenant_id_for_key``) agrees with
    ``api_keys.find_tenant`` and caches nothing: a key revoked, or a tenant disabled, between two requests
    is refused on the second."""
    from gateway.service.tenants import disable, revoke_key
    from gateway.store.tenants import issue_api_key, tenant_id_for_key

    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    tenant, key = add_tenant(gw)
    other, other_key = add_tenant(gw, "Tenant B", cop_code="4601980ABD")
    with gw.uow_factory() as uow:
        row, second = issue_api_key(uow, tenant, "second")
        second_id = row.id
        uow.commit()
    client = create_app(gw, {"TESTING": True}).test_client()

    def status(plain):
        return client.get("/v1/orders", headers={"Authorization": f"Bearer {plain}"}).status_code

    def both(plain):
        with gw.uow_factory() as uow:
            found = uow.api_keys.find_tenant(plain)
            return tenant_id_for_key(uow.session, plain), found.id if found is not None else None

    wrong = key[:8] + "x" * (len(key) - 8)           # the same prefix, another key
    for plain, owner in ((key, tenant), (second, tenant), (other_key, other), (wrong, None), (key[:7], None),
                         ("", None)):
        assert both(plain) == (owner, owner)
    assert status(key) == status(second) == 200 and status(wrong) == 401
    revoke_key(gw.uow_factory, gw.clock, tenant, second_id)
    assert status(second) == 401 and status(key) == 200 and both(second) == (None, None)
    disable(gw.uow_factory, gw.clock, tenant)
    assert status(key) == 401 and both(key) == (None, None)
    r = client.post("/v1/orders", data=_numbered("1210-single-line.json", "off").encode(),
                    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert status(other_key) == 200                    # the other tenant is untouched
