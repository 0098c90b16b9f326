"""Evidence bundles: exported from a real database (SQLite and PostgreSQL), verified offline —
in-process, by the CLI in a subprocess with no database, and (in CI) in a fresh virtual
environment where only the package is installed. Editing any stored byte, receipt or audit row
before the export, or any byte of the zip after it, makes the verification fail and name it."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, text

from gateway.audit.bundle import bundle_timeline, verify_bundle
from gateway.service import audit as audit_service
from gateway.service.evidence import export_order, export_tenant
from gateway.signing import ensure_dev_key
from gateway.store import models as m
from tests.helpers import ROOT, add_tenant, fixture_text, make_gateway

ORDER = "1210-single-line.json"


@pytest.fixture
def gw(tmp_path, db_url, signing_key):
    gateway, _ = make_gateway(tmp_path, db_url, signing_key)
    yield gateway
    gateway.engine.dispose()


@pytest.fixture
def sqlite_gw(tmp_path, sqlite_url, signing_key):
    """For what does not depend on the database (the zip, the offline CLI): SQLite only."""
    gateway, _ = make_gateway(tmp_path, sqlite_url, signing_key)
    yield gateway
    gateway.engine.dispose()


def submit(gw, *names, tenant=None):
    tenant = tenant or add_tenant(gw)[0]
    ids = [gw.submit(tenant, fixture_text(n)).order_id for n in names]
    gw.dispatcher.run_until_idle()
    return tenant, ids


def sql(gw, statement: str, **params):
    with gw.engine.begin() as conn:
        conn.execute(text(statement), params)


def export(gw, key, order_id, path):
    return export_order(gw.uow_factory, key, gw.clock, order_id, path).path


def fails(report) -> list[str]:
    return [str(f) for f in report.failures]


def test_an_exported_bundle_holds_the_evidence_and_verifies(gw, signing_key, tmp_path):
    tenant, (order_id,) = submit(gw, ORDER)
    audit_service.make_checkpoint(gw.uow_factory, signing_key, gw.clock)
    path = export(gw, signing_key, order_id, tmp_path / "order.zip")
    report = verify_bundle(path, trusted=[signing_key.certificate])
    assert report.ok, fails(report)
    assert not report.warnings, [str(w) for w in report.warnings]
    with gw.uow_factory() as uow:
        filings = {f.message_type: (bytes(f.signed_bytes), f.guid) for f in uow.filings.for_order(tenant, order_id)}
        raws = [bytes(r.raw) for r in uow.session.scalars(select(m.Receipt).where(m.Receipt.tenant_id == tenant))]
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
        base = f"orders/{order_id}"
        assert z.read(f"{base}/order.json").decode() == fixture_text(ORDER)              # as received
        record = json.loads(z.read(f"{base}/record.json"))
        for f in record["filings"]:
            assert z.read(f"{base}/{f['file']}") == filings[f["message_type"]][0]          # exact bytes sent
            assert f["built_with"]["standard"] and f["built_with"]["schemas"]             # versions built with
        assert record["order"]["normalized"]["app_time"]
        assert sorted(z.read(f"{base}/{r['file']}") for r in record["receipts"]) == sorted(raws)
        assert any(n.startswith("certificates/") and z.read(n).startswith(b"-----BEGIN CERTIFICATE") for n in names)
        for name, sha in manifest["files"].items():
            assert hashlib.sha256(z.read(name)).hexdigest() == sha
        assert names == set(manifest["files"]) | {"manifest.json", "manifest.sig"}
    # the slice starts at the order's first record (the tenant's own records come before it) and
    # runs to the signed checkpoint made after it
    assert manifest["chain"]["starts_at_genesis"] is False and manifest["chain"]["anchored_by_checkpoint"] == 1
    messages = " ".join(f.message for f in report.findings)
    assert "signature verifies" in messages and "schema valid" in messages and "which is in this slice" in messages
    actions = [e["action"] for e in bundle_timeline(path)]
    assert actions[0] == "order.received" and "filing.sent" in actions and "receipt.stored" in actions


def test_records_of_other_orders_and_tenants_are_reduced_to_digests(gw, signing_key, tmp_path):
    a, (order_a,) = submit(gw, ORDER)
    b, _ = add_tenant(gw, "Tenant B", cop_code="4601980XYZ")
    other = json.loads(fixture_text("9610-minimal.json"))
    submit(gw, "9610-minimal.json", tenant=b)
    gw.submit(a, fixture_text("9610-sea-australia.json"))
    gw.dispatcher.run_until_idle()
    audit_service.make_checkpoint(gw.uow_factory, signing_key, gw.clock)
    path = export(gw, signing_key, order_a, tmp_path / "a.zip")
    with zipfile.ZipFile(path) as z:
        lines = [json.loads(x) for x in z.read("audit/chain.jsonl").decode().splitlines()]
        chain_text = z.read("audit/chain.jsonl").decode()
    redacted = [x for x in lines if "action" not in x]
    assert redacted and all(set(x) == {"id", "prev_hash", "hash", "digest"} for x in redacted)
    assert b not in chain_text and other["order_no"] not in chain_text        # nothing of tenant B shows
    report = verify_bundle(path, trusted=[signing_key.certificate])
    assert report.ok, fails(report)


def test_a_tenant_period_bundle_holds_every_order_of_the_period(gw, signing_key, tmp_path):
    tenant, ids = submit(gw, ORDER, "9610-minimal.json")
    path = export_tenant(gw.uow_factory, signing_key, gw.clock, tenant, date(2026, 11, 20), date(2026, 11, 21),
                         tmp_path / "period.zip").path
    report = verify_bundle(path, trusted=[signing_key.certificate])
    assert report.ok, fails(report)
    with zipfile.ZipFile(path) as z:
        assert json.loads(z.read("manifest.json"))["orders"] == ids
    from gateway.service.audit import AuditError

    with pytest.raises(AuditError, match="no orders received from 2026-11-21"):
        export_tenant(gw.uow_factory, signing_key, gw.clock, tenant, date(2026, 11, 21), date(2026, 11, 22),
                      tmp_path / "empty.zip")


def test_database_edits_before_export_make_the_bundle_fail_and_name_them(gw, signing_key, tmp_path):
    tenant, (order_id,) = submit(gw, ORDER)
    with gw.uow_factory() as uow:
        # the inventory (no longer the last filing: the tax record follows it)
        filing = next(f for f in uow.filings.for_order(tenant, order_id) if f.message_type == "CEB621Message")
        fid, signed, sha = filing.id, bytes(filing.signed_bytes), filing.sha256
        receipt = uow.session.scalars(select(m.Receipt).where(m.Receipt.tenant_id == tenant)).first()
        rid, raw = receipt.id, bytes(receipt.raw)
        event = uow.session.scalar(select(m.AuditEvent).where(m.AuditEvent.action == "filing.state"))
        eid, detail = event.id, event.detail
    edited = signed.replace(b"<ceb:buyerName>", b"<ceb:buyerName>X", 1)     # the buyer, changed afterwards
    assert edited != signed
    base = f"orders/{order_id}"
    cases = [   # (tamper, restore, words that must appear in a failure)
        (lambda: sql(gw, "UPDATE filings SET signed_bytes = :b, sha256 = :s WHERE id = :id", b=edited,
                     s=hashlib.sha256(edited).hexdigest(), id=fid),
         lambda: sql(gw, "UPDATE filings SET signed_bytes = :b, sha256 = :s WHERE id = :id", b=signed, s=sha, id=fid),
         [f"{base}/filings/2-CEB621Message.xml", "the stored bytes were changed", "digest mismatch"]),
        (lambda: sql(gw, "UPDATE receipts SET raw = :b WHERE id = :id", b=raw + b"\n", id=rid),
         lambda: sql(gw, "UPDATE receipts SET raw = :b WHERE id = :id", b=raw, id=rid),
         [f"{base}/receipts/{rid}.xml", "the stored receipt was changed"]),
        (lambda: sql(gw, "UPDATE orders SET body = :b WHERE id = :id", b=fixture_text(ORDER).replace("1", "2", 1),
                     id=order_id),
         lambda: sql(gw, "UPDATE orders SET body = :b WHERE id = :id", b=fixture_text(ORDER), id=order_id),
         [f"{base}/order.json", "the stored order body was changed"]),
        (lambda: sql(gw, "UPDATE audit_events SET detail = :d WHERE id = :id", d=detail.replace("sent", "pending"),
                     id=eid),
         lambda: sql(gw, "UPDATE audit_events SET detail = :d WHERE id = :id", d=detail, id=eid),
         [f"record {eid}", "was changed"]),
    ]
    for n, (tamper, restore, words) in enumerate(cases):
        tamper()
        report = verify_bundle(export(gw, signing_key, order_id, tmp_path / f"t{n}.zip"),
                               trusted=[signing_key.certificate])
        text_ = "\n".join(fails(report))
        assert not report.ok and all(w in text_ for w in words), (words, text_)
        restore()
        assert verify_bundle(export(gw, signing_key, order_id, tmp_path / f"r{n}.zip"),
                             trusted=[signing_key.certificate]).ok


def _rezip(src: Path, dst: Path, change) -> None:
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    change(files)
    with zipfile.ZipFile(dst, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)


def test_edits_to_the_zip_after_export_are_found(sqlite_gw, signing_key, tmp_path):
    _, (order_id,) = submit(sqlite_gw, ORDER)
    good = export(sqlite_gw, signing_key, order_id, tmp_path / "good.zip")
    xml = f"orders/{order_id}/filings/1-CEB311Message.xml"

    def edit_file(files):
        files[xml] = files[xml].replace(b"<ceb:orderNo>", b"<ceb:orderNo>9", 1)

    def edit_file_and_manifest(files):
        edit_file(files)
        manifest = json.loads(files["manifest.json"])
        manifest["files"][xml] = hashlib.sha256(files[xml]).hexdigest()
        files["manifest.json"] = json.dumps(manifest).encode()

    def add_file(files):
        files["orders/extra.xml"] = b"<x/>"

    def drop_chain_record(files):
        lines = files["audit/chain.jsonl"].decode().splitlines()
        files["audit/chain.jsonl"] = ("\n".join(lines[:3] + lines[4:]) + "\n").encode()

    for change, words in [(edit_file, [xml, "differs from the manifest"]),
                          (edit_file_and_manifest, ["manifest.json", "signature does not verify"]),
                          (add_file, ["orders/extra.xml", "not listed in the manifest"]),
                          (drop_chain_record, ["audit/chain.jsonl", "does not link"])]:
        bad = tmp_path / f"{change.__name__}.zip"
        _rezip(good, bad, change)
        text_ = "\n".join(fails(verify_bundle(bad)))
        assert all(w in text_ for w in words), (change.__name__, text_)
    report = verify_bundle(b"not a zip at all")
    assert not report.ok and "not a readable zip" in fails(report)[0]


def test_trusted_certificates_are_enforced(sqlite_gw, signing_key, tmp_path):
    _, (order_id,) = submit(sqlite_gw, "9610-minimal.json")
    path = export(sqlite_gw, signing_key, order_id, tmp_path / "b.zip")
    assert verify_bundle(path, trusted=[signing_key.certificate]).ok
    stranger = ensure_dev_key(tmp_path / "stranger", common_name="Someone else")
    report = verify_bundle(path, trusted=[stranger.certificate])
    assert not report.ok and any("not trusted" in f.message or "not a trusted" in f.message for f in report.failures)


# ---- the CLI, offline ---------------------------------------------------------------------------------

def _offline_env(tmp_path: Path) -> tuple[dict, Path, Path]:
    instance = tmp_path / "empty-instance"
    instance.mkdir()
    missing_db = tmp_path / "no-such-dir" / "gateway.sqlite3"
    env = dict(os.environ, GATEWAY_DATABASE_URL=f"sqlite:///{missing_db}", GATEWAY_INSTANCE_DIR=str(instance),
               PYTHONPATH=str(ROOT))
    return env, instance, missing_db


def test_cli_verifies_a_bundle_without_any_database(sqlite_gw, signing_key, tmp_path):
    _, (order_id,) = submit(sqlite_gw, ORDER)
    path = export(sqlite_gw, signing_key, order_id, tmp_path / "b.zip")
    env, instance, missing_db = _offline_env(tmp_path)
    cert = tmp_path / "gateway.pem"
    cert.write_bytes(signing_key.certificate.public_bytes(serialization.Encoding.PEM))
    probe = ("import sys, runpy; sys.argv = ['gateway', 'audit', 'verify', sys.argv[1], '--timeline', "
             "'--trust', sys.argv[2]]\n"
             "from gateway.cli import main\n"
             "rc = main(sys.argv[1:])\n"
             "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic', 'psycopg') "
             "or m in ('gateway.store', 'gateway.bootstrap'))\n"
             "print('IMPORTED', leaked)\n"
             "sys.exit(rc)\n")
    ok = subprocess.run([sys.executable, "-c", probe, str(path), str(cert)], env=env, capture_output=True, text=True,
                        cwd=tmp_path, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "bundle b.zip passed" in ok.stdout and "IMPORTED []" in ok.stdout
    assert "order.received" in ok.stdout                                       # the timeline
    assert not missing_db.exists() and not missing_db.parent.exists() and list(instance.iterdir()) == []
    # a tampered bundle: exit 1 and the failure printed
    bad = tmp_path / "bad.zip"
    _rezip(path, bad, lambda files: files.__setitem__(f"orders/{order_id}/order.json", b"{}"))
    failed = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", "verify", str(bad), "--quiet"], env=env,
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert failed.returncode == 1
    assert f"FAIL orders/{order_id}/order.json: sha256" in failed.stdout and "FAILED" in failed.stdout
    assert not missing_db.exists()


def test_cli_export_check_and_checkpoint_on_the_configured_database(gw, tmp_path, db_url, capsys, monkeypatch):
    from gateway.cli import main

    tenant, (order_id,) = submit(gw, ORDER)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", db_url)
    monkeypatch.setenv("GATEWAY_INSTANCE_DIR", str(tmp_path / "instance"))    # where make_gateway put its keys
    assert main(["audit", "checkpoint"]) == 0
    assert (tmp_path / "instance" / "audit" / "checkpoints" / "checkpoint-000001.json").is_file()
    assert main(["audit", "check"]) == 0
    out = tmp_path / "cli.zip"
    assert main(["audit", "export", "--order", order_id, "--out", str(out)]) == 0
    assert main(["audit", "verify", str(out), "--quiet"]) == 1          # no trust anchor given
    first = capsys.readouterr().out
    assert "signature valid, signer NOT trusted" in first and "audit check passed" in first
    assert main(["audit", "verify", str(out), "--quiet", "--allow-untrusted"]) == 0
    assert main(["audit", "export", "--order", "NO-SUCH-ORDER", "--out", str(tmp_path / "x.zip")]) == 2
    assert main(["audit", "log", "--order", order_id]) == 0
    printed = capsys.readouterr()
    assert "order.received" in printed.out
    assert "no order NO-SUCH-ORDER" in printed.err
    # retention: inside the policy refused; a dry run far back finds nothing
    assert main(["audit", "purge", "--before", "2026-01-01", "--export-dir", str(tmp_path / "p")]) == 2
    assert "inside the retention period of 5 years" in capsys.readouterr().err
    assert main(["audit", "purge", "--before", "2020-01-01", "--export-dir", str(tmp_path / "p"), "--dry-run"]) == 0
    assert "would purge 0 order(s)" in capsys.readouterr().out
    # auditors
    assert main(["audit", "auditor", "create", "Audit firm", "--tenant", tenant]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["api_key"].startswith("gwa_") and created["tenants"] == [tenant]
    assert main(["audit", "auditor", "grant", created["auditor_id"], "--tenant", "NO-SUCH-TENANT"]) == 2
    assert "no tenant NO-SUCH-TENANT" in capsys.readouterr().err
    # an edit in the database: the check fails and names it
    sql(gw, "UPDATE orders SET body = '{}' WHERE id = :id", id=order_id)
    assert main(["audit", "check", "--quiet"]) == 1
    assert f"FAIL order {order_id}: body changed" in capsys.readouterr().out


@pytest.mark.skipif(os.environ.get("CI", "").lower() != "true",
                    reason="builds a fresh virtual environment (slow): runs in CI (CI=true)")
def test_a_bundle_verifies_in_a_fresh_virtual_environment(tmp_path, sqlite_url, signing_key):
    """A new virtual environment holding the package as setuptools builds it from this repository
    (pyproject's package and package-data rules, nothing else of the tree) plus the third-party
    libraries; no database, the repository not on the path, run from an empty folder."""
    gw, _ = make_gateway(tmp_path, sqlite_url, signing_key)
    _, (order_id,) = submit(gw, ORDER)
    bundle = export(gw, signing_key, order_id, tmp_path / "bundle.zip")
    gw.engine.dispose()
    # build the package's files in a copy of the source (the repository stays untouched)
    src = tmp_path / "src"
    shutil.copytree(ROOT / "gateway", src / "gateway", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", src / "pyproject.toml")
    built = tmp_path / "built"
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
                    "--build-lib", str(built)], cwd=src, check=True, timeout=300, capture_output=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    shutil.copytree(built / "gateway", purelib / "gateway")
    # the third-party libraries of the project's environment (a directory added by a .pth is not a
    # site directory: its own .pth files, the project's editable install among them, are not run)
    deps = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (purelib / "project-deps.pth").write_text(deps + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "GATEWAY_"))}
    env.update(GATEWAY_DATABASE_URL=f"sqlite:///{tmp_path / 'none' / 'gateway.sqlite3'}",
               GATEWAY_INSTANCE_DIR=str(elsewhere))
    where = subprocess.run([str(py), "-c", "import gateway; print(gateway.__file__)"], capture_output=True, text=True,
                           env=env, cwd=elsewhere, check=True).stdout
    assert where.startswith(str(purelib)), where
    result = subprocess.run([str(py), "-m", "gateway.cli", "audit", "verify", str(bundle), "--allow-untrusted"],
                            capture_output=True,
                            text=True, env=env, cwd=elsewhere, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout and not (tmp_path / "none").exists() and list(elsewhere.iterdir()) == []
