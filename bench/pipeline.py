"""Declarations per second on one core: our pipeline against a naive one, measured in the same run.

  ours   build (lxml) + validate (lxml XMLSchema, compiled once) + sign (lxml C14N + cryptography)
  naive  build (lxml) + validate (xmlschema package) + sign (signxml) + one commit per message

and the same with durable storage (SQLite): ours commits each order's filings, outbox rows and audit
events in one transaction (and a bulk batch in one transaction); the naive one commits every message.
Stored orders are counted in the database afterwards (orders rows, filings with signed bytes), never
assumed. The RSA-2048 signing floor (the same key signing a SignedInfo of the real size) is measured in
the same run, and every row says its cost per message as a multiple of it. With PostgreSQL reachable
on 127.0.0.1:5432 (trust auth, user postgres) the stored rows run there too, on a throwaway database.

usage: python bench/pipeline.py [--orders N] [--batch N] [--naive-orders N] [--postgres URL]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sqlite3
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from bench.dispatch_setup import HELD  # noqa: E402
from gateway import signing  # noqa: E402
from gateway.declarations.ceb_import import BUILDERS  # noqa: E402
from gateway.declarations.common import FilingContext, Transfer  # noqa: E402
from gateway.domain.identity import resident_id_check_char  # noqa: E402
from gateway.domain.parse import parse_order  # noqa: E402
from gateway.ports import UuidGenerator  # noqa: E402
from gateway.service.declare import Declarer, new_cop_no  # noqa: E402

TZ = timezone(timedelta(hours=8))
TRANSFER = Transfer("4601980ABC", "海口一达供应链服务有限公司", "DXPENT0000458763")


def _fixtures() -> list[Path]:
    """The valid fixtures but the one customs would refuse: the gateway holds it, builds and signs nothing
    for it, so counting it as stored would inflate orders/s (bench/dispatch_setup.HELD)."""
    return [p for p in sorted((ROOT / "fixtures/orders/valid").glob("*.json")) if p.name not in HELD]


def load_orders():
    return [parse_order(p.read_text("utf-8")) for p in _fixtures()]


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(t0: tuple[float, float]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) since ``t0``: on a shared machine the CPU time is
    what the code costs; the wall time also counts waiting for the core and for the database."""
    wall, cpu = _now()
    return wall - t0[0], cpu - t0[1]


def pin_one_core():
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def bench_ours(orders, key, n):
    ids = UuidGenerator()
    declarer = Declarer(signing.XmlSigner(signing.DEFAULT_RSA), ids)
    now = datetime.now(TZ)
    declarer.declare(orders[0], transfer=TRANSFER, key=key, app_time=now, cop_no="GW0")  # warm up
    messages = 0
    t0 = _now()
    for i in range(n):
        built = declarer.declare(orders[i % len(orders)], transfer=TRANSFER, key=key, app_time=now,
                                 cop_no=new_cop_no(ids.new_guid()))
        messages += len(built)
    return messages, _since(t0)


