"""Dispatcher, end-to-end and single-order latency benchmark, counted from the database.

    python bench/dispatch.py [--orders 300] [--http-orders 150] [--scale-orders 200]
                             [--requests 120] [--sqlite-only] [--json]
    python bench/dispatch.py --sends [--http-orders 150] [--sqlite-only]   # send concurrency 1 vs 8

    from bench.dispatch import run; figures = run()      # a dict, for ./dev bench

What it measures (each on a fresh database, with unique orders stored through intake first):
  dispatch     filings/s of one dispatcher draining the outbox (claim, send, record) to the sandbox
               government in process, and over HTTP to the sandbox process (``gateway sandbox serve``)
  end to end   orders/s from the start of intake until every order is final, and the number that
               reached "released" (intake + sends + receipts, one dispatcher, in-process sandbox)
  pipelined    the same with intake and dispatcher(s) as processes at once (bench/end_to_end.py):
               1 dispatcher; on PostgreSQL also 2, with the sandbox process over HTTP
  latency      single-order POST /v1/orders p50/p99 at concurrency 1 and 4 against ``gateway serve``
               with its dispatcher running (it dispatches the orders the requests create)
  scaling      PostgreSQL: the same outbox drained by 1 and by 2 dispatcher PROCESSES
  sends        (``--sends`` only) over HTTP at GATEWAY_SEND_CONCURRENCY 1 and 8, with the sandbox answering
               at once and after a 20 ms transport delay (a WAN-like latency)
on SQLite and on PostgreSQL (skipped, and said so, when PostgreSQL is not reachable). The machine's
load average is printed with the figures: on a shared machine they move with it.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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
    postgres_reachable,
    register_enterprises,
    sandbox_process,
    serve_process,
    store_orders,
)
from bench.end_to_end import line as pipelined_line  # noqa: E402
from bench.end_to_end import pipelined  # noqa: E402
from gateway.egress import EgressPolicy  # noqa: E402
from gateway.ports import SendResult, SystemClock  # noqa: E402
from gateway.service.delivery import webhooks  # noqa: E402
from gateway.service.dispatch import RoundResult  # noqa: E402


def drain_sends(dispatcher) -> tuple[int, float, float]:
    """Send rounds until nothing is due; (filings sent, seconds, CPU seconds of this process)."""
    sent, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        r = RoundResult()
        dispatcher.send_due(r)
        sent += r.sent
        if not (r.sent or r.failed or r.retried):
            return sent, time.perf_counter() - t0, time.process_time() - c0


def until_final(dispatcher, idle_rounds: int = 3) -> float:
    """Whole rounds (sends, receipts, webhooks) until nothing moves; seconds."""
    t0, idle = time.perf_counter(), 0
    while idle < idle_rounds:
        idle = 0 if dispatcher.run_once().progress else idle + 1
    return time.perf_counter() - t0


class _AnyUrl(EgressPolicy):
    def vet(self, url):        # the bench's webhook is never called: its events are only queued
        return None


def in_process(kind: str, n: int, webhook: bool = False) -> dict:
    """Dispatch filings/s (in-process sandbox) and end to end orders/s on one fresh database.
    ``webhook``: the tenant has one webhook (on 127.0.0.1, never called: no poster), so every state
    change also enqueues its webhook deliveries."""
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp, database(kind, Path(tmp)) as url:
        gw = bench_gateway(Path(tmp), url)
        tenant, _ = add_tenant(gw)
        if webhook:
            webhooks.register(gw.uow_factory, SystemClock(), gw.ids, tenant, "http://127.0.0.1:9/hook",
                              egress=_AnyUrl())
            gw.dispatcher.webhooks.poster = None
        intake = store_orders(gw, tenant, n)
        _, send_s, send_cpu = drain_sends(gw.dispatcher)
        sent = counts(gw)["outbox"].get("sent", 0)          # counted in the database, not the rounds' tally
        c0 = time.process_time()
        rest_s = until_final(gw.dispatcher)
        rest_cpu = time.process_time() - c0
        c = counts(gw)
        released = c["orders"].get("released", 0)
        gw.engine.dispose()
        return {"orders_stored": intake["stored"], "orders_refused": intake["refused"], "filings": c["filings"],
                "filings_sent": c["outbox"].get("sent", 0), "dispatch_filings_per_s": round(sent / send_s, 1),
                "dispatch_filings_per_cpu_s": round(sent / send_cpu, 1),
                "receipts_cpu_s": round(rest_cpu, 2),
                "dispatch_to_released_orders_per_cpu_s": round(released / (send_cpu + rest_cpu), 1),
                "orders_released": released, "orders_by_status": c["orders"],
                "webhook_deliveries": c["webhook_deliveries"],
                "intake_s": round(intake["seconds"], 2), "dispatch_to_final_s": round(send_s + rest_s, 2),
                "end_to_end_orders_per_s": round(released / (intake["seconds"] + send_s + rest_s), 1),
                "dispatch_to_released_orders_per_s": round(released / (send_s + rest_s), 1)}


class InstantChannel:
    """A channel that takes every message at once and answers nothing: what the dispatcher itself costs
    (claim, record, state, audit), without any government's checks."""

    def send(self, message):
        return SendResult(message.message_id, accepted=True)

    def lookup(self, message_id):
        return None

    def fetch_receipts(self, since):
        return []

    def health(self):
        return {"ok": True}


