"""What bench/dispatch.py runs on: fresh databases (a SQLite file, or a PostgreSQL database dropped
afterwards), unique orders stored through intake, the sandbox government as its own process, the
embedded server (``gateway serve``) as a process, and counts read back from the database.

Every order is distinct (order, payment and waybill numbers, and a buyer of its own, so no buyer
reaches the CBEC annual limit): what intake refuses is counted and reported, never silently lost.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from gateway import signing  # noqa: E402
from gateway.adapters.sandbox import SandboxGovernment  # noqa: E402
from gateway.bootstrap import bootstrap  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.ports import SystemClock, UuidGenerator  # noqa: E402
from gateway.runtime import settle_heap  # noqa: E402
from gateway.service.orders import submit_batch  # noqa: E402
from gateway.service.tenants import add_enterprises, codes_named  # noqa: E402
from gateway.store.models import Filing, Order, OutboxItem, WebhookDelivery  # noqa: E402
from gateway.store.tenants import create_tenant  # noqa: E402
from tests.delivery_helpers import many_orders  # noqa: E402  (distinct orders, a buyer of their own)

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def database(kind: str, folder: Path):
    """A fresh database URL: ``sqlite`` (a file in ``folder``) or ``postgresql`` (dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{(folder / 'bench.sqlite3').as_posix()}"
        return
    import psycopg
    from psycopg import sql

    name = f"bench_dispatch_{secrets.token_hex(5)}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def bench_gateway(folder: Path, url: str, adapter=None, env: dict | None = None, settle: bool = False):
    """A gateway on ``url``: from the GATEWAY_* variables ``env`` when given, else with the sandbox
    government in process (``adapter`` instead, when given) and the development key in ``folder``.
    ``settle``: the heap settled afterwards, as a gateway process does once started (runtime.settle_heap)."""
    if env is not None:
        gw = bootstrap(Settings.from_env(env))
    else:
        clock = SystemClock()
        government = adapter or SandboxGovernment(clock=clock, ids=UuidGenerator())
        settings = Settings(instance_dir=folder, database_url=url, auto_migrate="always")   # a fresh bench database
        gw = bootstrap(settings, clock=clock, adapters={"sandbox": government}, key=signing.ensure_dev_key(folder))
    if settle:
        settle_heap()
    return gw


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:   # noqa: BLE001 - any failure: PostgreSQL is not there
        return False


def add_tenant(gw) -> tuple[str, str]:
    with gw.uow_factory() as uow:
        tenant, key = create_tenant(uow, "Bench", "4601980ABC", "海口一达", "DXPENT0000458763")
        uow.commit()
        return tenant.id, key


# the fixture customs would refuse (over the single limit): the gateway holds it, it never finishes
HELD = ("9610-over-single-limit.json",)


def register_enterprises(gw, tenant_id: str, orders: list[dict]) -> None:
    """The tenant may file only under its registered enterprise codes (issue 9): register the bench's."""
    add_enterprises(gw.uow_factory, gw.clock, tenant_id, [{"code": c} for c in codes_named(orders, gw.clock.now())])


def store_orders(gw, tenant_id: str, n: int, start: int = 0, chunk: int = 250) -> dict:
    """Submit ``n`` unique orders through intake (batches of ``chunk``); what was stored and refused."""
    stored = refused = 0
    errors: list[str] = []
    register_enterprises(gw, tenant_id, many_orders(100, 0, skip=HELD))   # every fixture's codes, outside the clock
    t0 = time.perf_counter()
    for first in range(start, start + n, chunk):
        todo = many_orders(min(chunk, start + n - first), first, skip=HELD)
        items = submit_batch(gw.uow_factory, gw.declarer, gw.key, gw.clock, gw.ids, tenant_id, todo,
                             adapter=next(iter(gw.adapters)))
        for item in items:
            if item.error is None:
                stored += 1
            else:
                refused += 1
                errors.append(str(item.error)[:200])
    return {"stored": stored, "refused": refused, "errors": errors[:3], "seconds": time.perf_counter() - t0}


def counts(gw) -> dict:
    """What the database holds: orders by status, filings, outbox rows by state, webhook deliveries."""
    with gw.uow_factory() as uow:
        s = uow.session
        return {"orders": dict(s.execute(select(Order.status, func.count()).group_by(Order.status)).all()),
                "filings": s.scalar(select(func.count()).select_from(Filing)),
                "outbox": dict(s.execute(select(OutboxItem.state, func.count()).group_by(OutboxItem.state)).all()),
                "webhook_deliveries": s.scalar(select(func.count()).select_from(WebhookDelivery))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def sandbox_process(folder: Path, pids: list[int] | None = None):
    """``gateway sandbox serve`` on a free port; yields its HTTP base URL (its process id appended to
    ``pids`` when given)."""
    log = open(folder / "sandbox.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "sandbox", "serve", "--http", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    if pids is not None:
        pids.append(proc.pid)
    try:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox did not start: {(folder / 'sandbox.log').read_text()[-2000:]}")
        yield f"http://127.0.0.1:{json.loads(line)['http']}"
    finally:
        _stop(proc)
        log.close()


@contextmanager
def serve_process(env: dict, folder: Path, extra: list[str] | None = None):
    """``gateway serve`` (API and its dispatcher) on a free port; yields (its base URL, its process id)
    once it answers."""
    import requests

    port = free_port()
    log = open(folder / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             *(extra or [])], cwd=ROOT, env={**os.environ, **env}, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gateway serve exited: {(folder / 'serve.log').read_text()[-2000:]}")
            try:
                requests.get(f"{url}/v1/orders/none", timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url, proc.pid
    finally:
        _stop(proc)
        log.close()


def post_orders(base: str, api_key: str, take, k: int, times: list, errors: list) -> None:
    """POST ``k`` bodies (``take()`` gives the next) to ``base``/v1/orders one after another on one
    connection: the seconds of each round trip into ``times``, every answer but 201 into ``errors``."""
    import requests

    http = requests.Session()
    http.trust_env = False
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    for _ in range(k):
        body = take()
        t0 = time.perf_counter()
        r = http.post(f"{base}/v1/orders", data=body, headers=headers, timeout=60)
        times.append(time.perf_counter() - t0)
        if r.status_code != 201:
            errors.append(f"{r.status_code} {r.text[:200]}")


def rss_by_process(pid: int) -> dict[int, float]:
    """Resident set size (MiB) of a process and of each of its descendants (Linux /proc)."""
    sizes = {}
    for p in [pid, *_children(pid)]:
        kib = 0
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kib = int(line.split()[1])
        except OSError:
            pass
        sizes[p] = round(kib / 1024, 1)
    return sizes


def _children(pid: int) -> list[int]:
    try:
        kids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]
