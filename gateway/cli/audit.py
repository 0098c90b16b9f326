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

import getpass
import json
import sys
from pathlib import Path

import click

from .common import BAD_INPUT, DATE, FAILED, OK, fail, settings


@click.group("audit")
def audit() -> None:
    """Audit chain, checkpoints, evidence bundles, retention, auditors."""


def _actor() -> str:
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
    return fail(BAD_INPUT, message)


def _print_report(report, what: str, as_json: bool, quiet: bool = False) -> None:
    if as_json:
        print(json.dumps(dict(report.as_dict(), summary=report.summary(what)), ensure_ascii=False, indent=2))
        return
    for f in report.findings:
        if not quiet or f.level != "ok":
            print(f)
    print(report.summary(what))


# ---- audit verify (offline) ----------------------------------------------------------------------

_json = click.option("--json", "as_json", is_flag=True)
_quiet = click.option("--quiet", is_flag=True, help="print only warnings and failures")


@audit.command("verify")
@click.argument("bundle")
@click.option("--trust", multiple=True, metavar="CERT.pem",
              help="require the signatures to come from this certificate (repeatable)")
@click.option("--allow-untrusted", is_flag=True,
              help="without --trust: report 'signer NOT trusted' as a warning, not a failure")
@click.option("--timeline", is_flag=True, help="also print what happened when, from the bundle")
@_quiet
@_json
def verify(bundle, trust, allow_untrusted, timeline, quiet, as_json) -> int:
    """Verify an evidence bundle offline (no database, no network)."""
    from gateway.audit.bundle import InputRefused, bundle_timeline, verify_bundle
    from gateway.audit.checkpoint import CheckpointInvalid

    path = Path(bundle)
    if not path.is_file():
        return _fail(f"audit verify: no such file {path}")
    try:
        trusted = _load_trusted(list(trust))
    except (OSError, CheckpointInvalid) as exc:
        return _fail(f"audit verify: --trust: {exc}")
    report = verify_bundle(path, trusted=trusted, allow_untrusted=allow_untrusted)
    _print_report(report, f"bundle {path.name}", as_json, quiet)
    if timeline and not as_json:
        print("\nTimeline (from the bundle's audit records):")
        try:
            events = bundle_timeline(path)
        except InputRefused as exc:
            return _fail(f"audit verify: --timeline: {exc}")
        for e in events:
            print(f"  {e['at']}  #{e['id']:<6} {e['action']:<20} {e['subject_type']} {e['subject_id']}  "
                  f"{_short(e['detail'])}")
    return OK if report.ok else FAILED


def _short(detail) -> str:
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True) if not isinstance(detail, str) else detail
    return text if len(text) <= 140 else text[:137] + "..."


# ---- commands on the database ------------------------------------------------------------------

def _gateway(read_only: bool = False):
    from gateway.bootstrap import bootstrap

    return bootstrap(settings(), read_only=read_only)


@audit.command("check")
@click.option("--trust", multiple=True, metavar="CERT.pem", help="checkpoints must be signed by this certificate")
@click.option("--no-evidence", is_flag=True, help="only the chain, not the stored bytes")
@_quiet
@_json
def check(trust, no_evidence, quiet, as_json) -> int:
    """Verify the database: chain, head, checkpoints, stored bytes."""
    from gateway.audit.checkpoint import CheckpointInvalid
    from gateway.service.audit import check_database

    try:
        trusted = _load_trusted(list(trust))
    except (OSError, CheckpointInvalid) as exc:
        return _fail(f"audit check: --trust: {exc}")
    gw = _gateway(read_only=True)
    report = check_database(gw.uow_factory, trusted=trusted, evidence=not no_evidence)
    _print_report(report, "audit check", as_json, quiet)
    return OK if report.ok else FAILED


@audit.command("checkpoint")
def checkpoint() -> int:
    """Sign the chain head (hash, count, time) with the gateway key."""
    from gateway.service.audit import AuditError, make_checkpoint

    gw = _gateway()
    try:
        cp = make_checkpoint(gw.uow_factory, gw.key, gw.clock, gw.settings.instance_dir / "audit" / "checkpoints",
                             actor=_actor())
    except AuditError as exc:
        return _fail(f"audit checkpoint: {exc}")
    print(f"checkpoint {cp.id}: {cp.count} records, head {cp.head_hash} (record {cp.last_event_id}), "
          f"signed {cp.at} by serial {gw.key.key_name}")
    return OK


