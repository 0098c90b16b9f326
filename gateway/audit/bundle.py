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

import hashlib
import io
import json
import zipfile
from datetime import datetime
from decimal import Decimal
from pathlib import Path, PurePosixPath

from gateway.signing.anchor import untrusted_signer

from .chain import ChainRecord, ChainVerifier, format_at
from .checkpoint import (SIGNATURE_ALGORITHM, Checkpoint, CheckpointInvalid, certificate_pem, load_certificate,
                         sign_detached, verify_detached)
from .report import Finding, Report
from .tombstone import is_tombstone, read_tombstone

BUNDLE_FORMAT = "gateway-evidence/1"
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
CHAIN_FILE = "audit/chain.jsonl"
CHECKPOINTS_FILE = "audit/checkpoints.json"
MAX_ENTRY_BYTES = 256 * 1024 * 1024

__all__ = ["BundleWriter", "BundleReport", "Finding", "Report", "verify_bundle", "BUNDLE_FORMAT"]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    def __init__(self, z: zipfile.ZipFile, report: BundleReport):
        self.z = z
        self.report = report
        names = [i.filename for i in z.infolist()]
        dupes = {n for n in names if names.count(n) > 1}
        for n in sorted(dupes):
            report.add("fail", n, "appears more than once in the zip (which copy is the evidence?)")
        self.names = set(names)

    def read(self, name: str) -> bytes | None:
        if name not in self.names:
            return None
        info = self.z.getinfo(name)
        if info.file_size > MAX_ENTRY_BYTES:
            self.report.add("fail", name, f"larger than {MAX_ENTRY_BYTES} bytes")
            return None
        return self.z.read(name)


def verify_bundle(source, *, trusted: list | None = None, allow_untrusted: bool = False) -> BundleReport:
    """Verify an evidence bundle (a path, bytes, or a binary file object) offline.

    ``trusted``: certificates (cryptography x509) the signatures must come from. Without it the
    check proves only that the bundle is intact and consistently signed by the certificates it
    carries (anyone can re-sign a tampered bundle): the report then FAILS with "signature valid,
    signer NOT trusted" unless ``allow_untrusted`` (a warning then)."""
    report = BundleReport()
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        z = zipfile.ZipFile(source)
    except (OSError, zipfile.BadZipFile) as exc:
        report.add("fail", str(getattr(source, "name", source)), f"not a readable zip file: {exc}")
        return report
    with z:
        _verify(_Bundle(z, report), report, trusted, allow_untrusted)
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
    records, by_subject, hashes = _verify_chain(contents.get(CHAIN_FILE), chain_info, report)

    # 4. checkpoints inside or around the slice
    _verify_checkpoints(contents.get(CHECKPOINTS_FILE), hashes, report, trusted)

    # 5. the evidence of each order
    certificates = {name: data for name, data in contents.items() if name.startswith("certificates/")}
    for order_id in manifest.get("orders", []):
        _verify_order(order_id, contents, by_subject, certificates, report, trusted)
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


def _verify_chain(data: bytes | None, info: dict, report: BundleReport):
    by_subject: dict[tuple[str | None, str | None], list[ChainRecord]] = {}
    if data is None:
        report.add("fail", CHAIN_FILE, "missing: no audit records to prove anything with")
        return [], by_subject, {}
    records: list[ChainRecord] = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(ChainRecord.from_dict(json.loads(line)))
        except ValueError as exc:
            report.add("fail", CHAIN_FILE, f"line {n} is not an audit record: {exc}")
    verifier = ChainVerifier(expect_genesis=bool(info.get("starts_at_genesis")), keep_hashes=True)
    for rec in records:
        verifier.feed(rec)
    chain = verifier.finish()
    if chain.problems:
        for p in chain.problems:
            report.add("fail", "chain", p.message)
    elif records and chain.head_hash is not None:
        report.add("ok", "chain", f"{chain.count} records (ids {chain.first_id}..{chain.last_id}) recompute "
                                  f"and link, ending in {chain.head_hash[:16]}…")
    broken = {p.record_id for p in chain.problems if p.kind in ("edited", "unhashed")}
    for rec in records:
        if not rec.redacted and rec.id not in broken:
            by_subject.setdefault((rec.subject_type, rec.subject_id), []).append(rec)
    return records, by_subject, chain.hashes


