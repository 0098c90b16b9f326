"""End to end on two cores, pipelined: intake and the dispatcher(s) as separate processes at the same time.

    python bench/end_to_end.py [--orders 300] [--batch 100] [--interval 1] [--sqlite-only] [--json]
    python bench/end_to_end.py --kind postgresql --dispatchers 2 --sandbox http --orders 600

    from bench.end_to_end import pipelined; pipelined("sqlite", 300)      # a dict

What a deployment runs (gunicorn workers taking POST /v1/orders/batch, ``gateway dispatch run`` beside
them), measured from the database: on a fresh database, one INTAKE process submits ``orders`` unique
orders (a buyer of its own each) in batches of ``batch`` through ``submit_batch`` (the path of
POST /v1/orders/batch), while ``dispatchers`` DISPATCHER processes run rounds (send, receipts, webhooks)
as ``gateway dispatch run`` does (a round after another while they move something, else a wait of
``interval`` s: 0.1 s here, ``gateway serve --interval 0.1``; at serve's default of 1 s the dispatcher
that found nothing at the start sleeps through the first batch, a second or two of a 300-order run). Every process has built its gateway and the
intake its orders before the clock starts; the clock runs from the first submission until the database
shows every stored order 'released' (polled every 50 ms; released orders counted there).

The government: ``--sandbox process`` (default) is the sandbox government in the dispatcher's own
process, one instance across all its rounds (as bench/dispatch.py builds it). It is in-memory state of
that process: receipts of a message sent by dispatcher A exist only in A's sandbox (B's sandbox never
received it; an inventory arriving at B finds no order, payment or waybill there), and the receipts
cursor is one row per adapter in the database, so two such dispatchers would skip and confuse each
other's receipts (``gateway serve`` starts one dispatcher process with it, whatever was asked). Two
dispatchers therefore need ``--sandbox http``: the sandbox government as its own process
(``gateway sandbox serve``) that every dispatcher sends to and polls over HTTP (send concurrency 8).

Reported: orders/s; each process's CPU seconds in the window (/proc: intake, dispatchers, the sandbox
process, this process's polling, on PostgreSQL every ``postgres`` process, others' included), its wait
for a CPU, and the government's share; how busy the CPUs were (/proc/stat) and the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bench.dispatch_setup import (  # noqa: E402
    HELD,
    add_tenant,
    bench_gateway,
    counts,
    database,
    many_orders,
    postgres_reachable,
    register_enterprises,
    sandbox_process,
)
from gateway.adapters.sandbox import SandboxGovernment  # noqa: E402
from gateway.ports import SystemClock, UuidGenerator  # noqa: E402
from gateway.service.orders import submit_batch  # noqa: E402
from gateway.store.models import Order  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
POLL_SECONDS = 0.05
STALL_SECONDS = 60.0      # no order moved for this long: stop and report what the database holds


# ---- the child processes ----------------------------------------------------------------------------
class TimedSandbox(SandboxGovernment):
    """The sandbox government in process, counting the CPU time inside it: the government's work (parsing,
    verifying, judging, issuing receipts), which a real deployment does not do on its own cores."""

    cpu_s = 0.0

    def _timed(self, method, *args):
        t0 = time.thread_time()
        try:
            return method(*args)
        finally:
            self.cpu_s += time.thread_time() - t0

    def send(self, message):
        return self._timed(super().send, message)

    def fetch_receipts(self, since):
        return self._timed(super().fetch_receipts, since)


def _child_gateway(spec: dict, sandbox: SandboxGovernment | None = None):
    return bench_gateway(Path(spec["folder"]), spec["url"], adapter=sandbox, env=spec["env"], settle=True)


def _wait_for_go() -> None:
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit(1)


def intake_process(spec: dict) -> int:
    """Submit the orders in batches (built before the clock); print what was stored and refused."""
    gw = _child_gateway(spec)
    orders = many_orders(spec["orders"], 0, skip=HELD)
    adapter = next(iter(gw.adapters))
    _wait_for_go()
    t0, c0, q0 = time.perf_counter(), time.process_time(), runqueue_seconds(os.getpid())
    stored = refused = 0
    errors: list[str] = []
    for first in range(0, len(orders), spec["batch"]):
        for item in submit_batch(gw.uow_factory, gw.declarer, gw.key, gw.clock, gw.ids, spec["tenant"],
                                 orders[first:first + spec["batch"]], adapter=adapter):
            if item.error is None:
                stored += 1
            else:
                refused += 1
                errors.append(str(item.error)[:200])
    print(json.dumps({"stored": stored, "refused": refused, "errors": errors[:3],
                      "seconds": round(time.perf_counter() - t0, 3), "cpu_s": round(time.process_time() - c0, 3),
                      "waited_for_cpu_s": round(runqueue_seconds(os.getpid()) - q0, 3)}),
          flush=True)
    gw.engine.dispose()
    return 0


def dispatch_process(spec: dict, owner: str) -> int:
    """``gateway dispatch run``'s loop with this bench's gateway, until "stop" arrives on stdin."""
    sandbox = None if spec["env"] else TimedSandbox(clock=SystemClock(), ids=UuidGenerator())
    gw = _child_gateway(spec, sandbox)          # its own owner name (host:pid:random) in claims
    _wait_for_go()
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    t0, c0 = time.perf_counter(), time.process_time()
    rounds = sent = receipts = 0
    waits: list[float] = []         # when a round moved nothing (s after go): a wait of ``interval`` follows
    errors: list[str] = []
    while not stop.is_set():
        try:
            r = gw.dispatcher.run_once()
        except Exception as exc:   # noqa: BLE001 - as `gateway dispatch run`: log, wait, go on
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            stop.wait(spec["interval"])
            continue
        rounds += 1
        sent, receipts = sent + r.sent, receipts + r.receipts
        if not r.progress:
            waits.append(round(time.perf_counter() - t0, 2))
            stop.wait(spec["interval"])
    print(json.dumps({"owner": owner, "rounds": rounds, "idle_waits_at_s": waits, "sent": sent, "receipts": receipts,
                      "errors": len(errors), "first_errors": errors[:2],
                      "cpu_s": round(time.process_time() - c0, 3),
                      "sandbox_cpu_s": None if sandbox is None else round(sandbox.cpu_s, 3)}), flush=True)
    gw.engine.dispose()
    return 0


# ---- CPU accounting (Linux /proc) ---------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def runqueue_seconds(pid: int) -> float:
    """Seconds the threads of a process have waited, runnable, for a CPU so far (/proc schedstat)."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return total / 1e9