def _store_and_drain(gw, n: int) -> dict:
    """Store ``n`` unique orders, drain the outbox once; the filings counted sent in the database."""
    tenant, _ = add_tenant(gw)
    store_orders(gw, tenant, n)
    _, send_s, send_cpu = drain_sends(gw.dispatcher)
    c = counts(gw)
    gw.engine.dispose()
    sent = c["outbox"].get("sent", 0)           # counted, not the rounds' own tally
    return {"filings": c["filings"], "filings_sent": sent, "dispatch_filings_per_s": round(sent / send_s, 1),
            "dispatch_filings_per_cpu_s": round(sent / send_cpu, 1)}


def gateway_only(kind: str, n: int) -> dict:
    """Dispatch filings/s of the dispatcher alone, to an instant channel."""
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp, database(kind, Path(tmp)) as url:
        return _store_and_drain(bench_gateway(Path(tmp), url, adapter=InstantChannel()), n)


def over_http(kind: str, n: int, concurrency: int = 8, delay: float = 0.0) -> dict:
    """Dispatch filings/s over HTTP to the sandbox government process, ``concurrency`` sends in flight
    (GATEWAY_SEND_CONCURRENCY); ``delay``: the sandbox's transport delay (s) before every request, a
    WAN-like latency."""
    import requests

    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp, database(kind, Path(tmp)) as url, \
            sandbox_process(Path(tmp)) as base_url:
        if delay:
            requests.post(f"{base_url}/admin/faults", json={"delay": delay}, timeout=10).raise_for_status()
        env = {"GATEWAY_INSTANCE_DIR": str(Path(tmp) / "instance"), "GATEWAY_DATABASE_URL": url,
               "GATEWAY_ADAPTER": "http", "GATEWAY_ADAPTER_OPTIONS": json.dumps({"base_url": base_url}),
               "GATEWAY_CHANNEL_ENVIRONMENT": "sandbox",   # the sandbox process behind the http adapter
               "GATEWAY_SEND_CONCURRENCY": str(concurrency), "GATEWAY_AUTO_MIGRATE": "always"}
        return {"concurrency": concurrency, "delay_s": delay, **_store_and_drain(bench_gateway(Path(tmp), url, env=env), n)}


def send_concurrency(kind: str, n: int, levels: tuple[int, ...] = (1, 8), delays: tuple[float, ...] = (0.0, 0.02)
                     ) -> dict:
    """``over_http`` at each concurrency and sandbox delay, with the load average before each run."""
    out = {}
    for delay in delays:
        for level in levels:
            load = [round(x, 2) for x in os.getloadavg()]
            out[f"delay_{delay}_c{level}"] = {**over_http(kind, n, level, delay), "load_before": load}
    return out


