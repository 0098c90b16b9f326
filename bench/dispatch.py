"""Dispatcher throughput on one machine: filings sent and receipts applied per second, embedded
(SQLite) or on PostgreSQL, with the in-process sandbox government (no network) so the number is
the dispatcher's and the database's own cost.

usage: python bench/dispatch.py [--orders 250] [--database-url postgresql://postgres@127.0.0.1/bench]
       [--dispatchers 1]

Prints sends/s (send + record), receipts/s (store raw, parse, apply, audit, webhook outbox) and
the whole run until every filing is final. Several dispatchers run as threads on one database.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway import signing  # noqa: E402
from gateway.adapters.sandbox import SandboxGovernment  # noqa: E402
from gateway.bootstrap import bootstrap  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.domain import status as st  # noqa: E402
from gateway.ports import SystemClock, UuidGenerator  # noqa: E402
from gateway.service.dispatch import Dispatcher, RoundResult  # noqa: E402
from gateway.service.orders import submit_batch  # noqa: E402
from gateway.store.tenants import create_tenant  # noqa: E402


def orders(n: int) -> list[dict]:
    fixtures = [json.loads(p.read_text("utf-8")) for p in sorted((ROOT / "fixtures/orders/valid").glob("*.json"))]
    out = []
    for i in range(n):
        o = json.loads(json.dumps(fixtures[i % len(fixtures)]))
        o["order_no"] = f"{o['order_no'][:10]}{i:06d}"
        o["payment"]["transaction_no"] = f"{o['payment']['transaction_no'][:14]}{i:06d}"
        o["logistics"]["waybill_no"] = f"{o['logistics']['waybill_no'][:8]}{i:06d}"
        out.append(o)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=250)
    ap.add_argument("--database-url")
    ap.add_argument("--dispatchers", type=int, default=1)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    clock = SystemClock()
    government = SandboxGovernment(clock=clock, ids=UuidGenerator())
    settings = Settings(instance_dir=tmp, database_url=args.database_url or f"sqlite:///{tmp}/bench.sqlite3")
    gw = bootstrap(settings, clock=clock, adapters={"sandbox": government}, key=signing.ensure_dev_key(tmp))
    with gw.uow_factory() as uow:
        tenant, _ = create_tenant(uow, "Bench", "4601980ABC", "海口一达", "DXPENT0000458763")
        tenant_id = tenant.id
        uow.commit()
    submit_batch(gw.uow_factory, gw.declarer, gw.key, clock, gw.ids, tenant_id, orders(args.orders))
    dispatchers = [Dispatcher(gw.uow_factory, {"sandbox": government}, clock, owner=f"bench-{i}")
                   for i in range(args.dispatchers)]
    totals = RoundResult()
    lock = threading.Lock()
    times = {"send": 0.0, "receipts": 0.0}

    def done() -> bool:
        from sqlalchemy import select

        from gateway.store.models import Filing
        with gw.uow_factory() as uow:
            return all(s in (st.REJECTED, st.RETURNED) or st.is_done(t, s)
                       for t, s in uow.session.execute(select(Filing.message_type, Filing.state)))

    def work(d: Dispatcher):
        while not done():
            r = RoundResult()
            t0 = time.perf_counter()
            d.send_due(r)
            t1 = time.perf_counter()
            d.poll_receipts(r)
            t2 = time.perf_counter()
            with lock:
                totals.sent += r.sent
                totals.receipts += r.receipts
                times["send"] += t1 - t0
                times["receipts"] += t2 - t1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    db = "postgresql" if args.database_url else "sqlite"
    print(f"{args.orders} orders, {totals.sent} filings, {totals.receipts} receipts on {db}, "
          f"{args.dispatchers} dispatcher(s)")
    print(f"  sending:   {totals.sent / max(times['send'], 1e-9):8.1f} filings/s (thread time)")
    print(f"  receipts:  {totals.receipts / max(times['receipts'], 1e-9):8.1f} receipts/s (thread time)")
    print(f"  all final: {wall:8.1f} s wall, {totals.sent / wall:8.1f} filings/s end to end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
