"""End to end through transport faults, the same test in both deployments:

- embedded:    SQLite, the dispatcher in this process (as ``gateway serve`` / ``gateway dispatch run``)
- distributed: PostgreSQL, a Celery worker process (with its beat) over RabbitMQ

Around it: the sandbox government as its own process (``gateway sandbox serve``) reached over
HTTP, scripted to refuse connections for a while (down), answer 5xx, and time out after accepting;
a webhook receiver on 127.0.0.1 that checks every signature and fails its first requests; the API
(orders in, webhooks registered) in this process. Every order must reach its final status, the
government must have accepted every message id exactly once, the circuit must have opened and
closed again, and every order's final status must have reached the webhook.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import func, select

from gateway.api import create_app
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.store import models as m
from tests.delivery_helpers import WebhookReceiver, all_final, filing_states, many_orders
from tests.helpers import ROOT, add_tenant
from tests.sandbox_process import SandboxProcess, rabbitmq_url  # noqa: F401 - fixture

ORDERS = 12
DEADLINE = 120.0      # a bound, not a timing goal (bench/dispatch.py)

MODES = ["embedded", pytest.param("distributed", marks=[pytest.mark.postgres, pytest.mark.rabbitmq])]


def delivery_env(db_url: str, sandbox_url: str, instance) -> dict:
    return {
        **os.environ,
        "GATEWAY_DATABASE_URL": db_url,
        "GATEWAY_AUTO_MIGRATE": "always",      # a fresh test database (deployments run `gateway db upgrade`)
        "GATEWAY_INSTANCE_DIR": str(instance),
        "GATEWAY_ADAPTER": "http",
        "GATEWAY_CHANNEL_ENVIRONMENT": "sandbox",      # the sandbox process behind the http adapter
        "GATEWAY_ADAPTER_OPTIONS": json.dumps({"base_url": sandbox_url, "connect_timeout": 1, "read_timeout": 1.5}),
        "GATEWAY_DISPATCH_LEASE_SECONDS": "6",
        "GATEWAY_DISPATCH_BATCH": "20",
        "GATEWAY_RETRY_BASE_SECONDS": "0.2",
        "GATEWAY_RETRY_MAX_SECONDS": "1",
        "GATEWAY_BREAKER_THRESHOLD": "3",
        "GATEWAY_BREAKER_COOLDOWN_SECONDS": "0.5",
        "GATEWAY_BREAKER_MAX_COOLDOWN_SECONDS": "1",
        "GATEWAY_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        "GATEWAY_WEBHOOK_RETRY_MAX_SECONDS": "1",
        "GATEWAY_WEBHOOK_TIMEOUT_SECONDS": "3",
        "GATEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",     # the receiver runs on 127.0.0.1
        "PYTHONUNBUFFERED": "1",
    }


class EmbeddedDispatcher:
    """The in-process dispatcher loop of `gateway serve`, on a thread."""

    def __init__(self, env: dict):
        from gateway.runtime import dispatching_gateway

        self.gw = dispatching_gateway(env, owner="embedded")
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            try:
                if not self.gw.dispatcher.run_once().progress:
                    self.stop.wait(0.05)
            except BaseException as exc:   # noqa: BLE001 - surfaced by the test
                self.errors.append(exc)
                self.stop.wait(0.2)

    def start(self):
        self.thread.start()

    def alive(self) -> str | None:
        return repr(self.errors[-1]) if self.errors else None

    def close(self):
        self.stop.set()
        self.thread.join(30)
        self.gw.engine.dispose()


class CeleryWorker:
    """`celery -A gateway.worker worker -B` as its own process, on a queue of its own."""

    def __init__(self, env: dict, tmp_path, broker_url: str):
        self.queue = f"gateway-e2e-{secrets.token_hex(4)}"
        self.broker_url = broker_url
        self.env = {**env, "GATEWAY_BROKER_URL": broker_url, "GATEWAY_QUEUE": self.queue,
                    "GATEWAY_DISPATCH_INTERVAL": "0.3", "GATEWAY_TASK_BUDGET_SECONDS": "5"}
        self.log_path = tmp_path / "celery-worker.log"
        self.args = [sys.executable, "-m", "celery", "-A", "gateway.worker", "worker", "-B",
                     "-s", str(tmp_path / "celerybeat-schedule"), "-Q", self.queue, "--concurrency", "2",
                     "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
                     "-n", f"{self.queue}@%h"]
        self.proc = None

    def start(self):
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()

    def alive(self) -> str | None:
        if self.proc.poll() is None:
            return None
        return f"celery worker exited with {self.proc.returncode}:\n{self.log()}"

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")[-4000:]

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)           # warm shutdown: running tasks finish
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        import kombu

        with kombu.Connection(self.broker_url, connect_timeout=3) as conn:
            channel = conn.channel()
            for delete in (lambda ch: ch.queue_delete(self.queue), lambda ch: ch.exchange_delete(self.queue)):
                try:
                    delete(channel)
                except Exception:
                    channel = conn.channel()


DOWN_S = 3.0       # the refuse window


def _down_again_if_missed(sandbox, down_at: float) -> None:
    """On a loaded machine building and signing the batch can outlast the refuse window: then no send
    met it (the batch was stored after it). Wait for the window to end and open it again, now that the
    sends are due, with the counted faults that are left (the sandbox's "applied" counts add up)."""
    if time.monotonic() - down_at < DOWN_S - 1.5:
        return                                     # at least 1.5 s of the window is left for the sends
    time.sleep(max(0.0, down_at + DOWN_S + 0.5 - time.monotonic()))
    for _ in range(50):                            # the face listens again
        try:
            left = sandbox.health()["faults"]
            break
        except Exception:                          # noqa: BLE001 - still refusing
            time.sleep(0.1)
    else:
        raise AssertionError("the sandbox did not listen again after its refuse window")
    again: dict = {"downtime": {"seconds": DOWN_S, "mode": "refuse"}}
    for name in ("error_5xx", "timeout_after_accept"):
        if left.get(name, {}).get("times", 0) > 0:
            again[name] = dict(left[name])
    sandbox.faults(again)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_orders_complete_through_downtime_5xx_and_timeouts_with_no_duplicate(mode, tmp_path, request, signing_key):
    if mode == "embedded":
        db_url = request.getfixturevalue("sqlite_url")
    else:
        broker = request.getfixturevalue("rabbitmq_url")     # skips loudly (fails when CI=true) without it
        db_url = request.getfixturevalue("postgres_url")
    receiver = WebhookReceiver(fail_first=2)
    with SandboxProcess.start(tmp_path) as sandbox:
        env = delivery_env(db_url, sandbox.url("http"), tmp_path / "instance")
        gw = bootstrap(Settings.from_env(env), key=signing_key)         # the API node
        tenant, key = add_tenant(gw)
        client = create_app(gw).test_client()
        auth = {"Authorization": f"Bearer {key}"}
        hook = client.post("/v1/webhooks", json={"url": receiver.url}, headers=auth)
        assert hook.status_code == 201, hook.json
        receiver.secret = hook.json["secret"]
        runner = EmbeddedDispatcher(env) if mode == "embedded" else CeleryWorker(env, tmp_path, broker)
        runner.start()
        try:
            _wait_for_first_round(gw, runner)
            # the system runs; now the line goes down (connections refused), then answers 5xx, then
            # times out after the government accepted, while the orders come in
            sandbox.faults({"downtime": {"seconds": DOWN_S, "mode": "refuse"}, "error_5xx": {"times": 2},
                            "timeout_after_accept": {"times": 3, "hold": 2.5}})
            down_at = time.monotonic()
            # the order over the single limit is left out: the gateway would hold it (not sent)
            batch = client.post("/v1/orders/batch", json=many_orders(ORDERS, skip=("9610-over-single-limit.json",)),
                                headers=auth)
            assert batch.status_code == 207 and batch.json["accepted"] == ORDERS, batch.json
            _down_again_if_missed(sandbox, down_at)
            order_ids = [r["id"] for r in batch.json["results"]]
            with gw.uow_factory() as uow:
                all_guids = set(uow.session.scalars(select(m.Filing.guid)))
            with gw.uow_factory() as uow:      # customs' four per order, and the inspection, tax and FX records
                customs = uow.session.scalar(select(func.count()).select_from(m.Filing).where(m.Filing.agency == "customs"))
            assert customs == 4 * ORDERS and len(all_guids) > 4 * ORDERS
            deadline = time.monotonic() + DEADLINE
            while not (all_final(gw) and _webhooks_done(gw)):
                problem = runner.alive()
                assert problem is None, problem
                assert time.monotonic() < deadline, \
                    f"not done in {DEADLINE} s: {filing_states(gw)}; worker log:\n" \
                    f"{runner.log() if hasattr(runner, 'log') else ''}"
                time.sleep(0.3)
        finally:
            runner.close()

        faults = sandbox.health()["faults"]["applied"]
        received = sandbox.received()
    receiver.close()

    assert faults["error_5xx"] == 2 and faults["timeout_after_accept"] == 3   # (refused connections never get in)
    assert set(received) == all_guids
    assert {v["deliveries"] for v in received.values()} == {1}, {k: v for k, v in received.items() if v["deliveries"] > 1}

    statuses = {client.get(f"/v1/orders/{oid}", headers=auth).json["status"] for oid in order_ids}
    assert statuses <= {"released", "rejected"} and "released" in statuses
    with gw.uow_factory() as uow:
        moves = [(t.from_state, t.to_state, t.reason) for t in
                 uow.session.scalars(select(m.BreakerTransition).order_by(m.BreakerTransition.id))]
        lookups = [json.loads(d) for d in uow.session.scalars(
            select(m.AuditEvent.detail).where(m.AuditEvent.action == "filing.lookup"))]
    pairs = [(a, b) for a, b, _ in moves]
    assert ("closed", "open") in pairs and ("half_open", "closed") in pairs, moves
    assert pairs.index(("closed", "open")) < len(pairs) - 1 - pairs[::-1].index(("half_open", "closed"))
    assert pairs[-1] == ("half_open", "closed")                      # it ends closed
    assert any("cannot connect" in reason for a, b, reason in moves if b == "open")       # the downtime
    # every timeout after accepting was looked up before anything was sent again; "found" is whether the
    # government had it AND took it (a message it refuses is looked up too, then classified by its answer)
    assert len({x["guid"] for x in lookups}) >= 3 and any(x["found"] for x in lookups), lookups

    assert receiver.bad_signatures == 0
    events = [r.event for r in receiver.accepted()]
    assert len({e["id"] for e in events}) == len(events)
    final_status = {e["data"]["order_id"]: e["data"]["to"] for e in events if e["type"] == "order.status_changed"}
    assert set(final_status) == set(order_ids)
    assert set(final_status.values()) == statuses


def _wait_for_first_round(gw, runner, timeout: float = 90.0) -> None:
    """Until the dispatcher (thread or Celery worker) has run a send round: its breaker row exists."""
    deadline = time.monotonic() + timeout
    while True:
        with gw.uow_factory() as uow:
            if uow.session.scalar(select(m.Breaker.adapter)) is not None:
                return
        problem = runner.alive()
        assert problem is None, problem
        assert time.monotonic() < deadline, f"no dispatcher round in {timeout} s: " + \
            (runner.log() if hasattr(runner, "log") else "")
        time.sleep(0.2)


def _webhooks_done(gw) -> bool:
    from sqlalchemy import func

    with gw.uow_factory() as uow:
        return not uow.session.scalar(select(func.count()).select_from(m.WebhookDelivery)
                                      .where(m.WebhookDelivery.state == "pending"))