def postgres_cpu() -> float:
    """CPU seconds so far of every process named ``postgres`` (server and backends, everyone's)."""
    total = 0.0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(d.name))
            except OSError:
                continue
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot, all CPUs (/proc/stat)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = v[3] + v[4]                     # idle + iowait
    return (sum(v[:8]) - idle) / TICK, sum(v[:8]) / TICK


def _spawn(role: str, spec: dict, log, owner: str = "") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(Path(__file__)), "--role", role, "--spec", json.dumps(spec),
                             "--owner", owner], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=log, text=True)


def _ready(p: subprocess.Popen, log: Path) -> None:
    if p.stdout.readline().strip() != "ready":
        p.wait(10)
        raise RuntimeError(f"a bench process did not start: {log.read_text()[-2000:]}")


def _say(p: subprocess.Popen, word: str) -> None:
    p.stdin.write(word + "\n")
    p.stdin.flush()


def _released(gw) -> int:
    with gw.uow_factory() as uow:
        return uow.session.scalar(select(func.count()).select_from(Order).where(Order.status == "released"))


def pipelined(kind: str, n: int, *, dispatchers: int = 1, sandbox: str = "process", batch: int = 100,
              interval: float = 0.1) -> dict:
    """Intake of ``n`` orders and ``dispatchers`` dispatcher processes at once; orders/s to released."""
    if sandbox == "process" and dispatchers != 1:
        raise ValueError("the in-process sandbox lives in one dispatcher process: use sandbox='http' for more")
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp, database(kind, Path(tmp)) as url:
        folder, pids = Path(tmp), {}
        side_pids: list[int] = []
        with sandbox_process(folder, side_pids) if sandbox == "http" else nullcontext() as base_url:
            env = None if base_url is None else {
                "GATEWAY_INSTANCE_DIR": str(folder / "instance"), "GATEWAY_DATABASE_URL": url,
                "GATEWAY_ADAPTER": "http", "GATEWAY_ADAPTER_OPTIONS": json.dumps({"base_url": base_url}),
                "GATEWAY_CHANNEL_ENVIRONMENT": "sandbox", "GATEWAY_AUTO_MIGRATE": "always"}
            gw = bench_gateway(folder, url, env=env)          # migrates the fresh database, makes the key
            tenant, _ = add_tenant(gw)
            register_enterprises(gw, tenant, many_orders(100, 0, skip=HELD))
            spec = {"url": url, "folder": str(folder), "env": env, "tenant": tenant, "orders": n, "batch": batch,
                    "interval": interval}
            log_path = folder / "children.log"
            log = open(log_path, "ab")
            intake = _spawn("intake", spec, log)
            workers = [_spawn("dispatch", spec, log, f"e2e-{i}") for i in range(dispatchers)]
            try:
                for p in (intake, *workers):
                    _ready(p, log_path)
                pids = {"intake": intake.pid, **{f"dispatcher_{i}": w.pid for i, w in enumerate(workers)},
                        **({"sandbox_process": side_pids[0]} if side_pids else {})}
                intake_report: list[dict] = []
                reader = threading.Thread(target=lambda: intake_report.append(json.loads(intake.stdout.readline())),
                                          daemon=True)
                reader.start()
                load_before = [round(x, 2) for x in os.getloadavg()]
                cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
                queue0 = {k: runqueue_seconds(p) for k, p in pids.items() if k != "intake"}
                pg0, busy0, own0 = (postgres_cpu() if kind == "postgresql" else 0.0), machine_busy(), time.process_time()
                t0 = time.perf_counter()
                for p in (intake, *workers):
                    _say(p, "go")
                released, moved_at, stalled = 0, t0, False
                while True:
                    now_released = _released(gw)
                    now = time.perf_counter()
                    if now_released != released:
                        released, moved_at = now_released, now
                    if intake_report and released >= intake_report[0]["stored"]:
                        break
                    if now - moved_at > STALL_SECONDS and (not reader.is_alive() or now - moved_at > 5 * STALL_SECONDS
                                                           or any(w.poll() is not None for w in workers)):
                        stalled = True
                        break
                    time.sleep(POLL_SECONDS)
                wall = time.perf_counter() - t0
                cpu = {k: round(cpu_seconds(p) - cpu0[k], 2) for k, p in pids.items()}
                if intake_report:        # its own count, first to last submission (not its exit)
                    cpu["intake"] = round(intake_report[0]["cpu_s"], 2)
                cpu["this_process_polling"] = round(time.process_time() - own0, 2)
                waited = {k: round(runqueue_seconds(pids[k]) - v, 2) for k, v in queue0.items()}
                if kind == "postgresql":
                    cpu["postgres_all"] = round(postgres_cpu() - pg0, 2)
                busy1 = machine_busy()
                load_after = [round(x, 2) for x in os.getloadavg()]
                for w in workers:
                    _say(w, "stop")
                reports = [json.loads(w.stdout.readline() or "{}") for w in workers]
            finally:
                for p in (intake, *workers):
                    if p.poll() is None:
                        try:
                            p.wait(30)
                        except subprocess.TimeoutExpired:
                            p.kill()
                log.close()
            c = counts(gw)
            gw.engine.dispose()
    busy = (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1e-9)
    ours = sum(v for k, v in cpu.items() if k != "postgres_all")
    released = c["orders"].get("released", 0)
    # what all of it costs a released order in CPU (the polling left out, PostgreSQL's server in, with
    # whatever else it served meanwhile): 2 cores / that is the most two idle cores would allow ...
    work = ours - cpu["this_process_polling"] + cpu.get("postgres_all", 0.0)
    per_order_ms = 1000 * work / released if released else None
    # the government's part of it: the sandbox process, or the time inside the in-process sandbox
    government = cpu.get("sandbox_process", 0.0) + sum(r.get("sandbox_cpu_s") or 0.0 for r in reports)
    busiest = max(v for k, v in cpu.items() if k not in ("postgres_all", "this_process_polling"))
    # a dispatcher neither running nor runnable: waiting for work (its idle waits of ``interval``, until the
    # first batch is stored), for the database (SQLite's write lock, PostgreSQL's answers), for I/O
    off = {f"dispatcher_{i}": (round(wall - cpu[f"dispatcher_{i}"] - waited[f"dispatcher_{i}"], 2),
                               sum(1 for t in r.get("idle_waits_at_s", []) if t < wall)) for i, r in enumerate(reports)}
    # ... and one core a process (each is one Python thread of work): the busiest one's own limit
    ceiling = min(2000 / per_order_ms, released / busiest) if per_order_ms and busiest else None
    return {"kind": kind, "dispatchers": dispatchers, "sandbox": sandbox, "orders": n, "batch": batch,
            "interval_s": interval, "intake": intake_report[0] if intake_report else None,
            "orders_released": c["orders"].get("released", 0), "orders_by_status": c["orders"],
            "filings": c["filings"], "outbox": c["outbox"], "stalled": stalled, "seconds": round(wall, 2),
            "orders_per_s": round(released / wall, 1) if not stalled else 0.0,
            "cpu_s": cpu, "cpu_s_bench_processes": round(ours, 2),
            # runnable but not running (the machine's other work, or our own processes, had the CPUs)
            "waited_for_cpu_s": {"intake": (intake_report[0] if intake_report else {}).get("waited_for_cpu_s"),
                                 **waited},
            "dispatcher_off_cpu_s_and_idle_waits": off,
            "cpu_ms_per_order": round(per_order_ms, 1) if per_order_ms else None,
            "government_cpu_ms_per_order": round(1000 * government / released, 1) if released else None,
            "two_core_ceiling_orders_per_s": round(ceiling, 1) if ceiling else None,
            "machine_busy_pct": round(100 * busy, 1), "cpus": os.cpu_count(),
            "load_before": load_before, "load_after": load_after, "dispatcher_reports": reports}