def bench_naive(orders, key, n, db_path=None):
    import xmlschema
    from cryptography.hazmat.primitives import serialization
    from signxml import SignatureConstructionMethod, XMLSigner

    key_pem = key.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
    cert_pem = key.certificate.public_bytes(serialization.Encoding.PEM)
    xsd = xmlschema.XMLSchema(str(ROOT / "gateway/schemas/ceb-import.xsd"))
    conn = None
    if db_path:
        conn = sqlite3.connect(db_path)
        conn.execute("create table if not exists msg (guid text primary key, body blob)")
    ids = UuidGenerator()
    now = datetime.now(TZ)
    messages = 0
    t0 = _now()
    for i in range(n):
        order = orders[i % len(orders)]
        cop_no = new_cop_no(ids.new_guid())
        for mtype, build in BUILDERS.items():
            root = build(order, FilingContext(ids.new_guid(), now, TRANSFER, cop_no))
            if mtype != "CEB621Message":  # CEB621 needs its signature to be valid: check after signing
                list(xsd.iter_errors(root))
            signer = XMLSigner(method=SignatureConstructionMethod.enveloped, signature_algorithm="rsa-sha256",
                               digest_algorithm="sha256", c14n_algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315")
            signed = signer.sign(root, key=key_pem, cert=cert_pem)
            if mtype == "CEB621Message":
                # signxml's KeyInfo has no KeyName, which our strict schema requires: the work of
                # validating is the same, so the errors are collected and not raised
                list(xsd.iter_errors(signed))
            body = etree.tostring(signed, encoding="UTF-8", xml_declaration=True)
            if conn is not None:
                conn.execute("insert into msg values (?, ?)", (root.get("guid"), body))
                conn.commit()
            messages += 1
    elapsed = _since(t0)
    if conn is not None:      # what was stored, counted (the table is the run's own file)
        messages = conn.execute("select count(*) from msg").fetchone()[0]
    return messages, elapsed


_BUYERS = itertools.count()     # every generated order gets its own buyer, across runs too


def _payloads(n: int, run: str) -> list[str]:
    """``n`` orders cycled from the valid fixtures, each with its own order number, payment and waybill
    number and its own buyer (and payer), so no buyer reaches the CBEC annual limit however large ``n``."""
    templates = [json.loads(p.read_text("utf-8")) for p in _fixtures()]
    out = []
    for i in range(n):
        d = json.loads(json.dumps(templates[i % len(templates)]))
        d["order_no"] = f"{d['order_no']}-{run}{i}"
        serial = next(_BUYERS)
        born = date(1950, 1, 1) + timedelta(days=serial // 1000)
        first17 = f"110101{born:%Y%m%d}{serial % 1000:03d}"
        buyer = first17 + resident_id_check_char(first17)     # a distinct, valid resident id per order
        for holder in (d.get("buyer"), (d.get("payment") or {}).get("payer")):
            if isinstance(holder, dict) and "id_number" in holder:
                holder["id_number"] = buyer
        if isinstance(d.get("payment"), dict) and "transaction_no" in d["payment"]:
            d["payment"]["transaction_no"] = f"{d['payment']['transaction_no'][:20]}{run}{i}"
        if isinstance(d.get("logistics"), dict) and "waybill_no" in d["logistics"]:
            d["logistics"]["waybill_no"] = f"{d['logistics']['waybill_no'][:14]}{run}{i}"
        out.append(json.dumps(d, ensure_ascii=False, indent=2))
    return out


def signing_floor(key, n: int) -> tuple[tuple[float, float], int]:
    """(wall, CPU) seconds per RSA signature: the canonical SignedInfo of a real signed message, signed ``n`` times
    with the same key and the default signature (RSA-2048, PKCS#1 v1.5): what every declaration costs
    at least."""
    from cryptography.hazmat.primitives.asymmetric import padding

    ids = UuidGenerator()
    declarer = Declarer(signing.XmlSigner(signing.DEFAULT_RSA), ids)
    built = declarer.declare(load_orders()[0], transfer=TRANSFER, key=key, app_time=datetime.now(TZ), cop_no="GW0")
    doc = etree.fromstring(built[0].signed_bytes)
    signed_info = doc.find(".//{http://www.w3.org/2000/09/xmldsig#}SignedInfo")
    data = etree.tostring(signed_info, method="c14n")
    pad, sha = padding.PKCS1v15(), signing.DEFAULT_RSA.signature_hash()     # what the gateway signs with
    key.private_key.sign(data, pad, sha)
    t0 = _now()
    for _ in range(n):
        key.private_key.sign(data, pad, sha)
    wall, cpu = _since(t0)
    return (wall / n, cpu / n), len(data)


def _counts(gw, tid) -> tuple[int, int]:
    """(orders stored, messages signed and stored) of the tenant, counted in the database."""
    from sqlalchemy import text

    with gw.engine.connect() as conn:
        orders = conn.execute(text("SELECT count(*) FROM orders WHERE tenant_id = :t"), {"t": tid}).scalar_one()
        messages = conn.execute(text("SELECT count(*) FROM filings WHERE tenant_id = :t AND signed_bytes IS NOT NULL"),
                                {"t": tid}).scalar_one()
    return int(orders), int(messages)


def bench_stored(key, n, inst: Path, database_url: str, batch: int, run: str) -> tuple[int, int, tuple[float, float]]:
    """Submit ``n`` unique orders through the service (one per call when ``batch`` is 0, else
    ``batch`` per ``submit_batch`` call: the path of POST /v1/orders/batch and bulk files);
    returns (orders stored, messages stored, (wall, CPU) seconds), counted in the database afterwards."""
    from gateway.bootstrap import bootstrap
    from gateway.config import Settings
    from gateway.service.orders import submit_batch
    from gateway.service.tenants import add_enterprises, codes_named
    from gateway.store.tenants import create_tenant

    gw = bootstrap(Settings(instance_dir=inst, database_url=database_url, auto_migrate="always"), key=key)
    try:
        with gw.uow_factory() as uow:
            tenant, _ = create_tenant(uow, f"bench-{run}", "4601980ABC", "海口一达", "DXPENT0000458763")
            tid = tenant.id
            uow.commit()
        payloads = _payloads(n, run)
        codes = codes_named(payloads[:20], gw.clock.now())
        add_enterprises(gw.uow_factory, gw.clock, tid, [{"code": c} for c in codes])
        t0 = _now()
        refused = 0
        if batch:
            for start in range(0, n, batch):
                items = submit_batch(gw.uow_factory, gw.declarer, gw.key, gw.clock, gw.ids, tid,
                                     payloads[start:start + batch])
                refused += sum(1 for it in items if it.error is not None)
        else:
            for p in payloads:
                gw.submit(tid, p)
        seconds = _since(t0)
        if refused:
            print(f"  ({run}: {refused} orders refused)", file=sys.stderr)
        orders, messages = _counts(gw, tid)
        return orders, messages, seconds
    finally:
        gw.engine.dispose()


def _postgres(admin_url: str):
    """A throwaway database on the PostgreSQL of ``admin_url`` (None when it is not reachable):
    (URL for the gateway, drop function)."""
    try:
        import psycopg

        conn = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except Exception as exc:      # noqa: BLE001 - any failure means: no PostgreSQL figures
        print(f"PostgreSQL at {admin_url} not reachable ({type(exc).__name__}): SQLite figures only", file=sys.stderr)
        return None
    name = f"gw_bench_{os.getpid()}"
    conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]

    def drop():
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()

    return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}", drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=500, help="orders stored per database row (default 500)")
    ap.add_argument("--batch", type=int, default=500, help="orders per submit_batch call (default 500)")
    ap.add_argument("--naive-orders", type=int, default=25)
    ap.add_argument("--floor-signatures", type=int, default=2000)
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                    help="admin URL of a PostgreSQL to create a throwaway database on ('' to skip)")
    args = ap.parse_args()
    pin_one_core()
    orders = load_orders()
    rows = []          # (name, orders, messages, seconds)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        key = signing.ensure_dev_key(tmp)
        floor, si_bytes = signing_floor(key, args.floor_signatures)
        m, s = bench_ours(orders, key, args.orders)
        rows.append(("ours: build+validate+sign, no storage", args.orders, m, s))
        m, s = bench_naive(orders, key, args.naive_orders)
        rows.append(("naive: build+xmlschema+signxml, no storage", args.naive_orders, m, s))
        databases = [("SQLite", f"sqlite:///{tmp}/gw.sqlite3", None)]
        pg = _postgres(args.postgres) if args.postgres else None
        if pg is not None:
            databases.append(("PostgreSQL", pg[0], pg[1]))
        try:
            for label, url, _ in databases:
                o, m, s = bench_stored(key, args.orders, tmp / label, url, args.batch, f"{label[0]}B")
                rows.append((f"{label}: intake, {args.batch} orders a batch", o, m, s))
                o, m, s = bench_stored(key, args.orders, tmp / label, url, 0, f"{label[0]}S")
                rows.append((f"{label}: intake, one order a call", o, m, s))
        finally:
            if pg is not None:
                pg[1]()
        m, s = bench_naive(orders, key, args.naive_orders, db_path=str(tmp / "naive.sqlite3"))
        rows.append(("naive + SQLite, one commit per message", args.naive_orders, m, s))
    print(f"one core, RSA-2048; {len(orders)} fixture orders cycled, each stored order with its own number and "
          f"buyer; a declaration = one signed message (an import order has 4 to 8: CEB311/411/511/621 and the "
          f"inspection, tax and FX records)")
    print(f"signing floor: {floor[1] * 1e6:.0f} µs CPU ({floor[0] * 1e6:.0f} µs wall) per RSA-2048 signature of "
          f"a {si_bytes}-byte SignedInfo ({args.floor_signatures} signatures, {signing.DEFAULT_RSA_NAME})")
    print("orders/s and msg/s: wall clock; µs/msg and × floor: CPU time of this process (the database "
          "server's CPU is not in it)\n")
    print(f"{'pipeline':<46} {'orders':>7} {'messages':>8} {'wall s':>7} {'CPU s':>7} {'orders/s':>9} {'msg/s':>7} "
          f"{'µs/msg':>7} {'× floor':>8}")
    for name, o, m, (wall, cpu) in rows:
        per = cpu / m if m else float("nan")
        print(f"{name:<46} {o:>7} {m:>8} {wall:>7.2f} {cpu:>7.2f} {o / wall:>9.1f} {m / wall:>7.0f} {per * 1e6:>7.0f} "
              f"{per / floor[1]:>8.2f}")

if __name__ == "__main__":
    main()
