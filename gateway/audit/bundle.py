"""Evidence bundles: one zip that proves what was sent, when, signed by whom, what each agency
answered, and that none of it changed afterwards; and its offline verifier.

Layout (every path below is listed in manifest.json with its sha256):

    manifest.json                      scope, orders, chain slice, signer, files -> sha256
    manifest.sig                       detached signature of manifest.json by the gateway's key
    tenant.json                        the tenant (transmitting enterprise) as stored
    orders/<order id>/order.json       the order body exactly as received
    orders/<order id>/record.json      the stored rows: order (status, cop_no, normalized: app time
                                       and versions), filings (guid, sha256, built_with, state),
                                       receipts (sha256, adapter, cursor, outcome, events)
    orders/<order id>/filings/<n>-<MessageType>.xml   the exact signed bytes sent
    orders/<order id>/receipts/<receipt id>.xml       every raw receipt, exactly as received
    certificates/<serial>.pem          every signing certificate (filings, checkpoints, manifest)
    audit/chain.jsonl                  the audit chain from the first to the last record about
                                       these subjects (extended to the next signed checkpoint);
                                       records about anything else are reduced to their digest
    audit/checkpoints.json             the signed chain heads that fall inside the slice

``verify_bundle`` needs only this package (no database, no network): file hashes, the manifest
signature, the chain (every hash recomputed, every link followed), checkpoints, each filing's
sha256 against the chain's ``filing.signed`` record, its XML signature (gateway.signing.verify)
and schema (gateway.schemas.validate), each receipt's sha256 against ``receipt.stored``, the order
body against ``order.received``. It reports every failure, naming the file or record.
"""
from __future__ import annotations

import json
import zipfile
from datetime import datetime
from pathlib import Path, PurePosixPath

from gateway.signing.anchor import untrusted_signer

from .bounded import DEFAULT_LIMITS, BoundedZip, InputRefused, ZipLimits
from .bundle_checks import CHAIN_FILE, CHECKPOINTS_FILE, sha256_hex, verify_chain, verify_checkpoints, verify_order
from .chain import format_at
from .checkpoint import (
    SIGNATURE_ALGORITHM,
    CheckpointInvalid,
    certificate_pem,
    load_certificate,
    sign_detached,
    verify_detached,
)
from .report import Finding, Report

BUNDLE_FORMAT = "gateway-evidence/1"
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"

__all__ = ["BundleWriter", "BundleReport", "Finding", "Report", "verify_bundle", "bundle_timeline", "BUNDLE_FORMAT",
           "CHAIN_FILE", "CHECKPOINTS_FILE", "ZipLimits", "InputRefused"]


# ---- writing ------------------------------------------------------------------------------------

