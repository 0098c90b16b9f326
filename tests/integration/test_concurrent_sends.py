"""Bounded concurrent sends (gateway/service/delivery/concurrent_sends.py) over real HTTP on
127.0.0.1, on SQLite and PostgreSQL: with GATEWAY_SEND_CONCURRENCY 4 the http adapter has several
sends of a batch in flight, never more than 4, each filing taken once; a transport failure stops new
sends until it and the sends in flight are recorded (the breaker learns it; an open circuit releases
the rest, sent later; nothing is sent twice but an in-doubt resend with the same guid); no send starts
after the first half of the lease; concurrency 1,
and channels that do not declare ``concurrent_sends``, send one after the other on the calling thread.

The channel is a small threaded HTTP server speaking the http adapter's protocol (POST /messages,
GET /messages/<id>, GET /receipts) that counts the requests in flight."""
from __future__ import annotations

import base64
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from gateway.adapters import registry
from gateway.bootstrap import bootstrap
from gateway.config import Settings
from gateway.ports import SequentialIds, SystemClock, UuidGenerator
from gateway.service.delivery import breaker as breaker_mod
from gateway.service.dispatch import DeliveryPolicy, Dispatcher, RoundResult
from gateway.store.models import Filing, OutboxItem
from tests.ceb_samples import import_set, signed
from tests.delivery_helpers import ManualClock, line_gateway, many_orders, submit_many
from tests.helpers import add_tenant
from tests.sandbox_process import SandboxProcess, sha

WAIT = 20.0      # a safety bound on every wait below, never a measurement