def runs(*, orders: int = 300, batch: int = 100, interval: float = 0.1, postgres: bool | None = None) -> dict:
    """The figures of ``./dev bench``: SQLite with 1 dispatcher (sandbox in process); PostgreSQL with 1
    (sandbox in process) and 2 dispatchers (the sandbox process over HTTP)."""
    pg = postgres_reachable() if postgres is None else postgres
    out = {"sqlite_1": pipelined("sqlite", orders, batch=batch, interval=interval)}
    if pg:
        out["postgresql_1"] = pipelined("postgresql", orders, batch=batch, interval=interval)
        out["postgresql_2_http"] = pipelined("postgresql", orders, dispatchers=2, sandbox="http", batch=batch,
                                             interval=interval)
    else:
        out["postgresql"] = "not reachable: not measured"
    return out


def line(x: dict) -> str:
    """One figure, as ./dev bench prints it."""
    cpu = ", ".join(f"{k} {v}" for k, v in x["cpu_s"].items())
    off = x["dispatcher_off_cpu_s_and_idle_waits"]
    intake = x["intake"] or {}
    return (f"{x['orders_per_s']:8.1f} orders/s reaching released ({x['orders_released']} of "
            f"{intake.get('stored', '?')} stored, {intake.get('refused', '?')} refused; {x['seconds']} s; intake "
            f"done after {intake.get('seconds', '?')} s){' STALLED' if x['stalled'] else ''}; CPU s: {cpu}; "
            f"waited for a CPU s: {', '.join(f'{k} {v}' for k, v in x['waited_for_cpu_s'].items())}; "
            f"neither (s, idle waits): {', '.join(f'{k} {v[0]} ({v[1]})' for k, v in off.items())}; "
            f"{x['cpu_ms_per_order']} CPU ms an order in all, {x['government_cpu_ms_per_order']} of them the "
            f"sandbox government's (two idle cores: at most "
            f"{x['two_core_ceiling_orders_per_s']} orders/s); machine {x['machine_busy_pct']} % busy of {x['cpus']} "
            f"CPUs, load {x['load_before']} -> {x['load_after']}")


