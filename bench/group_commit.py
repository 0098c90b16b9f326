"""Group commit A/B: single-order POSTs from many client threads against ``gateway serve`` (no dispatcher,
SQLite), each order alone (GATEWAY_INTAKE_GROUP_MAX=1) against grouped (the default, 16), alternating in
one run so that both see the same machine. Prints, for each: orders/s (stored, counted in the database
afterwards), client p50/p90/p99 and the server's own p50/p99 (its log's duration_ms of each POST).

    python bench/group_commit.py [--concurrency 8] [--requests 240] [--rounds 2]
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
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.dispatch_setup import (  # noqa: E402
    HELD,
    add_tenant,
    bench_gateway,
    counts,
    database,
    many_orders,
    post_orders,
    register_enterprises,
    serve_process,
)


def _quantiles(values: list[float]) -> tuple[float, ...]:
    values = sorted(values)
    return tuple(round(values[int(q * (len(values) - 1))], 1) for q in (0.5, 0.9, 0.99))


def _server_ms(log: Path, last: int) -> list[float]:
    """duration_ms of the last ``last`` POST /v1/orders lines of the server's JSON log."""
    out = []
    for line in log.read_text("utf-8", "replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("route") == "/v1/orders" and entry.get("method") == "POST":
            out.append(float(entry["duration_ms"]))
    return out[-last:]


def one_run(group_max: int, concurrency: int, requests_total: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-group-") as tmp, database("sqlite", Path(tmp)) as url:
        env = {"GATEWAY_INSTANCE_DIR": str(Path(tmp) / "instance"), "GATEWAY_DATABASE_URL": url,
               "GATEWAY_AUTO_MIGRATE": "always", "GATEWAY_INTAKE_GROUP_MAX": str(group_max)}
        gw = bench_gateway(Path(tmp), url, env=env)
        tenant, key = add_tenant(gw)
        orders = many_orders(20 + requests_total, skip=HELD)      # unique numbers and buyers
        register_enterprises(gw, tenant, orders)
        bodies = iter(json.dumps(o, ensure_ascii=False).encode() for o in orders)
        lock = threading.Lock()
        times: list[float] = []
        errors: list[str] = []
        with serve_process(env, Path(tmp), ["--no-dispatch"]) as (base, _):
            def take():
                with lock:
                    return next(bodies)

            def client(k: int) -> None:
                post_orders(base, key, take, k, times, errors)

            client(20)                                              # warm-up, one at a time
            before = sum(counts(gw)["orders"].values())            # what the warm-up stored
            times.clear()
            threads = [threading.Thread(target=client, args=(requests_total // concurrency,))
                       for _ in range(concurrency)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
        stored = sum(counts(gw)["orders"].values()) - before            # counted, not the answers
        gw.engine.dispose()
        server = _server_ms(Path(tmp) / "serve.log", len(times))
        return {"group_max": group_max, "stored": stored, "errors": len(errors), "first_error": errors[:1],
                "orders_per_s": round(stored / wall, 1), "client_ms": _quantiles([1000 * t for t in times]),
                "server_ms": _quantiles(server) if server else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=240, help="POSTs of each run")
    ap.add_argument("--rounds", type=int, default=2, help="A/B pairs, alternating")
    args = ap.parse_args()
    print(f"single-order POSTs at concurrency {args.concurrency}, {args.requests} a run, gateway serve on SQLite "
          f"(2 workers x 4 threads, no dispatcher); p50/p90/p99 ms")
    for _ in range(args.rounds):
        for group_max in (1, 16):
            r = one_run(group_max, args.concurrency, args.requests)
            label = "each alone (GATEWAY_INTAKE_GROUP_MAX=1)" if group_max == 1 else f"grouped (max {group_max})"
            print(f"  {label:<42} {r['orders_per_s']:6.1f} orders/s ({r['stored']} stored, {r['errors']} errors)"
                  f"  client {r['client_ms']}  server {r['server_ms']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
