"""Memory of a long-running ``gateway serve`` (issue 14, item 6): RSS after each round of orders.

    python bench/memory.py [--rounds 8] [--per-round 500] [--batch 100] [--postgres] [--json]

Starts ``gateway serve`` (its API workers and its dispatcher with the in-process sandbox government) on
a fresh database, posts ``--rounds`` rounds of ``--per-round`` unique orders through
``POST /v1/orders/batch`` (``--batch`` orders a request), lets the dispatcher finish each round (every
order of the round final: released, or refused by the sandbox with its reason), and reads the resident
set size of the server and of each of its child processes from /proc after every round. Orders are
counted in the database, not assumed. Flat after warm-up means: over the second half of the rounds (the
first half fills the in-process sandbox's bounds) the size does not rise with the orders served.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.dispatch_setup import (  # noqa: E402
    HELD,
    add_tenant,
    counts,
    database,
    postgres_reachable,
    register_enterprises,
    rss_by_process,
    serve_process,
)
from gateway.bootstrap import bootstrap  # noqa: E402
from gateway.config import Settings  # noqa: E402
from tests.delivery_helpers import many_orders  # noqa: E402

FINAL = ("released", "rejected", "failed", "cancelled")


def snapshot(pid: int) -> dict:
    """RSS (MiB) of the server process and of each of its descendants."""
    procs = rss_by_process(pid)
    return {"total_mib": round(sum(procs.values()), 1), "processes": procs}


def _wait_final(gw, expected: int, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        c = counts(gw)
        final = sum(v for k, v in c["orders"].items() if k in FINAL)
        if final >= expected or time.monotonic() > deadline:
            return c
        time.sleep(1)


def run(kind: str = "sqlite", rounds: int = 10, per_round: int = 500, batch: int = 100) -> dict:
    import requests

    out: dict = {"database": kind, "rounds": [], "per_round": per_round}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, database(kind, Path(tmp)) as url:
        env = {"GATEWAY_INSTANCE_DIR": str(Path(tmp) / "instance"), "GATEWAY_DATABASE_URL": url,
               "GATEWAY_AUTO_MIGRATE": "always"}
        gw = bootstrap(Settings.from_env(env))
        tenant, key = add_tenant(gw)
        register_enterprises(gw, tenant, many_orders(100, 0, skip=HELD))
        http = requests.Session()
        http.trust_env = False
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        try:
            with serve_process(env, Path(tmp)) as (base, pid):
                out["start"] = snapshot(pid)
                posted = 0
                for r in range(rounds):
                    t0 = time.perf_counter()
                    for first in range(posted, posted + per_round, batch):
                        body = json.dumps(many_orders(batch, first, skip=HELD), ensure_ascii=False).encode()
                        resp = http.post(f"{base}/v1/orders/batch", data=body, headers=headers, timeout=300)
                        if resp.status_code not in (200, 207):
                            raise RuntimeError(f"batch answered {resp.status_code}: {resp.text[:300]}")
                    posted += per_round
                    c = _wait_final(gw, posted)
                    snap = snapshot(pid)
                    stored = sum(c["orders"].values())
                    out["rounds"].append({"round": r + 1, "orders_stored": stored,
                                          "orders_final": sum(v for k, v in c["orders"].items() if k in FINAL),
                                          "released": c["orders"].get("released", 0),
                                          "seconds": round(time.perf_counter() - t0, 1), "rss": snap})
                    print(f"round {r + 1}: {stored} orders stored, {c['orders']}, RSS {snap['total_mib']} MiB "
                          f"{snap['processes']}", file=sys.stderr, flush=True)
        finally:
            gw.engine.dispose()
    rss = [r["rss"]["total_mib"] for r in out["rounds"]]
    if len(rss) >= 4:            # the first half of the rounds is the warm-up (the sandbox's bounds fill)
        half = len(rss) // 2
        out["second_half_orders"] = per_round * (len(rss) - half)
        out["second_half_growth_mib"] = round(rss[-1] - rss[half - 1], 1)
        out["second_half_per_1000_orders_mib"] = round(1000 * out["second_half_growth_mib"] / out["second_half_orders"], 2)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--per-round", type=int, default=500)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--postgres", action="store_true", help="on a throwaway PostgreSQL database (127.0.0.1:5432)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if a.postgres and not postgres_reachable():
        print("PostgreSQL is not reachable on 127.0.0.1:5432", file=sys.stderr)
        return 1
    f = run("postgresql" if a.postgres else "sqlite", a.rounds, a.per_round, a.batch)
    if a.json:
        print(json.dumps(f, indent=1, default=str))
        return 0
    print(f"gateway serve on {f['database']}: RSS at start {f['start']['total_mib']} MiB")
    print("round  orders stored  final  released  seconds  RSS MiB (all processes)")
    for r in f["rounds"]:
        print(f"{r['round']:>5}  {r['orders_stored']:>13}  {r['orders_final']:>5}  {r['released']:>8}  "
              f"{r['seconds']:>7}  {r['rss']['total_mib']:>7}  {r['rss']['processes']}")
    if "second_half_growth_mib" in f:
        print(f"growth over the second half ({f['second_half_orders']} orders): {f['second_half_growth_mib']} MiB "
              f"({f['second_half_per_1000_orders_mib']} MiB per 1,000 orders)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
