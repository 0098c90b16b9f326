"""Helpers for the delivery tests (dispatcher, webhooks, distributed mode).

- ``ManualClock``: time that moves only when the test says so (backoff, leases, cool-downs).
- ``FaultyLine``: the in-process sandbox government behind a scripted transport: timeouts after
  the government accepted, timeouts before it saw anything, 5xx, downtime (in the test clock's
  time), a message id that always fails. The real HTTP faults (``gateway sandbox serve``) are
  exercised in the tests that run the sandbox as a process; this one keeps the logic tests exact.
- ``many_orders``: distinct orders built from the valid fixtures (fresh buyer, order, payment and
  waybill numbers, so the sandbox's duplicate checks never fire).
- ``WebhookReceiver``: a real HTTP server on 127.0.0.1 that checks the Standard Webhooks signature
  of every request with the independent ``standardwebhooks`` package, fails the first N, and
  records what arrived. Gateways built here allow webhooks to 127.0.0.0/8 (the egress allow-list).
"""
from __future__ import annotations

import hmac
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import standardwebhooks

from gateway.adapters.sandbox import SandboxGovernment
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.ports import AdapterError, SendResult, SequentialIds
from gateway.service.dispatch import DeliveryPolicy, Dispatcher
from tests.helpers import START, valid_fixtures

LOOPBACK = ("127.0.0.0/8",)     # the egress allow-list of the test gateways (GATEWAY_WEBHOOK_ALLOW_NETWORKS)


def standard_signature_ok(secret: str | None, body: bytes, headers) -> bool:
    """The Standard Webhooks check, computed by the ``standardwebhooks`` package (not our code); the
    timestamp is the test clock's, so it is compared as signed, not against the wall clock."""
    h = {k.lower(): v for k, v in dict(headers).items()}
    if not secret or not (h.get("webhook-id") and h.get("webhook-timestamp", "").isdigit()):
        return False
    stamp = datetime.fromtimestamp(int(h["webhook-timestamp"]), tz=UTC)
    expected = standardwebhooks.Webhook(secret).sign(h["webhook-id"], stamp, body)
    return any(hmac.compare_digest(expected, s) for s in h.get("webhook-signature", "").split(" "))


class ManualClock:
    def __init__(self, start: datetime = START):
        self.t = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self.t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t = self.t + timedelta(seconds=seconds)


class FaultyLine:
    """Adapter port in front of a SandboxGovernment, with transport faults used up in order.

    ``plan`` entries: "timeout_after_accept" (the government keeps the message, the caller gets an
    unknown outcome), "timeout_before" (nothing arrives, unknown outcome), "5xx", "refused",
    "reject" (a 400 schema refusal: blocking).
    ``down_until``: while the clock is before it, every send is refused, lookups and receipts
    raise AdapterError. ``always_fail``: message ids whose sends always get a 503.
    """

    name = "sandbox"

    def __init__(self, government: SandboxGovernment, clock):
        self.government = government
        self.clock = clock
        self.plan: list[str] = []
        self.down_until: datetime | None = None
        self.always_fail: set[str] = set()
        self.calls: list[tuple[str, str, str]] = []      # (operation, message id, what happened)
        self._lock = threading.Lock()

    def _down(self) -> bool:
        return self.down_until is not None and self.clock.now() < self.down_until

    def send(self, message) -> SendResult:
        with self._lock:
            fault = "down" if self._down() else ("always_fail" if message.message_id in self.always_fail
                                                 else (self.plan.pop(0) if self.plan else None))
            self.calls.append(("send", message.message_id, fault or "pass"))
        mid = message.message_id
        if fault in ("down", "refused"):
            return SendResult(mid, accepted=False, retryable=True, error="connection refused (scripted)")
        if fault in ("5xx", "always_fail"):
            return SendResult(mid, accepted=False, retryable=True, error="HTTP 503 (scripted)")
        if fault == "reject":
            return SendResult(mid, accepted=False, retryable=False,
                              error="HTTP 400: schema validation failed (scripted): orderNo missing")
        if fault == "timeout_before":
            return SendResult(mid, accepted=False, retryable=True, unknown=True, error="read timeout (scripted)")
        result = self.government.send(message)
        if fault == "timeout_after_accept":
            return SendResult(mid, accepted=False, retryable=True, unknown=True,
                              error="read timeout after the request was written (scripted)")
        return result

    def lookup(self, message_id: str):
        with self._lock:
            down = self._down()
            self.calls.append(("lookup", message_id, "down" if down else "pass"))
        if down:
            raise AdapterError("lookup: connection refused (scripted)")
        return self.government.lookup(message_id)

    def fetch_receipts(self, since):
        if self._down():
            raise AdapterError("receipts: connection refused (scripted)")
        return self.government.fetch_receipts(since)

    def health(self) -> dict:
        return {"ok": not self._down()}

    def sends(self, message_id: str | None = None) -> list[tuple[str, str, str]]:
        return [c for c in self.calls if c[0] == "send" and (message_id is None or c[1] == message_id)]