class BundleWriter:
    """Collects files, then writes the zip with its manifest and signature. Entries are written
    in sorted order with one fixed timestamp, so the same content gives the same zip."""

    def __init__(self, created_at: datetime):
        self.created_at = created_at
        self.files: dict[str, bytes] = {}

    def add(self, path: str, data: bytes | str) -> str:
        _check_name(path)
        if path in self.files or path in (MANIFEST, MANIFEST_SIG):
            raise ValueError(f"bundle: {path} added twice")
        self.files[path] = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        return path

    def add_json(self, path: str, value) -> str:
        return self.add(path, json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2) + "\n")

    def add_certificate(self, certificate) -> str:
        path = f"certificates/{format(certificate.serial_number, 'x')}.pem"
        if path not in self.files:
            self.add(path, certificate_pem(certificate))
        return path

    def write(self, target, manifest: dict, key) -> dict:
        """Write the zip to ``target`` (a path or a binary file object); returns the manifest."""
        signer_cert = self.add_certificate(key.certificate)
        manifest = dict(manifest, format=BUNDLE_FORMAT, created_at=format_at(self.created_at),
                        signer={"certificate": signer_cert, "key_name": format(key.certificate.serial_number, "x"),
                                "algorithm": SIGNATURE_ALGORITHM},
                        files={p: sha256_hex(d) for p, d in sorted(self.files.items())})
        manifest_bytes = (json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8")
        signature = json.dumps({"algorithm": SIGNATURE_ALGORITHM, "certificate": signer_cert,
                                "signature": sign_detached(manifest_bytes, key)}, indent=2) + "\n"
        stamp = self.created_at.timetuple()[:6]
        entries = [(MANIFEST, manifest_bytes), (MANIFEST_SIG, signature.encode("ascii"))] + sorted(self.files.items())
        own = isinstance(target, (str, Path))
        out = open(target, "wb") if own else target
        try:
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
                for name, data in entries:
                    info = zipfile.ZipInfo(name, date_time=max(stamp, (1980, 1, 1, 0, 0, 0)))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    z.writestr(info, data)
        finally:
            if own:
                out.close()
        return manifest


def _check_name(path: str) -> None:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or "\\" in path or not path or path.endswith("/"):
        raise ValueError(f"bundle: bad file name {path!r}")


# ---- verifying ----------------------------------------------------------------------------------

BundleReport = Report


class _Bundle:
    """The zip, read through ``BoundedZip``: every entry at most once into memory, within the limits."""

    def __init__(self, z: BoundedZip, report: BundleReport):
        self.z = z
        self.report = report
        names = z.names
        counts: dict[str, int] = {}
        for n in names:
            counts[n] = counts.get(n, 0) + 1
        for n in sorted(n for n, c in counts.items() if c > 1):
            report.add("fail", n, "appears more than once in the zip (which copy is the evidence?)")
        self.names = set(names)

    def read(self, name: str) -> bytes | None:
        if name not in self.names:
            return None
        try:
            return self.z.read(name)
        except InputRefused as exc:
            self.report.add("fail", name, str(exc))
            return None


def verify_bundle(source, *, trusted: list | None = None, allow_untrusted: bool = False,
                  limits: ZipLimits = DEFAULT_LIMITS) -> BundleReport:
    """Verify an evidence bundle (a path, bytes, or a binary file object) offline.

    ``trusted``: certificates (cryptography x509) the signatures must come from. Without it the
    check proves only that the bundle is intact and consistently signed by the certificates it
    carries (anyone can re-sign a tampered bundle): the report then FAILS with "signature valid,
    signer NOT trusted" unless ``allow_untrusted`` (a warning then). ``limits``: what a bundle may hold
    (``gateway.audit.bounded``); a bundle beyond them, or malformed in any way, is one failure with a
    one-line reason — never an exception."""
    report = BundleReport()
    where = str(getattr(source, "name", source)) if not isinstance(source, (bytes, bytearray)) else "bundle"
    try:
        z = BoundedZip(source, limits)
    except InputRefused as exc:
        report.add("fail", where, str(exc))
        return report
    with z:
        try:
            _verify(_Bundle(z, report), report, trusted, allow_untrusted)
        except Exception as exc:      # noqa: BLE001 - hostile content: a finding, never a traceback
            report.add("fail", where, f"unreadable: {type(exc).__name__}: {exc}")
    return report


def _verify(b: _Bundle, report: BundleReport, trusted, allow_untrusted: bool = False) -> None:
    raw_manifest = b.read(MANIFEST)
    if raw_manifest is None:
        report.add("fail", MANIFEST, "missing: this is not an evidence bundle")
        return
    try:
        manifest = json.loads(raw_manifest.decode("utf-8"))
        if manifest.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"format is {manifest.get('format')!r}, expected {BUNDLE_FORMAT!r}")
        files: dict[str, str] = manifest["files"]
        if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise ValueError("files is not an object of file names and sha256 values")
        if not isinstance(manifest.get("orders", []), list):
            raise ValueError("orders is not a list")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        report.add("fail", MANIFEST, f"unreadable: {exc}")
        return

    # 1. every file is listed, present and unchanged
    contents: dict[str, bytes] = {}
    for name in sorted(files):
        data = b.read(name)
        if data is None:
            report.add("fail", name, "listed in the manifest but missing from the bundle")
            continue
        actual = sha256_hex(data)
        if actual != files[name]:
            report.add("fail", name, f"sha256 {actual[:16]}… differs from the manifest's {str(files[name])[:16]}…: "
                                     "the file was changed after export")
        contents[name] = data
    for name in sorted(b.names - set(files) - {MANIFEST, MANIFEST_SIG}):
        if not name.endswith("/"):
            report.add("fail", name, "not listed in the manifest: added after export")
    if not report.failures:
        report.add("ok", "files", f"{len(files)} files present, each with the sha256 the manifest lists")

    # 2. the manifest is signed by the gateway
    signer = _verify_manifest_signature(b, contents, raw_manifest, report, trusted)

    # 3. the chain slice
    chain_info = manifest.get("chain") or {}
    records, by_subject, hashes = verify_chain(contents.get(CHAIN_FILE), chain_info, report)

    # 4. checkpoints inside or around the slice
    verify_checkpoints(contents.get(CHECKPOINTS_FILE), hashes, report, trusted)

    # 5. the evidence of each order
    certificates = {name: data for name, data in contents.items() if name.startswith("certificates/")}
    for order_id in manifest.get("orders", []):
        verify_order(order_id, contents, by_subject, certificates, report, trusted)
    if signer is not None and trusted:
        report.add("ok", "signer", f"bundle exported by certificate serial {format(signer.serial_number, 'x')} "
                                   f"({signer.subject.rfc4514_string()}), a trusted certificate")
    elif signer is not None:
        report.add("warn" if allow_untrusted else "fail", "signer",
                   untrusted_signer(format(signer.serial_number, "x"), signer.subject.rfc4514_string()))


