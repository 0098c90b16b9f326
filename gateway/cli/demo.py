"""``gateway demo``: submit the fixture orders on the embedded defaults (sandbox government, SQLite
under instance/demo) and show their status per agency (customs, inspection, tax, FX)."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from gateway.service.tenants import add_enterprises, codes_named

from .common import OK, print_problems, settings

REPO_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "orders" / "valid"
DEMO_MORE_FIXTURES = (REPO_FIXTURES.parent / "export" / "valid", REPO_FIXTURES.parent / "general" / "valid")


def _register_enterprises(gw, tenant_id: str, paths) -> None:
    """Register for the demo tenant every enterprise code its orders name (it files for them all)."""
    codes = codes_named([path.read_text("utf-8") for path in paths], gw.clock.now())
    if codes:
        add_enterprises(gw.uow_factory, gw.clock, tenant_id, [{"code": c} for c in codes])


@click.command("demo")
@click.option("--fixtures", help="folder of order JSON files (default: the repository's valid CBEC import, "
                                 "CBEC export and general-trade fixtures)")
@click.option("--instance", help="instance folder (default ./instance; the demo uses instance/demo)")
def demo(fixtures, instance) -> int:
    """Submit the fixture orders and show their status per agency (customs, inspection, tax, FX)."""
    from gateway.bootstrap import bootstrap
    from gateway.domain.problems import OrderInvalid
    from gateway.store.tenants import create_tenant

    instance = Path(instance or "instance").resolve()
    demo_dir = instance / "demo"
    if demo_dir.exists():
        shutil.rmtree(demo_dir)        # every demo run starts from an empty database
    demo_dir.mkdir(parents=True)
    config = settings(instance_dir=demo_dir, database_url=f"sqlite:///{demo_dir}/gateway.sqlite3")
    gw = bootstrap(config)
    with gw.uow_factory() as uow:
        tenant, api_key = create_tenant(uow, "Demo one-stop provider", "4601980ABC",
                                        "海口一达供应链服务有限公司", "DXPENT0000458763")
        tenant_id = tenant.id
        uow.commit()

    # the three regimes: CBEC import, CBEC export, general trade (or one folder given with --fixtures)
    folders = [Path(fixtures)] if fixtures else [REPO_FIXTURES, *DEMO_MORE_FIXTURES]
    paths = [path for folder in folders for path in sorted(folder.glob("*.json"))]
    _register_enterprises(gw, tenant_id, paths)   # the demo tenant is the one-stop provider of them all
    submitted = []
    print(f"Submitting {len(paths)} orders from {', '.join(str(f) for f in folders)} "
          f"(database {config.database_url}) ...")
    for path in paths:
        try:
            s = gw.submit(tenant_id, path.read_bytes())
            submitted.append((path.name, s.order_id))
        except OrderInvalid as exc:
            print(f"  refused {path.name}:")
            print_problems(exc.problems, out=sys.stdout)
    rounds = gw.dispatcher.run_until_idle(max_rounds=50)
    print(f"Dispatcher: {len(rounds)} rounds, {sum(r.sent for r in rounds)} filings sent, "
          f"{sum(r.receipts for r in rounds)} receipts, {sum(r.applied for r in rounds)} applied\n")

    # one entry, four agencies: each agency's status, "released" only when every one released
    agencies = ("customs", "inspection", "tax", "fx")
    print(f"{'order':<24} {'regime':<6} {'dir':<3} {'status':<12} " + " ".join(f"{a:<12}" for a in agencies))
    print("-" * 102)
    history = []
    for _name, order_id in submitted:
        view = gw.order(tenant_id, order_id)
        cells = dict(view["agencies"])
        if view["regime"] == "0110":
            cells.setdefault("inspection", "in-DecMsg")   # general trade: CIQ data inside the declaration
        print(f"{view['order_no']:<24} {view['regime']:<6} {view['direction'][:2]:<3} {view['status']:<12} "
              + " ".join(f"{cells.get(a, '-'):<12}" for a in agencies))
        if view["status_reason"]:
            print(f"{'':<24} reason: {view['status_reason']}")
        history.append(view)

    print("\nTax of the CBEC imports (CNY): computed by the gateway, withheld by the platform, customs' tax bill")
    print(f"{'order':<24} {'computed':>10} {'withheld':>10} {'difference':>10} {'tax bill':>10}  bill = ours")
    for view in history:
        tax = view.get("tax") or {}
        if tax.get("kind") != "cbec-import":
            continue
        bill = tax.get("bill") or {}
        print(f"{view['order_no']:<24} {tax['computed']:>10} {tax['withheld']:>10} {tax['difference']:>10} "
              f"{bill.get('total', '-'):>10}  {'yes' if bill.get('matches') else '-'}")
    warned = [(v["order_no"], w) for v in history for w in (v.get("holds") or []) + (v.get("warnings") or [])
              if w["rule"] in ("cbec-single-limit", "tax-not-computed")]
    for order_no, w in warned:
        print(f"  note {order_no}: [{w['rule']}] {w['message'][:160]}")
    if history:
        # the first order every agency took part in (else the first one)
        first = next((v for v in history if {"customs", "inspection", "tax", "fx"} <= set(v["agencies"])), history[0])
        print(f"\nReceipt history of {first['order_no']}:")
        for f in first["filings"]:
            trail = " -> ".join(f"{r['status_code']}" for r in f["receipts"])
            print(f"  {f['agency']:<10} {f['message_type']}: {trail}")
        inspected = [d for d in (first.get("inspection") or {}).get("lines", []) if d.get("legal_inspection")]
        for d in inspected:
            print(f"  inspection: line {d['line']} {d['hs_code']} 监管条件 {d['regulatory_conditions']} "
                  f"categories {'.'.join(d['categories']) or '-'} requires {', '.join(d['requirements']) or '-'}")
    print(f"\nAPI key of the demo tenant (for `gateway serve` on this database): {api_key}")
    return OK


COMMANDS = (demo,)
