"""Command line: gateway demo | declare | verify | serve | tenant."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

REPO_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "orders" / "valid"
DEMO_MORE_FIXTURES = (REPO_FIXTURES.parent / "export" / "valid", REPO_FIXTURES.parent / "general" / "valid")


def _print_problems(problems, out=sys.stderr) -> None:
    for p in problems:
        print(f"  {p.path}: [{p.rule}] {p.message}", file=out)


# ---- declare ------------------------------------------------------------------------------------
def cmd_declare(args) -> int:
    from datetime import datetime, timedelta, timezone

    from gateway import signing
    from gateway.declarations.common import Transfer
    from gateway.domain.parse import parse_order as parse_any
    from gateway.domain.problems import OrderInvalid
    from gateway.ports import UuidGenerator
    from gateway.service.declare import Declarer, FilingInvalid, new_cop_no

    try:
        text = Path(args.order).read_text("utf-8")
    except OSError as exc:
        print(f"gateway declare: cannot read {args.order}: {exc.strerror}", file=sys.stderr)
        return 2
    now = datetime.now(timezone(timedelta(hours=8)))
    try:
        order = parse_any(text, on=now)
    except OrderInvalid as exc:
        print(f"gateway declare: {args.order} is not a valid order ({len(exc.problems)} problems):", file=sys.stderr)
        _print_problems(exc.problems)
        return 2
    instance = Path(args.instance or os.environ.get("GATEWAY_INSTANCE_DIR", "instance"))
    if args.key:
        key = signing.load_key_material(Path(args.key), Path(args.cert))
    else:
        key = signing.ensure_dev_key(instance, key_type=signing.by_name(args.signature).key_type)
    ids = UuidGenerator()
    declarer = Declarer(signing.XmlSigner(signing.by_name(args.signature)), ids)
    transfer = Transfer(cop_code=args.cop_code or order.declarant.code,
                        cop_name=args.cop_name or order.declarant.name, dxp_id=args.dxp_id)
    try:
        # customs' filings by default; --agencies adds the inspection, tax and FX records (no database
        # here: the buyer's CBEC annual amount is taken as 0)
        built = declarer.declare(order, transfer=transfer, key=key,
                                 app_time=now, cop_no=new_cop_no(ids.new_guid()), agencies=args.agencies)
    except OrderInvalid as exc:
        print(f"gateway declare: {args.order} is refused ({len(exc.problems)} problems):", file=sys.stderr)
        _print_problems(exc.problems)
        return 2
    except FilingInvalid as exc:
        print("gateway declare: the filings could not be built:", file=sys.stderr)
        _print_problems(exc.problems)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for b in built:
        path = out / f"{b.message_type}.xml"
        tmp = path.with_suffix(".xml.tmp")
        tmp.write_bytes(b.signed_bytes)
        tmp.replace(path)
        print(f"{path}  guid {b.guid}  sha256 {b.sha256[:16]}…")
    return 0


# ---- verify -------------------------------------------------------------------------------------
def cmd_verify(args) -> int:
    from lxml import etree

    from gateway import schemas, signing
    from gateway.signing.verifier import parse_hardened

    failed = 0
    for name in args.files:
        try:
            data = Path(name).read_bytes()
            verified = signing.verify(data)
            problems = schemas.validate(parse_hardened(data))
            if problems:
                raise ValueError("schema: " + "; ".join(problems[:5]))
            if args.xmlsec1:
                ok, reason = signing.xmlsec1_verify(data)
                if not ok:
                    raise ValueError(f"xmlsec1: {reason}")
        except (OSError, etree.XMLSyntaxError, signing.SigningError, ValueError) as exc:
            failed += 1
            print(f"FAIL {name}: {exc}")
            continue
        root = etree.QName(verified.root).localname
        print(f"OK   {name}: {root} valid, signature verifies "
              f"({verified.algorithms.signature_method.rsplit('#', 1)[-1]}, certificate serial {verified.key_name})")
    return 1 if failed else 0


# ---- demo ---------------------------------------------------------------------------------------
def cmd_demo(args) -> int:
    from gateway.bootstrap import bootstrap
    from gateway.config import Settings
    from gateway.domain.problems import OrderInvalid
    from gateway.store.tenants import create_tenant

    instance = Path(args.instance or "instance").resolve()
    demo_dir = instance / "demo"
    if demo_dir.exists():
        shutil.rmtree(demo_dir)        # every demo run starts from an empty database
    demo_dir.mkdir(parents=True)
    settings = Settings.from_env(instance_dir=demo_dir, database_url=f"sqlite:///{demo_dir}/gateway.sqlite3")
    gw = bootstrap(settings)
    with gw.uow_factory() as uow:
        tenant, api_key = create_tenant(uow, "Demo one-stop provider", "4601980ABC",
                                        "海口一达供应链服务有限公司", "DXPENT0000458763")
        tenant_id = tenant.id
        uow.commit()

    # the three regimes: CBEC import, CBEC export, general trade (or one folder given with --fixtures)
    folders = [Path(args.fixtures)] if args.fixtures else [REPO_FIXTURES, *DEMO_MORE_FIXTURES]
    fixtures = [path for folder in folders for path in sorted(folder.glob("*.json"))]
    submitted = []
    print(f"Submitting {len(fixtures)} orders from {', '.join(str(f) for f in folders)} "
          f"(database {settings.database_url}) ...")
    for path in fixtures:
        try:
            s = gw.submit(tenant_id, path.read_bytes())
            submitted.append((path.name, s.order_id))
        except OrderInvalid as exc:
            print(f"  refused {path.name}:")
            _print_problems(exc.problems, out=sys.stdout)
    rounds = gw.dispatcher.run_until_idle(max_rounds=50)
    print(f"Dispatcher: {len(rounds)} rounds, {sum(r.sent for r in rounds)} filings sent, "
          f"{sum(r.receipts for r in rounds)} receipts, {sum(r.applied for r in rounds)} applied\n")

    # one entry, four agencies: each agency's status, "released" only when every one released
    agencies = ("customs", "inspection", "tax", "fx")
    print(f"{'order':<24} {'regime':<6} {'dir':<3} {'status':<12} " + " ".join(f"{a:<12}" for a in agencies))
    print("-" * 102)
    history = []
    for name, order_id in submitted:
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
    warned = [(v["order_no"], w) for v in history for w in v.get("warnings") or []
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
    return 0


# ---- serve --------------------------------------------------------------------------------------
def cmd_serve(args) -> int:
    from gateway.api import create_app
    from gateway.bootstrap import bootstrap

    gw = bootstrap()
    app = create_app(gw)
    stop = threading.Event()

    def dispatch_forever():
        while not stop.is_set():
            try:
                gw.dispatcher.run_once()
            except Exception:  # keep dispatching; the error is logged
                app.logger.exception("dispatcher round failed")
            stop.wait(args.interval)

    if not args.no_dispatch:
        threading.Thread(target=dispatch_forever, name="dispatcher", daemon=True).start()
    try:
        app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    finally:
        stop.set()
    return 0


# ---- tenant -------------------------------------------------------------------------------------
def cmd_tenant_create(args) -> int:
    from gateway.bootstrap import bootstrap
    from gateway.store.tenants import create_tenant

    gw = bootstrap()
    with gw.uow_factory() as uow:
        tenant, key = create_tenant(uow, args.name, args.cop_code, args.cop_name, args.dxp_id)
        uow.commit()
        print(json.dumps({"tenant_id": tenant.id, "api_key": key}, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway", description="Single-window customs gateway")
    sub = p.add_subparsers(dest="command", required=True)
    from gateway import cli_audit  # audit ..., replay (docs/audit.md)
    cli_audit.register(sub)

    d = sub.add_parser("demo", help="submit the fixture orders on the embedded defaults and show their status "
                                    "per agency (customs, inspection, tax, FX)")
    d.add_argument("--fixtures", help="folder of order JSON files (default: the repository's valid CBEC import, "
                                      "CBEC export and general-trade fixtures)")
    d.add_argument("--instance", help="instance folder (default ./instance; the demo uses instance/demo)")
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("declare", help="build and sign the filings of one order into a folder")
    c.add_argument("order")
    c.add_argument("--out", required=True)
    c.add_argument("--instance", help="where the development key lives (default ./instance)")
    c.add_argument("--key"), c.add_argument("--cert")
    c.add_argument("--signature", default="rsa-sha256", choices=list(__import__("gateway.signing", fromlist=["NAMES"]).NAMES))
    c.add_argument("--cop-code"), c.add_argument("--cop-name")
    c.add_argument("--dxp-id", default=os.environ.get("GATEWAY_DXP_ID", "DXPENT0000000000"),
                   help="BaseTransfer/dxpId of the transmitting enterprise (env GATEWAY_DXP_ID)")
    c.add_argument("--agencies", action="store_true",
                   help="also write the inspection, tax and FX records (docs/tax-fx.md; annual amount used: 0)")
    c.set_defaults(func=cmd_declare)

    v = sub.add_parser("verify", help="check signed messages: schema and signature")
    v.add_argument("files", nargs="+")
    v.add_argument("--xmlsec1", action="store_true", help="also verify with the independent xmlsec1")
    v.set_defaults(func=cmd_verify)

    s = sub.add_parser("serve", help="run the HTTP API with the in-process dispatcher")
    s.add_argument("--host", default="127.0.0.1"), s.add_argument("--port", type=int, default=8080)
    s.add_argument("--interval", type=float, default=1.0, help="seconds between dispatcher rounds")
    s.add_argument("--no-dispatch", action="store_true")
    s.set_defaults(func=cmd_serve)

    t = sub.add_parser("tenant", help="manage tenants")
    tsub = t.add_subparsers(dest="tenant_command", required=True)
    tc = tsub.add_parser("create", help="create a tenant and print its API key (shown once)")
    tc.add_argument("name"), tc.add_argument("--cop-code", required=True)
    tc.add_argument("--cop-name", required=True), tc.add_argument("--dxp-id", required=True)
    tc.set_defaults(func=cmd_tenant_create)

    __import__("gateway.cli_sandbox", fromlist=["register"]).register(sub)   # gateway sandbox serve
    __import__("gateway.cli_keys", fromlist=["register"]).register(sub)   # gateway keys import|list|rotate
    __import__("gateway.cli_dispatch", fromlist=["register"]).register(sub)   # gateway dispatch|receipts
    __import__("gateway.cli_reference", fromlist=["register"]).register(sub)   # gateway reference|tax|fx
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