def _verify_checkpoints(data: bytes | None, hashes: dict[int, str], report: BundleReport, trusted) -> None:
    if data is None:
        report.add("warn", "checkpoints", "no signed checkpoint in the bundle: the slice is not anchored "
                                          "(run `gateway audit checkpoint` regularly)")
        return
    try:
        items = [Checkpoint.from_dict(d) for d in json.loads(data.decode("utf-8"))]
    except (ValueError, TypeError, CheckpointInvalid) as exc:
        report.add("fail", CHECKPOINTS_FILE, f"unreadable: {exc}")
        return
    anchored = False
    for cp in items:
        name = f"checkpoint {cp.id} ({cp.at})"
        try:
            cert = cp.verify(trusted)
        except CheckpointInvalid as exc:
            report.add("fail", name, str(exc))
            continue
        if cp.last_event_id in hashes:
            if hashes[cp.last_event_id] != cp.head_hash:
                report.add("fail", name, f"signed head {str(cp.head_hash)[:16]}… at record {cp.last_event_id}, but "
                                         f"the bundle's record {cp.last_event_id} has {hashes[cp.last_event_id][:16]}…: "
                                         "the chain was rewritten after the checkpoint")
                continue
            anchored = True
            report.add("ok", name, f"signed by serial {format(cert.serial_number, 'x')}: the chain had "
                                   f"{cp.count} records ending at record {cp.last_event_id}, which is in this slice")
        else:
            report.add("ok", name, f"signature verifies (head at record {cp.last_event_id}, outside this slice)")
    if not anchored:
        report.add("warn", "checkpoints", "no signed checkpoint falls inside the chain slice: the newest "
                                          "records are not anchored yet")


def _record(by_subject, subject_type, subject_id, action) -> ChainRecord | None:
    found = [r for r in by_subject.get((subject_type, str(subject_id)), []) if r.action == action]
    return found[0] if found else None


def _detail(rec: ChainRecord) -> dict:
    if rec.detail is None:   # a redacted record: no detail to read
        return {}
    try:
        value = json.loads(rec.detail)
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def _verify_order(order_id: str, contents: dict, by_subject, certificates, report: BundleReport, trusted) -> None:
    base = f"orders/{order_id}"
    raw = contents.get(f"{base}/record.json")
    if raw is None:
        report.add("fail", f"{base}/record.json", "missing")
        return
    try:
        record = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        report.add("fail", f"{base}/record.json", f"unreadable: {exc}")
        return
    _verify_body(order_id, base, contents, by_subject, report)
    trusted_or_bundled = trusted
    if trusted_or_bundled is None:
        trusted_or_bundled = []
        for data in certificates.values():
            try:
                trusted_or_bundled.append(load_certificate(data))
            except CheckpointInvalid:
                pass
    for filing in record.get("filings", []):
        _verify_filing(base, filing, contents, by_subject, trusted_or_bundled, report)
    for receipt in record.get("receipts", []):
        _verify_receipt(base, receipt, contents, by_subject, report)


def _purged(path: str, data: bytes, recorded_sha: str | None, by_subject, subject, report) -> None:
    try:
        t = read_tombstone(data)
    except ValueError as exc:
        report.add("fail", path, str(exc))
        return
    purge = _record(by_subject, subject[0], subject[1], f"{subject[0]}.purged")
    if recorded_sha is None and purge is not None:
        report.add("warn", path, f"purged {t.purged_at} ({t.reason}); the exact bytes were not chained when "
                                 "stored, so the tombstone's sha256 cannot be checked")
        return
    if recorded_sha is None or t.sha256 != recorded_sha:
        report.add("fail", path, f"tombstone names sha256 {t.sha256[:16]}… but the chain recorded "
                                 f"{(recorded_sha or 'nothing')[:16]}…")
    elif purge is None:
        report.add("fail", path, "bytes replaced by a tombstone, but no purge is recorded in the chain")
    else:
        report.add("ok", path, f"purged {t.purged_at} ({t.reason}); the tombstone names the sha256 the chain "
                               f"recorded (see bundle {t.bundle})")


def _verify_body(order_id, base, contents, by_subject, report) -> None:
    path = f"{base}/order.json"
    data = contents.get(path)
    rec = _record(by_subject, "order", order_id, "order.received")
    if data is None:
        report.add("fail", path, "missing")
        return
    if rec is None:
        report.add("fail", path, f"no intact order.received record for order {order_id} in the chain slice")
        return
    detail = _detail(rec)
    if is_tombstone(data):
        _purged(path, data, detail.get("body_text_sha256"), by_subject, ("order", order_id), report)
        return
    if "body_text_sha256" in detail:
        actual = sha256_hex(data)
        if actual != detail["body_text_sha256"]:
            report.add("fail", path, f"sha256 {actual[:16]}… differs from {detail['body_text_sha256'][:16]}… recorded "
                                     f"when it was received (audit record {rec.id}): the stored order body was changed")
        else:
            report.add("ok", path, f"exactly as received (audit record {rec.id})")
        return
    content_sha: str | None
    try:   # orders received before the exact text was chained: the canonical content was
        canonical = json.dumps(json.loads(data.decode("utf-8"), parse_float=Decimal), ensure_ascii=False,
                               sort_keys=True, separators=(",", ":"), default=str)
        content_sha = sha256_hex(canonical.encode("utf-8"))
    except ValueError:
        content_sha = None
    if content_sha != detail.get("body_sha256"):
        report.add("fail", path, f"content differs from what was recorded when it was received (audit record {rec.id})")
    else:
        report.add("warn", path, f"content as received (audit record {rec.id}); whitespace is not covered "
                                 "(received before exact bodies were chained)")