@audit.command("export")
@click.option("--order", help="order id")
@click.option("--tenant", help="tenant id (with --from/--to; with --order it only scopes the lookup)")
@click.option("--from", "date_from", type=DATE, help="first day (China time), inclusive")
@click.option("--to", "date_to", type=DATE, help="last day (China time), exclusive")
@click.option("--out", help="zip file to write (default evidence-<scope>.zip)")
def export(order, tenant, date_from, date_to, out) -> int:
    """Write an evidence bundle (zip) of one order or of a tenant's period."""
    from gateway.service.audit import AuditError
    from gateway.service.evidence import export_order, export_tenant

    if order:
        if date_from or date_to:
            return _fail("audit export: give --order, or --tenant with --from and --to, not both")
        target = Path(out or f"evidence-{order}.zip")
    elif tenant and date_from and date_to:
        target = Path(out or f"evidence-{tenant}-{date_from}-{date_to}.zip")
    else:
        return _fail("audit export: give --order ID, or --tenant T --from DATE --to DATE")
    gw = _gateway()
    try:
        if order:
            r = export_order(gw.uow_factory, gw.key, gw.clock, order, target, tenant_id=tenant, actor=_actor())
        else:
            r = export_tenant(gw.uow_factory, gw.key, gw.clock, tenant, date_from, date_to, target,
                              actor=_actor())
    except AuditError as exc:
        return _fail(f"audit export: {exc}")
    print(f"{r.path}: {r.orders} order(s), {r.filings} filing(s), {r.receipts} receipt(s), {r.records} audit "
          f"records; sha256 {r.sha256}")
    print(f"verify it anywhere with: gateway audit verify {r.path}")
    return OK


@audit.command("log")
@click.option("--order")
@click.option("--tenant")
@click.option("--action")
@click.option("--limit", type=int, default=1000, show_default=True)
def log(order, tenant, action, limit) -> int:
    """Print audit records (of an order, a tenant, or all)."""
    from sqlalchemy import or_, select

    from gateway.store import models as m

    gw = _gateway(read_only=True)
    with gw.uow_factory() as uow:
        stmt = select(m.AuditEvent).order_by(m.AuditEvent.id)
        if order:
            filings = [f.id for f in uow.session.scalars(select(m.Filing).where(m.Filing.order_id == order))]
            receipts = select(m.ReceiptEvent.receipt_id).where(m.ReceiptEvent.filing_id.in_(filings))
            receipt_ids = [str(r) for r in uow.session.scalars(receipts)]
            stmt = stmt.where(or_(
                (m.AuditEvent.subject_type == "order") & (m.AuditEvent.subject_id == order),
                (m.AuditEvent.subject_type == "filing") & m.AuditEvent.subject_id.in_(filings),
                (m.AuditEvent.subject_type == "receipt") & m.AuditEvent.subject_id.in_(receipt_ids)))
        elif tenant:
            stmt = stmt.where(m.AuditEvent.tenant_id == tenant)
        if action:
            stmt = stmt.where(m.AuditEvent.action == action)
        rows = list(uow.session.scalars(stmt.limit(limit)))
        for e in rows:
            print(f"{e.at.isoformat()}  #{e.id:<6} {e.action:<20} {e.subject_type} {e.subject_id}  {_short(e.detail)}"
                  f"  hash {e.hash[:12] if e.hash else '-'}")
    if not rows:
        print("no audit records match", file=sys.stderr)
    return OK