class Channel:
    """The http adapter's government side. ``gate``: the first requests are held until that many are
    in flight at once (then nothing is held). ``faults``: message id → "503" (refused, nothing kept),
    "drop_kept" (kept, the connection closed without an answer), "drop_lost" (closed, nothing kept);
    each used once."""

    def __init__(self, gate: int = 1):
        self.gate = gate
        self.cond = threading.Condition()
        self.in_flight = self.max_in_flight = 0
        self.opened = gate <= 1
        self.posts: list[str] = []                 # message ids in the order they arrived
        self.lookups: list[str] = []
        self.kept: dict[str, int] = {}             # message id → times it was taken (a duplicate counts)
        self.faults: dict[str, str] = {}
        channel = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status: int, data: dict) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                mid = self.headers["X-Message-Id"]
                answer = channel.take(mid)
                if answer is None:
                    self.close_connection = True       # no answer at all
                    return
                self._answer(*answer)

            def do_GET(self):
                if self.path.startswith("/messages/"):
                    mid = self.path.rsplit("/", 1)[1]
                    with channel.cond:
                        channel.lookups.append(mid)
                        kept = mid in channel.kept
                    if kept:
                        self._answer(200, {"messageId": mid, "status": "accepted"})
                    else:
                        self._answer(404, {"error": "not found"})
                elif self.path.startswith("/receipts"):
                    self._answer(200, {"receipts": []})
                else:
                    self._answer(200, {"status": "ok"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self, mid: str) -> tuple[int, dict] | None:
        with self.cond:
            self.posts.append(mid)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.in_flight >= self.gate:
                self.opened = True
                self.cond.notify_all()
            self.cond.wait_for(lambda: self.opened, timeout=WAIT)
            self.opened = True         # held once at most (a sequential sender fails the test, slowly)
            fault = self.faults.pop(mid, None)
            if fault in (None, "drop_kept"):
                self.kept[mid] = self.kept.get(mid, 0) + 1
            duplicate = self.kept.get(mid, 0) > 1
            self.in_flight -= 1        # before the answer: the client's next request may follow at once
        if fault == "503":
            return 503, {"error": "unavailable"}
        if fault in ("drop_kept", "drop_lost"):
            return None
        return 200, {"messageId": mid, "status": "duplicate" if duplicate else "accepted"}

    @contextmanager
    def running(self):
        thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(WAIT)


class Watched:
    """An adapter port in front of another: which thread sent what; ``before_send(message)`` runs
    first on the sending thread. ``concurrent_sends`` as the adapter's own."""

    def __init__(self, inner, before_send=None):
        self.inner = inner
        self.concurrent_sends = getattr(inner, "concurrent_sends", False)
        self.before_send = before_send
        self.lock = threading.Lock()
        self.sends: list[tuple[str, str]] = []        # (thread name, message id), in the order started

    def send(self, message):
        with self.lock:
            self.sends.append((threading.current_thread().name, message.message_id))
        if self.before_send is not None:
            self.before_send(message)
        return self.inner.send(message)

    def lookup(self, message_id):
        return self.inner.lookup(message_id)

    def fetch_receipts(self, since):
        return self.inner.fetch_receipts(since)

    def health(self):
        return self.inner.health()


def http_gateway(tmp_path, db_url, key, channel: Channel, concurrency: int, **settings):
    clock = ManualClock()
    s = Settings(instance_dir=tmp_path / "instance", database_url=db_url, auto_migrate="always", adapter="http",
                 adapter_options={"base_url": channel.url, "connect_timeout": 2, "read_timeout": WAIT},
                 channel_environment="sandbox", send_concurrency=concurrency, **settings)
    s.check()
    gw = bootstrap(s, clock=clock, ids=SequentialIds(), key=key)
    assert gw.dispatcher.sender.pool.concurrency == concurrency        # the setting reached the sender
    return gw, clock


def watched_dispatcher(gw, clock, before_send=None) -> Watched:
    watched = Watched(gw.adapters["http"], before_send)
    gw.dispatcher = Dispatcher(gw.uow_factory, {"http": watched}, clock, policy=gw.dispatcher.policy,
                               rng=lambda: 0.5, owner="dispatcher-1", webhook_poster=gw.dispatcher.webhook_poster,
                               webhook_secrets=gw.secrets)
    return watched


def outbox(gw) -> dict[str, tuple]:
    """guid → (state, attempts, in_doubt, claim token) of its outbox row."""
    with gw.uow_factory() as uow:
        return {guid: (state, attempts, bool(in_doubt), token) for guid, state, attempts, in_doubt, token in
                uow.session.execute(select(Filing.guid, OutboxItem.state, OutboxItem.attempts, OutboxItem.in_doubt,
                                           OutboxItem.claim_token).join(Filing, Filing.id == OutboxItem.filing_id))}


def send_until_all_sent(gw, clock, rounds: int = 60) -> None:
    for _ in range(rounds):
        gw.dispatcher.send_due(RoundResult())
        if all(row[0] == "sent" for row in outbox(gw).values()):
            return
        clock.advance(40)              # past any backoff and the breaker's cool-down
    raise AssertionError(f"not all sent: {outbox(gw)}")


def test_four_sends_in_flight_at_once_and_each_filing_taken_once(tmp_path, db_url, signing_key):
    with Channel(gate=4).running() as channel:
        gw, clock = http_gateway(tmp_path, db_url, signing_key, channel, concurrency=4)
        tenant, _ = add_tenant(gw)
        submit_many(gw, tenant, many_orders(6))
        first = RoundResult()
        gw.dispatcher.send_due(first)
        assert first.sent >= 6 and first.released == first.retried == 0
        assert channel.max_in_flight == 4          # several at once, and never more than the setting
        send_until_all_sent(gw, clock)
        rows = outbox(gw)
        assert sorted(channel.posts) == sorted(rows)                   # every filing posted exactly once
        assert channel.kept == {guid: 1 for guid in rows}
        assert all(attempts == 1 and not in_doubt and token is None for _, attempts, in_doubt, token in rows.values())
        gw.adapters["http"].close()


@contextmanager
def seen(message_start: str):
    """An Event set when the dispatcher logs a line starting with ``message_start``."""
    event = threading.Event()

    class Handler(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith(message_start):
                event.set()

    logger = logging.getLogger("gateway.dispatch")
    handler, level = Handler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield event
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.parametrize("fault", ["503", "drop_kept", "drop_lost"])
def test_a_transport_failure_stops_new_sends_until_recorded_and_an_open_breaker_releases_the_rest(
        tmp_path, db_url, signing_key, fault):
    with Channel().running() as channel, seen("transport failure seen") as failure_seen:
        gw, clock = http_gateway(tmp_path, db_url, signing_key, channel, concurrency=4, breaker_threshold=1)
        tenant, _ = add_tenant(gw)
        submit_many(gw, tenant, many_orders(8))
        first_four = threading.Barrier(4, timeout=WAIT)
        failed: list[str] = []

        def before_send(message):
            if len(watched.sends) > 4:
                return
            if first_four.wait() == 0:                   # one of the four in flight fails ...
                channel.faults[message.message_id] = fault
                failed.append(message.message_id)
            else:                                        # ... while the other three are still out
                assert failure_seen.wait(WAIT), "the dispatcher never saw the failure"

        watched = watched_dispatcher(gw, clock, before_send)
        r = RoundResult()
        gw.dispatcher.send_due(r)
        assert len(watched.sends) == 4                   # no send started once the failure was seen
        assert all(thread.startswith("gateway-send") for thread, _ in watched.sends)
        rows = outbox(gw)
        (bad,) = failed
        in_doubt = fault != "503"
        assert rows[bad] == ("pending", 1, in_doubt, None)                  # recorded at once, same row
        others = [mid for _, mid in watched.sends if mid != bad]
        assert all(rows[mid][0] == "sent" for mid in others)                # recorded with it
        assert r.sent == 3 and r.retried == 1 and r.unknown == int(in_doubt)
        with gw.uow_factory() as uow:
            (b,) = breaker_mod.snapshot(uow.session)
        assert b["state"] == "open" and b["last_error"]                     # the breaker learnt it
        untouched = [g for g, row in rows.items() if row == ("pending", 0, False, None)]
        assert r.released >= 4 and len(untouched) == len(rows) - 4          # the rest given back as they were
        send_until_all_sent(gw, clock)
        assert channel.kept == {guid: 1 for guid in outbox(gw)}             # each taken once
        resent = {mid: n for mid in set(channel.posts) if (n := channel.posts.count(mid)) > 1}
        if fault == "drop_kept":                          # looked up, found: not sent again
            assert resent == {} and bad in channel.lookups
        else:                                             # refused or lost: sent again, the same guid
            assert resent == {bad: 2}
            assert (bad in channel.lookups) is in_doubt   # in doubt: looked up before the resend
        gw.adapters["http"].close()


def test_no_send_starts_once_the_first_half_of_the_lease_is_over(tmp_path, sqlite_url, signing_key):
    with Channel().running() as channel:
        gw, clock = http_gateway(tmp_path, sqlite_url, signing_key, channel, concurrency=4)
        tenant, _ = add_tenant(gw)
        submit_many(gw, tenant, many_orders(12))
        lease = gw.dispatcher.policy.lease_seconds

        def before_send(message):
            if len(watched.sends) == 1:
                clock.advance(lease / 2)                # the first send takes half the lease

        watched = watched_dispatcher(gw, clock, before_send)
        r = RoundResult()
        gw.dispatcher.send_due(r)
        started = [mid for _, mid in watched.sends]
        assert 1 <= len(started) <= 4                   # only those already started before it was over
        assert r.sent == len(started) and r.released >= 12 - len(started)
        rows = outbox(gw)
        assert all(rows[mid][0] == "sent" for mid in started)
        assert sum(row == ("pending", 0, False, None) for row in rows.values()) == len(rows) - len(started)
        assert sorted(channel.posts) == sorted(started)
        gw.adapters["http"].close()


def test_concurrency_1_sends_one_after_the_other_on_the_calling_thread_in_claim_order(tmp_path, db_url, signing_key):
    with Channel().running() as channel:
        gw, clock = http_gateway(tmp_path, db_url, signing_key, channel, concurrency=1)
        tenant, _ = add_tenant(gw)
        submit_many(gw, tenant, many_orders(6))
        watched = watched_dispatcher(gw, clock)
        with gw.uow_factory() as uow:
            claim_order = list(uow.session.scalars(select(Filing.guid).join(OutboxItem, OutboxItem.filing_id == Filing.id)
                                                   .where(OutboxItem.state == "pending")
                                                   .order_by(OutboxItem.next_attempt_at, OutboxItem.id)))
        r = RoundResult()
        gw.dispatcher.send_due(r)
        assert r.sent >= 6
        assert channel.posts == [g for g in claim_order if g in channel.posts]      # in claim order
        assert channel.max_in_flight == 1
        assert {thread for thread, _ in watched.sends} == {threading.current_thread().name}
        gw.adapters["http"].close()


def test_a_channel_without_concurrent_sends_stays_sequential_whatever_the_setting(tmp_path, sqlite_url, signing_key):
    gw, line, clock = line_gateway(tmp_path, sqlite_url, signing_key, policy=DeliveryPolicy(send_concurrency=8))
    watched = Watched(line)                       # the in-process sandbox: no concurrent_sends
    gw.dispatcher = Dispatcher(gw.uow_factory, {"sandbox": watched}, clock, policy=gw.dispatcher.policy,
                               rng=lambda: 0.5, owner="dispatcher-1")
    tenant, _ = add_tenant(gw)
    submit_many(gw, tenant, many_orders(4))
    r = RoundResult()
    gw.dispatcher.send_due(r)
    assert r.sent >= 4
    assert {thread for thread, _ in watched.sends} == {threading.current_thread().name}


@pytest.mark.parametrize("face", ["http", "soap"])
def test_one_adapter_sending_from_four_threads_gets_each_message_its_own_answer(tmp_path, signing_key, face):
    """The adapters that declare ``concurrent_sends``, used as the dispatcher's worker threads use them:
    each result carries its own message's bytes and answer, and the sandbox took each message once."""
    sent = [signed(root, signing_key) for n in range(3) for root in import_set(f"CONC-{face}-{n}").in_order()]
    with SandboxProcess.start(tmp_path, soap=face == "soap") as sbx:
        sbx.faults({"delay": 0.05})                    # the requests overlap
        options = ({"base_url": sbx.url("http")} if face == "http" else {"endpoint": f"{sbx.url('soap')}/soap"})
        adapter = registry.load_adapter(face, {**options, "connect_timeout": 2, "read_timeout": WAIT},
                                        clock=SystemClock(), ids=UuidGenerator())
        assert adapter.concurrent_sends is True
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(adapter.send, sent))
        for message, result in zip(sent, results, strict=True):
            assert (result.message_id, result.accepted, result.duplicate) == (message.message_id, True, False)
            if face == "http":
                assert result.request_bytes == message.body
            else:                                       # the envelope this thread posted, with its payload
                assert base64.b64encode(message.body) in result.request_bytes
            assert message.message_id.encode() in result.response_bytes
        received = sbx.received()
        assert {m.message_id: received[m.message_id]["deliveries"] for m in sent} == {m.message_id: 1 for m in sent}
        assert all(received[m.message_id]["sha256"] == sha(m.body) for m in sent)
        adapter.close()
