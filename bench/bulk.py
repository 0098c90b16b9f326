"""A 500-line XLSX (100 CBEC export orders × 5 goods lines) filed through ``POST /v1/orders/upload``
(Flask's test client: no network) and through ``gateway submit``'s service function, on SQLite or
PostgreSQL, with the in-process sandbox. The time is reading, building, signing and storing (chunks
of 50 orders per transaction); it depends on the machine's load, so print the load average with it.

usage: python bench/bulk.py [--orders 100] [--database-url postgresql://postgres@127.0.0.1/bench]
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway import signing  # noqa: E402
from gateway.adapters.sandbox import SandboxGovernment  # noqa: E402
from gateway.api import create_app  # noqa: E402
from gateway.bootstrap import bootstrap  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.ports import SystemClock, UuidGenerator  # noqa: E402
from gateway.service.bulk import submit_file  # noqa: E402
from gateway.service.bulk_files import write_template  # noqa: E402
from gateway.store.tenants import create_tenant  # noqa: E402


def workbook(n: int, prefix: str) -> bytes:
    base = json.loads((ROOT / "fixtures/orders/export/valid/9610-multi-line-mail-uk.json").read_text("utf-8"),
                      parse_float=Decimal)
    orders = []
    for i in range(n):
        o = copy.deepcopy(base)
        o["order_no"], o["payment"]["transaction_no"] = f"{prefix}{i:05d}", f"PAY{prefix}{i:05d}"
        o["logistics"]["waybill_no"] = f"WB{prefix}{i:05d}"
        orders.append(o)
    out = io.BytesIO()
    write_template("cbec-export", "xlsx", out, "both", orders)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clock, ids = SystemClock(), UuidGenerator()
        settings = Settings(instance_dir=Path(tmp), database_url=args.database_url)
        gw = bootstrap(settings, clock=clock, ids=ids, adapters={"sandbox": SandboxGovernment(clock=clock, ids=ids)},
                       key=signing.ensure_dev_key(Path(tmp)))
        with gw.uow_factory() as uow:
            tenant, key = create_tenant(uow, "Bench", "4601980ABC", "Bench 有限公司", "DXPENT0000458763")
            tenant_id = tenant.id
            uow.commit()
        client = create_app(gw, {"TESTING": True}).test_client()
        data = workbook(args.orders, "UP")
        started = time.perf_counter()
        r = client.post("/v1/orders/upload", headers={"Authorization": f"Bearer {key}"},
                        data={"file": (io.BytesIO(data), "orders.xlsx")}, content_type="multipart/form-data")
        upload = time.perf_counter() - started
        assert r.status_code == 200, r.get_data(as_text=True)[:500]
        data = workbook(args.orders, "CLI")
        started = time.perf_counter()
        result = submit_file(gw, tenant_id, "orders.xlsx", io.BytesIO(data))
        service = time.perf_counter() - started
        assert result.counts["accepted"] == args.orders
    lines = args.orders * 5
    print(f"{lines} lines / {args.orders} orders: upload API {upload:.1f} s ({lines / upload:.0f} lines/s), "
          f"submit_file {service:.1f} s ({lines / service:.0f} lines/s); load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