def _verify_filing(base, filing: dict, contents, by_subject, trusted_certs, report) -> None:
    from lxml import etree

    from gateway import schemas, signing

    path = f"{base}/{filing.get('file')}"
    data = contents.get(path)
    if data is None:
        report.add("fail", path, f"missing (filing {filing.get('id')})")
        return
    rec = _record(by_subject, "filing", filing.get("id"), "filing.signed")
    if rec is None:
        report.add("fail", path, f"no intact filing.signed record for filing {filing.get('id')} in the chain slice")
        return
    recorded = _detail(rec).get("sha256")
    if is_tombstone(data):
        _purged(path, data, recorded, by_subject, ("filing", filing.get("id")), report)
        return
    actual = sha256_hex(data)
    problems = []
    if actual != recorded:
        problems.append(f"sha256 {actual[:16]}… differs from {str(recorded)[:16]}… recorded when it was signed "
                        f"(audit record {rec.id}): the stored bytes were changed")
    if filing.get("sha256") != recorded:
        problems.append(f"the stored sha256 column {str(filing.get('sha256'))[:16]}… differs from the signed "
                        f"record's {str(recorded)[:16]}…")
    try:
        verified = signing.verify(data, trusted_certificates=trusted_certs or None)
    except signing.SigningError as exc:
        problems.append(f"XML signature: {exc}")
        verified = None
    if verified is not None:
        # validate exactly what was sent (the signed document, signature included), as the gateway did
        from gateway.signing.verifier import parse_hardened

        schema_problems = schemas.validate(parse_hardened(data).getroot())
        if schema_problems:
            problems.append("schema: " + "; ".join(schema_problems[:3]))
        if verified.root.get("guid") != filing.get("guid"):
            problems.append(f"root guid {verified.root.get('guid')} is not the filing's guid {filing.get('guid')}")
    if problems or verified is None:   # no verified document without a problem saying why
        for p in problems:
            report.add("fail", path, p)
        return
    cert = verified.certificate
    report.add("ok", path, f"{etree.QName(verified.root).localname} guid {filing.get('guid')}: bytes as signed "
                           f"(audit record {rec.id}), signature verifies (serial {verified.key_name}, "
                           f"{cert.subject.rfc4514_string()}), schema valid")


def _verify_receipt(base, receipt: dict, contents, by_subject, report) -> None:
    path = f"{base}/{receipt.get('file')}"
    data = contents.get(path)
    if data is None:
        report.add("fail", path, f"missing (receipt {receipt.get('id')})")
        return
    rec = _record(by_subject, "receipt", receipt.get("id"), "receipt.stored")
    recorded = _detail(rec).get("sha256") if rec is not None else None
    if is_tombstone(data):
        _purged(path, data, recorded or receipt.get("sha256"), by_subject, ("receipt", str(receipt.get("id"))), report)
        return
    actual = sha256_hex(data)
    if rec is None:
        if actual != receipt.get("sha256"):
            report.add("fail", path, f"sha256 {actual[:16]}… differs from the stored {str(receipt.get('sha256'))[:16]}…")
        else:
            report.add("warn", path, "matches its stored sha256, but it was stored before receipts were chained "
                                     "(no receipt.stored record)")
        return
    if actual != recorded:
        report.add("fail", path, f"sha256 {actual[:16]}… differs from {str(recorded)[:16]}… recorded when it was "
                                 f"received (audit record {rec.id}): the stored receipt was changed")
    elif receipt.get("sha256") != recorded:
        report.add("fail", path, f"the stored sha256 column differs from the receipt.stored record {rec.id}")
    else:
        report.add("ok", path, f"exactly as received (audit record {rec.id})")


def bundle_timeline(source) -> list[dict]:
    """The bundle's own audit records (not the redacted ones), oldest first: what happened, when.
    Read as is; run ``verify_bundle`` to know whether to believe it."""
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    out: list[dict] = []
    with zipfile.ZipFile(source) as z:
        if CHAIN_FILE not in z.namelist():
            return out
        for line in z.read(CHAIN_FILE).decode("utf-8").splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            if "action" in d:
                try:
                    detail = json.loads(d.get("detail") or "{}")
                except ValueError:
                    detail = d.get("detail")
                out.append({"id": d["id"], "at": d["at"], "action": d["action"], "subject_type": d["subject_type"],
                            "subject_id": d["subject_id"], "tenant_id": d.get("tenant_id"), "detail": detail})
    return out
