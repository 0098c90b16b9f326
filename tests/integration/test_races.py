"""Concurrent resubmissions of the same order number, through the API from several threads at once, on
SQLite and PostgreSQL, for all three order formats: identical bodies answer 201 once and 200 for the
rest, changed bodies 201 once and 409 for the rest — never a 500. The unique constraint on
(tenant, number space, number) is the arbiter; the loser re-reads what the winner stored."""
from __future__ import annotations

import json
import threading

import pytest

from gateway.adapters.sandbox import SandboxGovernment
from gateway.api import create_app
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.ports import FixedClock, UuidGenerator
from tests.helpers import START, add_tenant
from tests.hostile import FORMATS, order, renumbered, row_counts

THREADS = 6


@pytest.fixture
def api(tmp_path, db_url, signing_key):
    clock = FixedClock(START)          # thread-safe enough: it never moves
    sandbox = SandboxGovernment(clock=clock, ids=UuidGenerator())
    settings = Settings(instance_dir=tmp_path / "instance", database_url=db_url, auto_migrate="always")
    gw = bootstrap(settings, clock=clock,
                   ids=UuidGenerator(), adapters={"sandbox": sandbox}, key=signing_key)
    _, key = add_tenant(gw)
    app = create_app(gw, {"TESTING": True})
    yield gw, app, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    gw.engine.dispose()


def race(app, headers, bodies: list[bytes]) -> list[int]:
    """POST every body at the same moment, one thread each; the status codes (or the exception)."""
    barrier = threading.Barrier(len(bodies))
    out: list = [None] * len(bodies)

    def run(i: int) -> None:
        client = app.test_client()
        barrier.wait()
        try:
            out[i] = client.post("/v1/orders", data=bodies[i], headers=headers).status_code
        except Exception as exc:           # noqa: BLE001 - reported by the assertion below
            out[i] = repr(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def changed(data: dict, kind: str, n: int) -> dict:
    data = json.loads(json.dumps(data))
    if kind == "cbec-import":
        data["buyer"]["name"] = f"买家{n}"            # same number, another buyer
        data["payment"]["payer"]["name"] = data["buyer"]["name"]
        data["consignee"]["name"] = data["buyer"]["name"]
    else:
        data["note"] = f"variant {n}"
    return data


@pytest.mark.parametrize("kind", list(FORMATS))
def test_identical_concurrent_resubmissions_answer_201_once_then_200(api, kind):
    gw, app, headers = api
    body = json.dumps(renumbered(order(kind), kind, "R1"), ensure_ascii=False).encode()
    statuses = race(app, headers, [body] * THREADS)
    assert sorted(statuses) == [200] * (THREADS - 1) + [201], statuses
    assert row_counts(gw)["orders"] == 1


@pytest.mark.parametrize("kind", list(FORMATS))
def test_changed_concurrent_resubmissions_answer_201_once_then_409(api, kind):
    gw, app, headers = api
    base = renumbered(order(kind), kind, "R2")
    bodies = [json.dumps(changed(base, kind, n), ensure_ascii=False).encode() for n in range(THREADS)]
    statuses = race(app, headers, bodies)
    assert sorted(statuses) == [201] + [409] * (THREADS - 1), statuses
    counts = row_counts(gw)
    assert counts["orders"] == 1
    assert counts["buyer_annual_amounts"] == (1 if kind == "cbec-import" else 0)
