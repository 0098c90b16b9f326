"""What the receipts step writes, for a before/after comparison of a change to it (docs/performance.md
"Receipts at batch speed"): one deterministic run (manual clock, sequential ids, a registered webhook,
scripted refusals and inspections, duplicate receipts, one unreadable receipt) through the dispatcher
with the in-process sandbox until nothing moves, then the audit records, receipts, receipt entries,
webhook deliveries, filings, orders and outbox rows dumped in id order (without the values a run draws at random).

    python bench/receipts_dump.py dump OUT.json [--orders 40] [--send-faults]     # in each checkout
    python bench/receipts_dump.py compare BEFORE.json AFTER.json   # "same", or the first difference
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.dispatch_setup import HELD, add_tenant, store_orders  # noqa: E402
from gateway import signing  # noqa: E402
from gateway.adapters.sandbox import SandboxGovernment  # noqa: E402
from gateway.adapters.sandbox.script import SandboxScript  # noqa: E402
from gateway.bootstrap import bootstrap  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.egress import EgressPolicy  # noqa: E402
from gateway.ports import SendResult, SequentialIds  # noqa: E402
from gateway.service.delivery import webhooks  # noqa: E402
from gateway.service.dispatch import RoundResult  # noqa: E402
from tests.delivery_helpers import ManualClock, many_orders  # noqa: E402

TABLES = {
    "audit": "select id, tenant_id, subject_type, subject_id, action, detail from audit_events order by id",
    "receipts": "select id, tenant_id, filing_id, adapter, sha256, outcome, info, message_type, status_code, "
                "status_time from receipts order by id",
    "receipt_events": "select id, at, receipt_id, tenant_id, filing_id, message_type, status_code, status_time, "
                      "info, parsed, invt_no, outcome from receipt_events order by id",
    "webhooks": "select id, tenant_id, webhook_id, event_id, event_type, body, state from webhook_deliveries order by id",
    "filings": "select id, state, last_status_code, updated_at from filings order by id",
    "orders": "select id, status, status_reason, updated_at from orders order by id",
    "outbox": "select id, filing_id, state, attempts, next_attempt_at, last_error, sent_at, in_doubt, claim_token "
              "is null from outbox order by id",
}


class _AnyUrl(EgressPolicy):
    def vet(self, url):        # the webhook is never called (no poster): its events are only queued
        return None


class _SendFaults:
    """The sandbox, with every 13th send refused for good (a 400: the filing rejected), every 17th failing
    before anything arrives (a 503: retried) and every 19th timing out after the sandbox took it (in doubt:
    looked up before any resend): the sender's other outcomes, in a fixed order."""

    def __init__(self, gov):
        self.gov, self.n = gov, 0

    def send(self, message):
        self.n += 1
        if self.n % 13 == 4:
            return SendResult(message.message_id, accepted=False, retryable=False, error="HTTP 400 (scripted)")
        if self.n % 17 == 6:
            return SendResult(message.message_id, accepted=False, retryable=True, error="HTTP 503 (scripted)")
        result = self.gov.send(message)
        if self.n % 19 == 8:
            return SendResult(message.message_id, accepted=False, retryable=True, unknown=True,
                              error="read timeout (scripted)")
        return result

    def __getattr__(self, name):
        return getattr(self.gov, name)


class _Raw:
    def __init__(self, body: bytes):
        self.body, self.cursor, self.received_at = body, "0", None


def dump(out: Path, n: int, send_faults: bool = False) -> None:
    orders = many_orders(n, 0, skip=HELD)
    script = SandboxScript().duplicate_receipts(True)
    for i, o in enumerate(orders):
        if i % 7 == 3:
            script.reject(o["order_no"], "申报要素不全", code="100")
        if i % 11 == 5:
            script.inspect(o["order_no"])
    with tempfile.TemporaryDirectory() as tmp:
        folder, clock = Path(tmp), ManualClock()
        gov = SandboxGovernment(clock=clock, ids=SequentialIds(prefix="AAAAAAAA-0000-4000-8000"), script=script)
        settings = Settings(instance_dir=folder, database_url=f"sqlite:///{folder}/d.sqlite3", auto_migrate="always")
        channel = _SendFaults(gov) if send_faults else gov
        gw = bootstrap(settings, clock=clock, ids=SequentialIds(), adapters={"sandbox": channel},
                       key=signing.ensure_dev_key(folder))
        tenant, _ = add_tenant(gw)
        webhooks.register(gw.uow_factory, clock, gw.ids, tenant, "https://hooks.example.com/x", egress=_AnyUrl())
        store_orders(gw, tenant, n)
        gw.dispatcher.webhooks.poster = None
        gw.dispatcher.sender.backoff = gw.dispatcher.sender.backoff.with_rng(lambda: 0.5)   # retries at fixed times
        gw.dispatcher.receipts.ingest_many("sandbox", [_Raw(b"<garbage")], RoundResult())   # quarantined
        for _ in range(40):
            clock.advance(30)
            gw.dispatcher.run_once()
        with gw.engine.connect() as c:
            tables = {name: [[str(v) for v in row] for row in c.execute(text(sql))] for name, sql in TABLES.items()}
        gw.engine.dispose()
    out.write_text(json.dumps(tables, ensure_ascii=False), "utf-8")
    print({name: len(rows) for name, rows in tables.items()})


def _normalized(path: Path) -> dict:
    """The dump without what differs from run to run: the tenant's id, digests of signed bytes, API keys,
    random ids, the dispatcher's name."""
    data = json.loads(path.read_text("utf-8"))
    s = json.dumps(data, ensure_ascii=False).replace(data["audit"][0][1], "TENANT")
    s = re.sub(r"[0-9a-f]{64}", "H", s)
    s = re.sub(r"gw_[A-Za-z0-9_-]+", "KEY", s)
    s = re.sub(r"vm:[0-9]+:[0-9a-f]+|[\w.-]+:[0-9]+:[0-9a-f]{6}\b", "DISPATCHER", s)
    s = re.sub(r"(?!00000000-|AAAAAAAA-)[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[0-9A-F]{4}-[0-9A-F]{12}", "UUID", s)
    return json.loads(s)


def compare(a: Path, b: Path) -> bool:
    before, after = _normalized(a), _normalized(b)
    same = True
    for name in before:
        if before[name] != after.get(name):
            same = False
            first = next((i for i, (x, y) in enumerate(zip(before[name], after[name], strict=False)) if x != y), None)
            print(f"{name}: {len(before[name])} rows before, {len(after[name])} after; first difference at {first}")
    print("same" if same else "different")
    return same


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("--orders", type=int, default=40)
    d.add_argument("--send-faults", action="store_true", help="some sends refused, retried, in doubt")
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = p.parse_args()
    if args.cmd == "dump":
        dump(args.out, args.orders, args.send_faults)
    else:
        sys.exit(0 if compare(args.before, args.after) else 1)
