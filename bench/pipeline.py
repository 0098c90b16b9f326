"""Declarations per second on one core: our pipeline against a naive one, measured in the same run.

  ours   build (lxml) + validate (lxml XMLSchema, compiled once) + sign (lxml C14N + cryptography)
  naive  build (lxml) + validate (xmlschema package) + sign (signxml) + one commit per message

and the same with durable storage (SQLite): ours commits each order's filings, outbox rows and audit
events in one transaction (and a bulk batch in one transaction); the naive one commits every message.

usage: python bench/pipeline.py [--orders N] [--naive-orders N]
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from gateway import schemas, signing  # noqa: E402
from gateway.declarations.ceb_import import BUILDERS  # noqa: E402
from gateway.declarations.common import FilingContext, Transfer  # noqa: E402
from gateway.domain.parse import parse_order  # noqa: E402
from gateway.ports import UuidGenerator  # noqa: E402
from gateway.service.declare import Declarer, new_cop_no  # noqa: E402

TZ = timezone(timedelta(hours=8))
TRANSFER = Transfer("4601980ABC", "海口一达供应链服务有限公司", "DXPENT0000458763")


def load_orders():
    return [parse_order(p.read_text("utf-8")) for p in sorted((ROOT / "fixtures/orders/valid").glob("*.json"))]


def pin_one_core():
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def bench_ours(orders, key, n):
    ids = UuidGenerator()
    declarer = Declarer(signing.XmlSigner(signing.DEFAULT_RSA), ids)
    now = datetime.now(TZ)
    declarer.declare(orders[0], transfer=TRANSFER, key=key, app_time=now, cop_no="GW0")  # warm up
    messages = 0
    t0 = time.perf_counter()
    for i in range(n):
        built = declarer.declare(orders[i % len(orders)], transfer=TRANSFER, key=key, app_time=now,
                                 cop_no=new_cop_no(ids.new_guid()))
        messages += len(built)
    return messages, time.perf_counter() - t0


def bench_naive(orders, key, n, db_path=None):
    import xmlschema
    from signxml import SignatureConstructionMethod, XMLSigner

    from cryptography.hazmat.primitives import serialization

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
    t0 = time.perf_counter()
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
    return messages, time.perf_counter() - t0


def bench_stored(orders, key, n, tmp: Path, batch: bool):
    from gateway.bootstrap import bootstrap
    from gateway.config import Settings
    from gateway.service.tenants import add_enterprises, codes_named
    from gateway.store.tenants import create_tenant

    inst = tmp / ("batch" if batch else "single")
    gw = bootstrap(Settings(instance_dir=inst, database_url=f"sqlite:///{inst}/gw.sqlite3"), key=key)
    with gw.uow_factory() as uow:
        tenant, _ = create_tenant(uow, "bench", "4601980ABC", "海口一达", "DXPENT0000458763")
        tid = tenant.id
        uow.commit()
    files = sorted((ROOT / "fixtures/orders/valid").glob("*.json"))
    import json

    payloads = []
    for i in range(n):
        d = json.loads(files[i % len(files)].read_text("utf-8"))
        d["order_no"] = f"{d['order_no']}-B{i}"
        payloads.append(json.dumps(d, ensure_ascii=False))
    codes = codes_named(payloads[:len(files)], gw.clock.now())
    add_enterprises(gw.uow_factory, gw.clock, tid, [{"code": c} for c in codes])
    t0 = time.perf_counter()
    if batch:
        from gateway.service.orders import submit_batch

        for start in range(0, n, 100):
            submit_batch(gw.uow_factory, gw.declarer, gw.key, gw.clock, gw.ids, tid, payloads[start:start + 100])
    else:
        for p in payloads:
            gw.submit(tid, p)
    return n * 4, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=500)
    ap.add_argument("--naive-orders", type=int, default=50)
    args = ap.parse_args()
    pin_one_core()
    orders = load_orders()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        key = signing.ensure_dev_key(tmp)
        rows = []
        m, s = bench_ours(orders, key, args.orders)
        rows.append(("ours: build+validate+sign", m, s))
        m, s = bench_naive(orders, key, args.naive_orders)
        rows.append(("naive: build+xmlschema+signxml", m, s))
        m, s = bench_stored(orders, key, args.orders, tmp, batch=False)
        rows.append(("ours + SQLite, one commit per order", m, s))
        try:
            m, s = bench_stored(orders, key, args.orders, tmp, batch=True)
            rows.append(("ours + SQLite, one commit per 100 orders", m, s))
        except ImportError:
            pass
        m, s = bench_naive(orders, key, args.naive_orders, db_path=str(tmp / "naive.sqlite3"))
        rows.append(("naive + SQLite, one commit per message", m, s))
    print(f"one core, RSA-2048, {len(orders)} fixture orders cycled; a declaration = one signed message\n")
    print(f"{'pipeline':<44} {'messages':>9} {'seconds':>8} {'msg/s':>9} {'orders/s':>9}")
    for name, m, s in rows:
        print(f"{name:<44} {m:>9} {s:>8.2f} {m / s:>9.0f} {m / 4 / s:>9.0f}")


if __name__ == "__main__":
    main()