def line_gateway(tmp_path: Path, db_url: str, key, *, script=None, policy: DeliveryPolicy | None = None,
                 rng=lambda: 0.5, owner="dispatcher-1", webhook_poster=None, allow=LOOPBACK, resolver=None):
    """A gateway on ``db_url`` with a ManualClock, the sandbox behind a FaultyLine, and a dispatcher
    with ``policy`` and a fixed jitter. ``allow``/``resolver``: its webhook egress policy."""
    clock = ManualClock()
    government = SandboxGovernment(clock=clock, ids=SequentialIds(prefix="5A4D8B00-0000-4000-9000"), script=script)
    line = FaultyLine(government, clock)
    settings = Settings(instance_dir=tmp_path / "instance", database_url=db_url, webhook_allow_networks=allow,
                        auto_migrate="always")
    gw = bootstrap(settings, clock=clock, ids=SequentialIds(), adapters={"sandbox": line}, key=key, resolver=resolver)
    poster = webhook_poster if webhook_poster is not None else gw.dispatcher.webhook_poster
    gw.dispatcher = Dispatcher(gw.uow_factory, {"sandbox": line}, clock, policy=policy or DeliveryPolicy(),
                               rng=rng, owner=owner, webhook_poster=poster, webhook_secrets=gw.secrets)
    return gw, line, clock


def another_dispatcher(gw, line, clock, owner: str, policy: DeliveryPolicy | None = None, rng=lambda: 0.5):
    return Dispatcher(gw.uow_factory, {"sandbox": line}, clock, policy=policy or gw.dispatcher.policy, rng=rng,
                      owner=owner, webhook_poster=gw.dispatcher.webhook_poster, webhook_secrets=gw.secrets)


def many_orders(n: int, start: int = 0, *, skip: tuple[str, ...] = ()) -> list[dict]:
    """``n`` distinct valid orders cycling through the fixtures (``skip``: fixture names left out)."""
    fixtures = [json.loads(p.read_text("utf-8")) for p in valid_fixtures() if p.name not in skip]
    out = []
    for i in range(start, start + n):
        o = json.loads(json.dumps(fixtures[i % len(fixtures)]))
        o["order_no"] = f"{o['order_no'][:10]}{i:06d}"
        o["payment"]["transaction_no"] = f"{o['payment']['transaction_no'][:14]}{i:06d}"
        o["logistics"]["waybill_no"] = f"{o['logistics']['waybill_no'][:8]}{i:06d}"
        _own_buyer(o, i)
        out.append(o)
    return out


def _own_buyer(order: dict, i: int) -> None:
    """A buyer of its own per copy (a valid resident ID, the payer too): the copies must not add up to
    one buyer's CBEC annual limit (26,000 CNY), which intake enforces."""
    from gateway.domain.identity import resident_id_check_char

    buyer = order.get("buyer")
    if not buyer or buyer.get("id_type") != "1":
        return
    first17 = buyer["id_number"][:11] + f"{i:06d}"
    number = first17 + resident_id_check_char(first17)
    buyer["id_number"] = number
    if order.get("payment", {}).get("payer", {}).get("id_type") == "1":
        order["payment"]["payer"]["id_number"] = number


def submit_many(gw, tenant_id: str, orders: list[dict]) -> list[str]:
    from gateway.service.orders import submit_batch

    items = submit_batch(gw.uow_factory, gw.declarer, gw.key, gw.clock, gw.ids, tenant_id, orders,
                         adapter=next(iter(gw.adapters)))
    errors = [(i.index, i.error) for i in items if i.error is not None]
    assert not errors, errors[:3]
    release_held(gw, tenant_id, [i.submitted.order_id for i in items])
    return [i.submitted.order_id for i in items]


def release_held(gw, tenant_id: str, order_ids: list[str]) -> None:
    """Orders the gateway held (over the single-transaction limit) are released as the operator would,
    so they are sent and customs refuses them (−621005), as these delivery tests expect."""
    from gateway.domain import status as st
    from gateway.service import holds

    with gw.uow_factory() as uow:
        held = [o for o in order_ids if uow.orders.get(tenant_id, o).status == st.ORDER_HELD]
    for order_id in held:
        holds.release_held(gw.uow_factory, gw.declarer, gw.key, gw.clock, gw.ids, tenant_id, order_id,
                           adapter=next(iter(gw.adapters)), reason="test: let customs refuse it")


def final(message_type: str, state: str) -> bool:
    from gateway.domain import status as st

    return state in (st.REJECTED, st.RETURNED) or st.is_done(message_type, state)


def drive(gw, clock, *, rounds: int = 400, step: float = 5.0, until=None) -> int:
    """Dispatcher rounds, moving the clock ``step`` seconds after each, until ``until()`` (default:
    every filing final). Returns the rounds used."""
    until = until or (lambda: all_final(gw))
    for n in range(1, rounds + 1):
        gw.dispatcher.run_once()
        if until():
            return n
        clock.advance(step)
    raise AssertionError(f"not done after {rounds} rounds: {filing_states(gw)}")


def filing_states(gw) -> dict:
    from collections import Counter

    from sqlalchemy import select

    from gateway.store.models import Filing

    with gw.uow_factory() as uow:
        return dict(Counter((m, s) for m, s in uow.session.execute(select(Filing.message_type, Filing.state))))


def all_final(gw) -> bool:
    return all(final(m, s) for (m, s) in filing_states(gw))


# ---- webhooks -------------------------------------------------------------------------------------

@dataclass
class Received:
    headers: dict
    body: bytes
    status: int

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """``fail_first``: answer 500 to that many requests first. ``secret``: set once known; every
    request's Standard Webhooks signature is checked against it (a wrong one is answered 401)."""

    fail_first: int = 0
    secret: str | None = None
    received: list[Received] = field(default_factory=list)
    bad_signatures: int = 0

    def __post_init__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    if not standard_signature_ok(receiver.secret, body, self.headers):
                        receiver.bad_signatures += 1
                        status = 401
                    elif receiver.fail_first > 0:
                        receiver.fail_first -= 1
                        status = 500
                    else:
                        status = 200
                    receiver.received.append(Received(dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/gateway"

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.status == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