def latency(kind: str, requests_per_level: int, extra: list[str] | None = None,
            settings: dict[str, str] | None = None) -> dict:
    """Single-order POST p50/p99 (ms) at concurrency 1 and 4 against ``gateway serve`` and its dispatcher.
    ``extra``: arguments of ``gateway serve`` (``--no-dispatch``); ``settings``: GATEWAY_* variables of
    the server (``{"GATEWAY_DISPATCH_NICE": "10"}``). The load average is reported before and after."""
    out: dict = {"load_before": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp, database(kind, Path(tmp)) as url:
        env = {"GATEWAY_INSTANCE_DIR": str(Path(tmp) / "instance"), "GATEWAY_DATABASE_URL": url,
               "GATEWAY_AUTO_MIGRATE": "always", **(settings or {})}      # a fresh bench database
        gw = bench_gateway(Path(tmp), url, env=env)
        tenant, key = add_tenant(gw)
        orders = many_orders(20 + 5 * requests_per_level, skip=HELD)
        register_enterprises(gw, tenant, orders)      # a tenant files only under its registered codes
        bodies = iter(json.dumps(o, ensure_ascii=False).encode() for o in orders)
        lock = threading.Lock()
        with serve_process(env, Path(tmp), extra) as (base, _):
            def take():
                with lock:
                    return next(bodies)

            def client(times: list, k: int, errors: list):
                post_orders(base, key, take, k, times, errors)

            for concurrency, total in ((1, 20), (1, requests_per_level), (4, 4 * requests_per_level)):
                times: list[float] = []
                errors: list[str] = []
                threads = [threading.Thread(target=client, args=(times, total // concurrency, errors))
                           for _ in range(concurrency)]
                t0 = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                wall = time.perf_counter() - t0
                if total == 20:
                    continue            # warm-up
                times.sort()
                out[f"c{concurrency}"] = {"requests": len(times), "errors": len(errors), "first_error": errors[:1],
                                          "p50_ms": round(1000 * statistics.median(times), 1),
                                          "p99_ms": round(1000 * times[int(0.99 * (len(times) - 1))], 1),
                                          "orders_per_s": round(len(times) / wall, 1)}
        c = counts(gw)
        gw.engine.dispose()
        out["orders_stored"] = sum(c["orders"].values())
        out["filings_sent"] = c["outbox"].get("sent", 0)       # what the dispatcher did meanwhile
        out["load_after"] = [round(x, 2) for x in os.getloadavg()]
        return out


def scaling(n: int, processes: tuple[int, ...] = (1, 2)) -> dict:
    """PostgreSQL: one outbox drained by 1 and by 2 dispatcher processes (in-process sandbox each)."""
    out = {}
    for k in processes:
        with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp, database("postgresql", Path(tmp)) as url:
            gw = bench_gateway(Path(tmp), url)
            tenant, _ = add_tenant(gw)
            store_orders(gw, tenant, n)
            workers = [subprocess.Popen([sys.executable, str(Path(__file__)), "--worker", url, "--owner", f"w{i}"],
                                        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                       for i in range(k)]
            for w in workers:
                assert w.stdout.readline().strip() == "ready"
            t0 = time.perf_counter()
            for w in workers:
                w.stdin.write("go\n")
                w.stdin.flush()
            reports = [json.loads(w.stdout.readline()) for w in workers]
            wall = time.perf_counter() - t0
            for w in workers:
                w.wait(30)
            c = counts(gw)
            gw.engine.dispose()
            out[f"{k}_process"] = {"filings_sent": c["outbox"].get("sent", 0), "seconds": round(wall, 2),
                                   "filings_per_s": round(c["outbox"].get("sent", 0) / wall, 1),
                                   "sent_by_process": [r["sent"] for r in reports]}
    if "1_process" in out and "2_process" in out:
        out["speedup_1_to_2"] = round(out["2_process"]["filings_per_s"] / out["1_process"]["filings_per_s"], 2)
    return out


def worker(url: str, owner: str) -> int:
    """One dispatcher process of the scaling run: ready, wait for go, send until the outbox is empty."""
    from sqlalchemy import func, select

    from gateway.service.dispatch import Dispatcher
    from gateway.store.models import OutboxItem

    with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
        gw = bench_gateway(Path(tmp), url)
        d = Dispatcher(gw.uow_factory, gw.adapters, gw.clock, owner=owner)
        print("ready", flush=True)
        sys.stdin.readline()
        sent = 0
        while True:
            r = RoundResult()
            d.send_due(r)
            sent += r.sent
            if not r.sent:
                with gw.uow_factory() as uow:
                    if not uow.session.scalar(select(func.count()).select_from(OutboxItem)
                                              .where(OutboxItem.state == "pending")):
                        break
                time.sleep(0.005)
        print(json.dumps({"sent": sent}), flush=True)
        gw.engine.dispose()
    return 0


def run(*, orders: int = 300, http_orders: int = 150, scale_orders: int = 200, requests: int = 120,
        postgres: bool | None = None, e2e_orders: int = 300) -> dict:
    """Every figure of the module as a dict (see the module docstring)."""
    pg = postgres_reachable() if postgres is None else postgres
    kinds = ["sqlite", "postgresql"] if pg else ["sqlite"]
    figures: dict = {"load_average_before": os.getloadavg(), "cpus": os.cpu_count(),
                     "postgresql": "measured" if pg else "not reachable: not measured"}
    for kind in kinds:
        figures[kind] = {"gateway_only": gateway_only(kind, orders),
                         "in_process": in_process(kind, orders), "pipelined": pipelined(kind, e2e_orders),
                         **({"pipelined_2_http": pipelined(kind, e2e_orders, dispatchers=2, sandbox="http")}
                            if kind == "postgresql" else {}),
                         "over_http": over_http(kind, http_orders),
                         "latency": latency(kind, requests),
                         # the same server without its dispatcher: what the load of the machine costs alone
                         "latency_without_dispatcher": latency(kind, requests, ["--no-dispatch"])}
    if pg:
        figures["postgresql"] = {**figures["postgresql"], "scaling": scaling(scale_orders)}
    figures["load_average_after"] = os.getloadavg()
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=300, help="orders of the in-process and end-to-end run")
    ap.add_argument("--http-orders", type=int, default=150, help="orders of the over-HTTP run")
    ap.add_argument("--scale-orders", type=int, default=200, help="orders of each PostgreSQL scaling run")
    ap.add_argument("--e2e-orders", type=int, default=300, help="orders of each pipelined end-to-end run")
    ap.add_argument("--requests", type=int, default=120, help="POSTs at concurrency 1 (4x that at concurrency 4)")
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--sends", action="store_true",
                    help="only the over-HTTP dispatch at send concurrency 1 and 8, sandbox delay 0 and 20 ms")
    ap.add_argument("--json", action="store_true", help="print the dict as JSON")
    ap.add_argument("--worker", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    ap.add_argument("--owner", default="bench", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.owner)
    if args.sends:
        kinds = ["sqlite"] if args.sqlite_only or not postgres_reachable() else ["sqlite", "postgresql"]
        for kind in kinds:
            for key, x in send_concurrency(kind, args.http_orders).items():
                print(f"{kind} {key:>16}: {x['dispatch_filings_per_s']:7.1f} filings/s ({x['filings_sent']}/"
                      f"{x['filings']} sent; {x['dispatch_filings_per_cpu_s']} per CPU-second; load before "
                      f"{x['load_before']})", flush=True)
        return 0
    t0 = time.perf_counter()
    figures = run(orders=args.orders, http_orders=args.http_orders, scale_orders=args.scale_orders,
                  requests=args.requests, postgres=False if args.sqlite_only else None, e2e_orders=args.e2e_orders)
    figures["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(figures, indent=2, ensure_ascii=False, default=str) if args.json else report(figures))
    return 0


def report(f: dict) -> str:
    lines = [f"load average {f['load_average_before']} -> {f['load_average_after']} on {f['cpus']} CPUs; "
             f"PostgreSQL: {f['postgresql'] if isinstance(f['postgresql'], str) else 'measured'}"]
    for kind in ("sqlite", "postgresql"):
        if kind not in f or isinstance(f[kind], str):
            continue
        p, h, lat = f[kind]["in_process"], f[kind]["over_http"], f[kind]["latency"]
        g = f[kind]["gateway_only"]
        lines += [f"{kind}:",
                  f"  dispatch, instant channel     {g['dispatch_filings_per_s']:8.1f} filings/s "
                  f"({g['filings_sent']}/{g['filings']} filings sent; {g['dispatch_filings_per_cpu_s']} per CPU-second: "
                  f"the dispatcher alone)",
                  f"  dispatch, in-process sandbox  {p['dispatch_filings_per_s']:8.1f} filings/s "
                  f"({p['filings_sent']}/{p['filings']} filings sent; {p['dispatch_filings_per_cpu_s']} per CPU-second, "
                  f"the sandbox's checks included)",
                  f"  dispatch, HTTP sandbox        {h['dispatch_filings_per_s']:8.1f} filings/s "
                  f"({h['filings_sent']}/{h['filings']} filings sent; {h['dispatch_filings_per_cpu_s']} per CPU-second "
                  f"of the dispatcher)",
                  f"  end to end serial, one process{p['end_to_end_orders_per_s']:8.1f} orders/s reaching released "
                  f"({p['orders_released']} of {p['orders_stored']} stored, {p['orders_refused']} refused; "
                  f"intake {p['intake_s']} s, dispatch→final {p['dispatch_to_final_s']} s = "
                  f"{p['dispatch_to_released_orders_per_s']} orders/s, "
                  f"{p['dispatch_to_released_orders_per_cpu_s']} per CPU-second)",
                  f"  end to end, pipelined, 1 dispatcher process    {pipelined_line(f[kind]['pipelined'])}"]
        if "pipelined_2_http" in f[kind]:
            lines.append(f"  end to end, pipelined, 2 dispatchers + sandbox process  "
                         f"{pipelined_line(f[kind]['pipelined_2_http'])}")
        for level in ("c1", "c4"):
            x, y = lat[level], f[kind]["latency_without_dispatcher"][level]
            lines.append(f"  POST /v1/orders {level}: p50 {x['p50_ms']} ms, p99 {x['p99_ms']} ms, "
                         f"{x['orders_per_s']} orders/s, {x['errors']} errors of {x['requests']} "
                         f"(without the dispatcher: p50 {y['p50_ms']} ms, p99 {y['p99_ms']} ms)")
    sc = f.get("postgresql", {}).get("scaling") if isinstance(f.get("postgresql"), dict) else None
    if sc:
        lines.append(f"postgresql scaling: 1 process {sc['1_process']['filings_per_s']} filings/s, "
                     f"2 processes {sc['2_process']['filings_per_s']} filings/s "
                     f"(×{sc.get('speedup_1_to_2')}; split {sc['2_process']['sent_by_process']})")
    lines.append(f"({f.get('seconds', '?')} s)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
