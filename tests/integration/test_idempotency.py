"""Idempotency-Key on POST (service/idempotency.py, api/idempotent.py): the first answer replayed for
the same key and body, 422 for another body, one winner for concurrent first uses, kept per tenant
for the configured time."""
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gateway.api import create_app
from gateway.service import idempotency
from gateway.store import models as m
from tests.helpers import add_tenant, fixture_json, fixture_text, make_gateway


def _env(tmp_path, db_url, signing_key):
    gw, _ = make_gateway(tmp_path, db_url, signing_key)
    tenant, key = add_tenant(gw, "Tenant A")
    return gw, create_app(gw, {"TESTING": True}).test_client(), tenant, key


def test_same_key_same_body_replays_the_first_answer_and_another_body_is_422(tmp_path, db_url, signing_key):
    gw, client, tenant, key = _env(tmp_path, db_url, signing_key)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Idempotency-Key": "order-1"}
    body = fixture_text("1210-single-line.json").encode()
    first = client.post("/v1/orders", data=body, headers=headers)
    again = client.post("/v1/orders", data=body, headers=headers)
    assert first.status_code == again.status_code == 201          # replayed: not the natural-key 200
    assert again.data == first.data and again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    changed = fixture_json("1210-single-line.json")
    changed["buyer"]["telephone"] = "13912345678"
    reused = client.post("/v1/orders", data=json.dumps(changed).encode(), headers=headers)
    assert reused.status_code == 422 and reused.mimetype == "application/problem+json"
    assert reused.get_json()["problems"][0]["rule"] == "idempotency-key-reused"
    # an error answer is kept and replayed too; a key is per tenant; bad keys are refused
    bad = dict(headers, **{"Idempotency-Key": "bad-1"})
    assert client.post("/v1/orders", data=b"{}", headers=bad).status_code == 422
    assert client.post("/v1/orders", data=b"{}", headers=bad).headers["Idempotent-Replayed"] == "true"
    _, other = add_tenant(gw, "Tenant B", cop_code="4601980ABD")
    theirs = client.post("/v1/orders", data=body, headers=dict(headers, Authorization=f"Bearer {other}"))
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert client.post("/v1/orders", data=body, headers=dict(headers, **{"Idempotency-Key": "a b"})).status_code == 400
    with gw.uow_factory() as uow:
        assert uow.session.scalar(select(func.count()).select_from(m.Order)) == 2


def test_concurrent_first_uses_have_one_winner_and_keys_expire(tmp_path, db_url, signing_key):
    gw, _, tenant, _ = _env(tmp_path, db_url, signing_key)
    now, ttl = gw.clock.now(), timedelta(hours=24)
    outcomes, barrier = [], threading.Barrier(4)

    def first_use():
        barrier.wait()
        try:
            outcomes.append(idempotency.begin(gw.uow_factory, now, tenant, "k", "sha", ttl, wait=0.3))
        except idempotency.KeyInUse:
            outcomes.append("in use")

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, outcomes)) == ["None"] + ["in use"] * 3      # one runs, the others got 409
    idempotency.finish(gw.uow_factory, tenant, "k", idempotency.Answer(201, [("Content-Type", "application/json"),
                                                                            ("Server", "x")], b"{}"))
    replay = idempotency.begin(gw.uow_factory, now, tenant, "k", "sha", ttl)
    assert replay == idempotency.Answer(201, [("Content-Type", "application/json")], b"{}")
    # after the configured time the key is new again; a 5xx is never kept
    assert idempotency.begin(gw.uow_factory, now + ttl, tenant, "k", "other", ttl) is None
    idempotency.finish(gw.uow_factory, tenant, "k", idempotency.Answer(500, [], b""))
    assert idempotency.begin(gw.uow_factory, now + ttl, tenant, "k", "again", ttl) is None


def test_a_key_left_running_by_a_dead_request_is_taken_over_by_the_same_request(tmp_path, db_url, signing_key):
    """A process killed mid-request leaves its key `running`: within STALE_AFTER a retry is told 409 (the
    first may still answer); after it, the same request takes the key over once, another request is still 422."""
    gw, _, tenant, _ = _env(tmp_path, db_url, signing_key)
    now, ttl = gw.clock.now(), timedelta(hours=24)
    assert idempotency.begin(gw.uow_factory, now, tenant, "k", "sha", ttl) is None      # ... and the process dies
    with pytest.raises(idempotency.KeyInUse):
        idempotency.begin(gw.uow_factory, now + timedelta(seconds=60), tenant, "k", "sha", ttl, wait=0)
    later = now + idempotency.STALE_AFTER + timedelta(seconds=1)
    with pytest.raises(idempotency.KeyReused):
        idempotency.begin(gw.uow_factory, later, tenant, "k", "another body", ttl, wait=0)
    assert idempotency.begin(gw.uow_factory, later, tenant, "k", "sha", ttl, wait=0) is None     # taken over
    with pytest.raises(idempotency.KeyInUse):        # ... by one retry only: the next one waits for its answer
        idempotency.begin(gw.uow_factory, later, tenant, "k", "sha", ttl, wait=0)
    idempotency.finish(gw.uow_factory, tenant, "k", idempotency.Answer(201, [], b"{}"))
    assert idempotency.begin(gw.uow_factory, later, tenant, "k", "sha", ttl) == idempotency.Answer(201, [], b"{}")
