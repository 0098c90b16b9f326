"""Command line for auditors and operators: ``gateway audit ...`` and ``gateway replay``.

    gateway audit check                       the whole chain, its head, checkpoints and stored bytes
    gateway audit checkpoint                  sign the chain head (hash, count, time) with the gateway key
    gateway audit export --order ID [--out F] an evidence bundle (or --tenant T --from D --to D)
    gateway audit verify BUNDLE.zip           offline: no database, no network, only this package
    gateway audit log --order ID              the audit records of an order, its filings and receipts
    gateway audit purge --before D --export-dir DIR   retention: export, verify, then tombstone raw bytes
    gateway audit auditor create|grant|revoke read-only API users (/v1/audit)
    gateway replay --order ID [--send-to-sandbox]     rebuild the filings and compare with what was sent

Exit codes: 0 all good, 1 a check failed or a replay differs, 2 the command could not run
(unknown order, bad option, ...). ``audit verify`` imports neither the database layer nor the
composition root, so it runs where only the package is installed.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path


def _date(option: str):
    def parse(text: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option}: {text!r} is not a date like 2026-01-31") from None
    return parse


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:   # no user name in this environment (containers): still say it was the CLI
        return "cli"


def _load_trusted(paths: list[str] | None):
    if not paths:
        return None
    from gateway.audit.checkpoint import load_certificate

    return [load_certificate(Path(p).read_bytes()) for p in paths]


def _fail(message: str) -> int:
    print(f"gateway: {message}", file=sys.stderr)
    return 2


def _print_report(report, what: str, as_json: bool, quiet: bool = False) -> None:
    if as_json:
        print(json.dumps(dict(report.as_dict(), summary=report.summary(what)), ensure_ascii=False, indent=2))
        return
    for f in report.findings:
        if not quiet or f.level != "ok":
            print(f)
    print(report.summary(what))


# ---- audit verify (offline) ----------------------------------------------------------------------

def cmd_verify(args) -> int:
    from gateway.audit.bundle import bundle_timeline, verify_bundle
    from gateway.audit.checkpoint import CheckpointInvalid

    path = Path(args.bundle)
    if not path.is_file():
        return _fail(f"audit verify: no such file {path}")
    try:
        trusted = _load_trusted(args.trust)
    except (OSError, CheckpointInvalid) as exc:
        return _fail(f"audit verify: --trust: {exc}")
    report = verify_bundle(path, trusted=trusted)
    _print_report(report, f"bundle {path.name}", args.json, args.quiet)
    if args.timeline and not args.json:
        print("\nTimeline (from the bundle's audit records):")
        for e in bundle_timeline(path):
            print(f"  {e['at']}  #{e['id']:<6} {e['action']:<20} {e['subject_type']} {e['subject_id']}  "
                  f"{_short(e['detail'])}")
    return 0 if report.ok else 1


def _short(detail) -> str:
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True) if not isinstance(detail, str) else detail
    return text if len(text) <= 140 else text[:137] + "..."


# ---- commands on the database ------------------------------------------------------------------

def _gateway():
    from gateway.bootstrap import bootstrap

    return bootstrap()


def cmd_check(args) -> int:
    from gateway.audit.checkpoint import CheckpointInvalid
    from gateway.service.audit import check_database

    try:
        trusted = _load_trusted(args.trust)
    except (OSError, CheckpointInvalid) as exc:
        return _fail(f"audit check: --trust: {exc}")
    gw = _gateway()
    report = check_database(gw.uow_factory, trusted=trusted, evidence=not args.no_evidence)
    _print_report(report, "audit check", args.json, args.quiet)
    return 0 if report.ok else 1


def cmd_checkpoint(args) -> int:
    from gateway.service.audit import AuditError, make_checkpoint

    gw = _gateway()
    try:
        cp = make_checkpoint(gw.uow_factory, gw.key, gw.clock, gw.settings.instance_dir / "audit" / "checkpoints",
                             actor=_actor())
    except AuditError as exc:
        return _fail(f"audit checkpoint: {exc}")
    print(f"checkpoint {cp.id}: {cp.count} records, head {cp.head_hash} (record {cp.last_event_id}), "
          f"signed {cp.at} by serial {gw.key.key_name}")
    return 0


def cmd_export(args) -> int:
    from gateway.service.audit import AuditError
    from gateway.service.evidence import export_order, export_tenant

    if args.order:
        if args.date_from or args.date_to:
            return _fail("audit export: give --order, or --tenant with --from and --to, not both")
        out = Path(args.out or f"evidence-{args.order}.zip")
    elif args.tenant and args.date_from and args.date_to:
        out = Path(args.out or f"evidence-{args.tenant}-{args.date_from}-{args.date_to}.zip")
    else:
        return _fail("audit export: give --order ID, or --tenant T --from DATE --to DATE")
    gw = _gateway()
    try:
        if args.order:
            r = export_order(gw.uow_factory, gw.key, gw.clock, args.order, out, tenant_id=args.tenant, actor=_actor())
        else:
            r = export_tenant(gw.uow_factory, gw.key, gw.clock, args.tenant, args.date_from, args.date_to, out,
                              actor=_actor())
    except AuditError as exc:
        return _fail(f"audit export: {exc}")
    print(f"{r.path}: {r.orders} order(s), {r.filings} filing(s), {r.receipts} receipt(s), {r.records} audit "
          f"records; sha256 {r.sha256}")
    print(f"verify it anywhere with: gateway audit verify {r.path}")
    return 0


def cmd_log(args) -> int:
    from sqlalchemy import or_, select

    from gateway.store import models as m

    gw = _gateway()
    with gw.uow_factory() as uow:
        stmt = select(m.AuditEvent).order_by(m.AuditEvent.id)
        if args.order:
            filings = [f.id for f in uow.session.scalars(select(m.Filing).where(m.Filing.order_id == args.order))]
            receipts = select(m.ReceiptEvent.receipt_id).where(m.ReceiptEvent.filing_id.in_(filings))
            receipt_ids = [str(r) for r in uow.session.scalars(receipts)]
            stmt = stmt.where(or_(
                (m.AuditEvent.subject_type == "order") & (m.AuditEvent.subject_id == args.order),
                (m.AuditEvent.subject_type == "filing") & m.AuditEvent.subject_id.in_(filings),
                (m.AuditEvent.subject_type == "receipt") & m.AuditEvent.subject_id.in_(receipt_ids)))
        elif args.tenant:
            stmt = stmt.where(m.AuditEvent.tenant_id == args.tenant)
        if args.action:
            stmt = stmt.where(m.AuditEvent.action == args.action)
        rows = list(uow.session.scalars(stmt.limit(args.limit)))
        for e in rows:
            print(f"{e.at.isoformat()}  #{e.id:<6} {e.action:<20} {e.subject_type} {e.subject_id}  {_short(e.detail)}"
                  f"  hash {e.hash[:12] if e.hash else '-'}")
    if not rows:
        print("no audit records match", file=sys.stderr)
    return 0


def cmd_purge(args) -> int:
    from gateway.service.audit import AuditError
    from gateway.service.retention import purge

    gw = _gateway()
    try:
        r = purge(gw.uow_factory, gw.key, gw.clock, before=args.before, export_dir=Path(args.export_dir),
                  retention_years=gw.settings.retention_years, dry_run=args.dry_run, actor=_actor())
    except AuditError as exc:
        return _fail(f"audit purge: {exc}")
    verb = "would purge" if args.dry_run else "purged"
    print(f"{verb} {len(r.purged)} order(s) received before {args.before}: {r.filings} filing(s), "
          f"{r.receipts} receipt(s); bundles in {args.export_dir}")
    for order_id, why in r.skipped:
        print(f"  kept {order_id}: {why}")
    return 1 if any("does not verify" in why for _, why in r.skipped) else 0


def cmd_auditor(args) -> int:
    from gateway.service import audit as svc

    gw = _gateway()
    try:
        with gw.uow_factory() as uow:
            if args.auditor_command == "create":
                auditor, key = svc.create_auditor(uow, args.name, args.tenant or [], actor=_actor())
                uow.commit()
                print(json.dumps({"auditor_id": auditor.id, "api_key": key, "tenants": args.tenant or []}))
            elif args.auditor_command == "grant":
                for t in args.tenant:
                    svc.grant(uow, args.auditor_id, t, actor=_actor())
                uow.commit()
                print(f"auditor {args.auditor_id} may read tenant(s) {', '.join(args.tenant)}")
            else:
                svc.revoke_auditor(uow, args.auditor_id, actor=_actor())
                uow.commit()
                print(f"auditor {args.auditor_id} revoked")
    except svc.AuditError as exc:
        return _fail(f"audit auditor {args.auditor_command}: {exc}")
    return 0


# ---- replay ------------------------------------------------------------------------------------

def cmd_replay(args) -> int:
    from gateway import signing
    from gateway.service.replay import ReplayError, replay_order, resend_to_sandbox

    gw = _gateway()

    def key_at(tenant_id, as_of):
        """The tenant's key in force when the order was built (key store), else the gateway key."""
        keystore = getattr(gw, "keystore", None)
        channel = getattr(gw.settings, "signing_channel", None)
        found = keystore.key_for(tenant_id, channel, at=as_of) if keystore is not None and channel else None
        return found or gw.key

    def signer_for(algorithms, key):
        current = gw.declarer.signer_for(key) if hasattr(gw.declarer, "signer_for") else gw.declarer.signer
        if current.algorithms == algorithms:
            return current                    # configured like the running gateway (SM2 options, signed input)
        return signing.XmlSigner(algorithms)

    try:
        report = replay_order(gw.uow_factory, args.order, key=key_at, tenant_id=args.tenant,
                              current_versions=lambda key: gw.declarer.built_with(key), signer_for=signer_for,
                              actor=_actor())
    except ReplayError as exc:
        return _fail(f"replay: {exc}")
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines()))
    if args.send_to_sandbox:
        from gateway.adapters.sandbox import SandboxGovernment

        adapter = gw.adapters.get("sandbox")
        if not isinstance(adapter, SandboxGovernment):
            return _fail(f"replay --send-to-sandbox: refused: the configured adapter is {gw.settings.adapter!r}, "
                         "not the sandbox; a replay is never sent to a production adapter")
        try:
            results = resend_to_sandbox(gw.uow_factory, adapter, report, actor=_actor())
        except ReplayError as exc:
            return _fail(f"replay --send-to-sandbox: {exc}")
        for r in results:
            print(f"sandbox: {r.message_id} {'accepted' if r.accepted else 'refused'}"
                  + (" (already had it)" if r.duplicate else "") + (f": {r.error}" if r.error else ""))
    return 0 if report.identical else 1