@audit.command("purge")
@click.option("--before", required=True, type=DATE, help="orders received before this day (China time)")
@click.option("--export-dir", required=True, help="where the evidence bundles are written first")
@click.option("--dry-run", is_flag=True, help="list what would be purged")
def purge(before, export_dir, dry_run) -> int:
    """Retention: export bundles, then replace raw bytes older than DATE by tombstones."""
    from gateway.service.audit import AuditError
    from gateway.service.retention import purge as purge_before

    gw = _gateway()
    try:
        r = purge_before(gw.uow_factory, gw.key, gw.clock, before=before, export_dir=Path(export_dir),
                  retention_years=gw.settings.retention_years, dry_run=dry_run, actor=_actor())
    except AuditError as exc:
        return _fail(f"audit purge: {exc}")
    verb = "would purge" if dry_run else "purged"
    print(f"{verb} {len(r.purged)} order(s) received before {before}: {r.filings} filing(s), "
          f"{r.receipts} receipt(s); bundles in {export_dir}")
    for order_id, why in r.skipped:
        print(f"  kept {order_id}: {why}")
    return FAILED if any("does not verify" in why for _, why in r.skipped) else 0


@audit.group("auditor")
def auditor() -> None:
    """Read-only API users for /v1/audit."""


@auditor.command("create")
@click.argument("name")
@click.option("--tenant", multiple=True, help="tenant it may read (repeatable)")
def auditor_create(name, tenant) -> int:
    """Create an auditor and print its API key (shown once)."""
    return _auditor("create", name=name, tenants=list(tenant))


@auditor.command("grant")
@click.argument("auditor_id")
@click.option("--tenant", multiple=True, required=True, help="tenant it may read (repeatable)")
def auditor_grant(auditor_id, tenant) -> int:
    """Let an auditor read more tenants."""
    return _auditor("grant", auditor_id=auditor_id, tenants=list(tenant))


@auditor.command("revoke")
@click.argument("auditor_id")
def auditor_revoke(auditor_id) -> int:
    """Revoke an auditor's key."""
    return _auditor("revoke", auditor_id=auditor_id)


def _auditor(command: str, name: str = "", auditor_id: str = "", tenants: list[str] | None = None) -> int:
    from gateway.service import audit as svc

    tenants = tenants or []

    gw = _gateway()
    try:
        with gw.uow_factory() as uow:
            if command == "create":
                created, key = svc.create_auditor(uow, name, tenants, actor=_actor())
                uow.commit()
                print(json.dumps({"auditor_id": created.id, "api_key": key, "tenants": tenants}))
            elif command == "grant":
                for t in tenants:
                    svc.grant(uow, auditor_id, t, actor=_actor())
                uow.commit()
                print(f"auditor {auditor_id} may read tenant(s) {', '.join(tenants)}")
            else:
                svc.revoke_auditor(uow, auditor_id, actor=_actor())
                uow.commit()
                print(f"auditor {auditor_id} revoked")
    except svc.AuditError as exc:
        return _fail(f"audit auditor {command}: {exc}")
    return OK


# ---- replay ------------------------------------------------------------------------------------

@click.command("replay")
@click.option("--order", required=True, help="order id")
@click.option("--tenant", help="tenant id (optional: scopes the lookup)")
@click.option("--send-to-sandbox", is_flag=True,
              help="also send the rebuilt filings to the sandbox (refused for any other adapter)")
@_json
def replay(order, tenant, send_to_sandbox, as_json) -> int:
    """Rebuild an order's filings as they were and compare with what was sent."""
    from gateway import signing
    from gateway.service.replay import ReplayError, replay_order, resend_to_sandbox

    gw = _gateway()

    def signer_for(algorithms, key):
        current = gw.declarer.signer_for(key) if hasattr(gw.declarer, "signer_for") else gw.declarer.signer
        if current.algorithms == algorithms:
            return current                    # configured like the running gateway (SM2 options, signed input)
        return signing.XmlSigner(algorithms)

    try:
        report = replay_order(gw.uow_factory, order, key=gw.key_for, tenant_id=tenant,
                              current_versions=lambda key: gw.declarer.built_with(key),  # type: ignore[arg-type]  # takes a callable too
                              signer_for=signer_for,
                              actor=_actor())
    except ReplayError as exc:
        return _fail(f"replay: {exc}")
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(report.lines()))
    if send_to_sandbox:
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
    return OK if report.identical else FAILED


COMMANDS = (audit, replay)
