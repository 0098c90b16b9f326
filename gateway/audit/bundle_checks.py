"""The checks of an evidence bundle's parts (gateway.audit.bundle.verify_bundle runs them): the chain
slice, the signed checkpoints, and each order's body, filings and receipts against the chain's
records. Pure: bytes in, findings out."""
from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from lxml import etree

from gateway import schemas, signing
from gateway.signing.verifier import parse_hardened

from .chain import ChainRecord, ChainVerifier
from .checkpoint import Checkpoint, CheckpointInvalid, load_certificate
from .report import Report
from .tombstone import is_tombstone, read_tombstone

CHAIN_FILE = "audit/chain.jsonl"
CHECKPOINTS_FILE = "audit/checkpoints.json"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_chain(data: bytes | None, info: dict, report: Report):
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


def verify_checkpoints(data: bytes | None, hashes: dict[int, str], report: Report, trusted) -> None:
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


def _record(by_subject, subject_type, subject_id, action, *, last: bool = False) -> ChainRecord | None:
    found = [r for r in by_subject.get((subject_type, str(subject_id)), []) if r.action == action]
    return (found[-1] if last else found[0]) if found else None


def _detail(rec: ChainRecord) -> dict:
    if rec.detail is None:   # a redacted record: no detail to read
        return {}
    try:
        value = json.loads(rec.detail)
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def verify_order(order_id: str, contents: dict, by_subject, certificates, report: Report, trusted) -> None:
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


def _member(base, item: dict, kind: str, contents, report) -> tuple[str, bytes | None]:
    """The path and bytes of a filing's or receipt's file in the bundle; a missing one is reported."""
    path = f"{base}/{item.get('file')}"
    data = contents.get(path)
    if data is None:
        report.add("fail", path, f"missing ({kind} {item.get('id')})")
    return path, data


def _verify_filing(base, filing: dict, contents, by_subject, trusted_certs, report) -> None:
    path, data = _member(base, filing, "filing", contents, report)
    if data is None:
        return
    # the latest: a filing built again before it was first sent (an export order's CEB701 listing its
    # inventory's number, gateway/service/delivery/summaries.py) is signed again, in a record of its own
    rec = _record(by_subject, "filing", filing.get("id"), "filing.signed", last=True)
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
    path, data = _member(base, receipt, "receipt", contents, report)
    if data is None:
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