# ---- parser ------------------------------------------------------------------------------------

def register(subparsers) -> None:
    """Add ``audit`` and ``replay`` to the ``gateway`` command line."""
    a = subparsers.add_parser("audit", help="audit chain, checkpoints, evidence bundles, retention, auditors")
    asub = a.add_subparsers(dest="audit_command", required=True)

    v = asub.add_parser("verify", help="verify an evidence bundle offline (no database, no network)")
    v.add_argument("bundle")
    v.add_argument("--trust", action="append", metavar="CERT.pem",
                   help="require the signatures to come from this certificate (repeatable)")
    v.add_argument("--timeline", action="store_true", help="also print what happened when, from the bundle")
    v.add_argument("--quiet", action="store_true", help="print only warnings and failures")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_verify)

    c = asub.add_parser("check", help="verify the database: chain, head, checkpoints, stored bytes")
    c.add_argument("--trust", action="append", metavar="CERT.pem", help="checkpoints must be signed by this certificate")
    c.add_argument("--no-evidence", action="store_true", help="only the chain, not the stored bytes")
    c.add_argument("--quiet", action="store_true")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_check)

    k = asub.add_parser("checkpoint", help="sign the chain head (hash, count, time) with the gateway key")
    k.set_defaults(func=cmd_checkpoint)

    e = asub.add_parser("export", help="write an evidence bundle (zip) of one order or of a tenant's period")
    e.add_argument("--order", help="order id")
    e.add_argument("--tenant", help="tenant id (with --from/--to; with --order it only scopes the lookup)")
    e.add_argument("--from", dest="date_from", type=_date("--from"), help="first day (China time), inclusive")
    e.add_argument("--to", dest="date_to", type=_date("--to"), help="last day (China time), exclusive")
    e.add_argument("--out", help="zip file to write (default evidence-<scope>.zip)")
    e.set_defaults(func=cmd_export)

    lg = asub.add_parser("log", help="print audit records (of an order, a tenant, or all)")
    lg.add_argument("--order"), lg.add_argument("--tenant"), lg.add_argument("--action")
    lg.add_argument("--limit", type=int, default=1000)
    lg.set_defaults(func=cmd_log)

    p = asub.add_parser("purge", help="retention: export bundles, then replace raw bytes older than DATE by tombstones")
    p.add_argument("--before", required=True, type=_date("--before"), help="orders received before this day (China time)")
    p.add_argument("--export-dir", required=True, help="where the evidence bundles are written first")
    p.add_argument("--dry-run", action="store_true", help="list what would be purged")
    p.set_defaults(func=cmd_purge)

    au = asub.add_parser("auditor", help="read-only API users for /v1/audit")
    ausub = au.add_subparsers(dest="auditor_command", required=True)
    ac = ausub.add_parser("create", help="create an auditor and print its API key (shown once)")
    ac.add_argument("name"), ac.add_argument("--tenant", action="append", help="tenant it may read (repeatable)")
    ac.set_defaults(func=cmd_auditor)
    ag = ausub.add_parser("grant", help="let an auditor read more tenants")
    ag.add_argument("auditor_id"), ag.add_argument("--tenant", action="append", required=True)
    ag.set_defaults(func=cmd_auditor)
    ar = ausub.add_parser("revoke", help="revoke an auditor's key")
    ar.add_argument("auditor_id")
    ar.set_defaults(func=cmd_auditor)

    r = subparsers.add_parser("replay", help="rebuild an order's filings as they were and compare with what was sent")
    r.add_argument("--order", required=True, help="order id")
    r.add_argument("--tenant", help="tenant id (optional: scopes the lookup)")
    r.add_argument("--send-to-sandbox", action="store_true",
                   help="also send the rebuilt filings to the sandbox (refused for any other adapter)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_replay)