def report(figures: dict) -> str:
    names = {"sqlite_1": "SQLite, 1 dispatcher, sandbox in process",
             "postgresql_1": "PostgreSQL, 1 dispatcher, sandbox in process",
             "postgresql_2_http": "PostgreSQL, 2 dispatchers, sandbox process (HTTP)"}
    out = []
    for key, x in figures.items():
        out.append(f"  {names.get(key, key)}: {x}" if isinstance(x, str) else
                   f"  {names.get(key, key)} (batches of {x['batch']}):\n    {line(x)}")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--batch", type=int, default=100, help="orders a submit_batch call (a POST /v1/orders/batch)")
    ap.add_argument("--interval", type=float, default=0.1,
                    help="the dispatchers' wait when a round moved nothing (gateway serve's default: 1)")
    ap.add_argument("--kind", choices=("sqlite", "postgresql"), help="one run only, on this database")
    ap.add_argument("--dispatchers", type=int, default=1, help="with --kind")
    ap.add_argument("--sandbox", choices=("process", "http"), default="process", help="with --kind")
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--json", action="store_true", help="every figure as JSON")
    ap.add_argument("--role", choices=("intake", "dispatch"), help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--owner", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "intake":
        return intake_process(json.loads(args.spec))
    if args.role == "dispatch":
        return dispatch_process(json.loads(args.spec), args.owner)
    if args.kind:
        figures = {f"{args.kind}_{args.dispatchers}{'_http' if args.sandbox == 'http' else ''}":
                   pipelined(args.kind, args.orders, dispatchers=args.dispatchers, sandbox=args.sandbox,
                             batch=args.batch, interval=args.interval)}
    else:
        figures = runs(orders=args.orders, batch=args.batch, interval=args.interval,
                       postgres=False if args.sqlite_only else None)
    print(json.dumps(figures, indent=2, ensure_ascii=False) if args.json else report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