def _verify_manifest_signature(b, contents, raw_manifest, report, trusted):
    raw_sig = b.read(MANIFEST_SIG)
    if raw_sig is None:
        report.add("fail", MANIFEST_SIG, "missing: the manifest is not signed")
        return None
    try:
        sig = json.loads(raw_sig.decode("ascii"))
        cert_data = contents.get(sig["certificate"])
        if cert_data is None:
            raise CheckpointInvalid(f"its certificate {sig['certificate']} is not in the bundle")
        certificate = load_certificate(cert_data)
        verify_detached(raw_manifest, sig["signature"], certificate, trusted)
    except (ValueError, KeyError, TypeError, CheckpointInvalid) as exc:
        report.add("fail", MANIFEST, f"signature does not verify: {exc}")
        return None
    report.add("ok", MANIFEST, "signature verifies")
    return certificate


def bundle_timeline(source, limits: ZipLimits = DEFAULT_LIMITS) -> list[dict]:
    """The bundle's own audit records (not the redacted ones), oldest first: what happened, when.
    Read as is; run ``verify_bundle`` to know whether to believe it. Unreadable lines are left out;
    an unreadable bundle raises ``InputRefused`` (one line)."""
    out: list[dict] = []
    with BoundedZip(source, limits) as z:
        if CHAIN_FILE not in z.names:
            return out
        for line in z.read(CHAIN_FILE).decode("utf-8", "replace").splitlines():
            try:
                d = json.loads(line) if line.strip() else None
                if not isinstance(d, dict) or "action" not in d:
                    continue
                try:
                    detail = json.loads(d.get("detail") or "{}")
                except (TypeError, ValueError):
                    detail = d.get("detail")
                out.append({"id": d["id"], "at": str(d["at"]), "action": str(d["action"]),
                            "subject_type": str(d["subject_type"]), "subject_id": str(d["subject_id"]),
                            "tenant_id": d.get("tenant_id"), "detail": detail})
                if not isinstance(d["id"], int) or isinstance(d["id"], bool):
                    out.pop()
            except (ValueError, KeyError, TypeError):
                continue
    return out
