"""Replay: rebuild an order's filings from what was stored and compare with what was sent.

    report = replay_order(gw.uow_factory, order_id, key=gw.key, current_versions=gw.declarer.built_with())
    report.identical      # every filing rebuilt byte for byte

What a replay takes from the database, never from "now":
- the order body exactly as received (``orders.body``);
- the clock: ``orders.normalized.app_time``, the time the filings were built. It is passed as
  ``app_time`` to the builders and as ``on`` to intake, and it is THE date of the replay: anything
  that depends on a date (rules, code tables, tax and FX rates with effective dates) must take it
  from there (``FilingContext.app_time`` in the builders; ``ReplayReport.as_of``). That is the
  hook for reference data: look things up "as of app_time", never as of today;
- the ids: each filing's guid (message id) and the order's cop_no. The replay's id generator
  refuses to draw a new id: a filing the original did not have is reported, not invented;
- the transfer (BaseTransfer: cop_code, cop_name, dxp_id) recorded with the order
  (``normalized.transfer``; the tenant's current values for orders stored before that, with a warning);
- the signature algorithms the filings were built with (``filings.built_with``);
- the buyer's CBEC annual amount before the order (``normalized.agencies.annual_used``), which the
  tax record states; orders stored before agency filings existed are rebuilt without them.

RSA PKCS#1 v1.5 is deterministic, so with the same key the signed bytes must be identical. When
they differ the report lists every element path that differs with both values. Versions recorded
at build time that differ from the running code are reported as warnings.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from gateway import signing
from gateway.audit.tombstone import is_tombstone, read_tombstone
from gateway.audit.xmldiff import Difference, diff_xml, first_byte_difference
from gateway.declarations.common import Transfer
from gateway.domain.agencies import RECORD_TYPES
from gateway.domain.parse import parse_order as parse_any
from gateway.domain.problems import OrderInvalid
from gateway.ports import OutgoingMessage, SendResult

from .declare import BuiltFiling, Declarer, FilingInvalid

SANDBOX = "sandbox"


class ReplayError(Exception):
    """A replay cannot be done or sent; the message says why."""


class _NoNewIds:
    """A replay reuses the original ids; asking for a new one means the plan changed."""

    def new_guid(self) -> str:
        raise ReplayError("the replay needed a new message id: today's plan has a filing the original did not")


@dataclass
class FilingReplay:
    message_type: str
    filing_id: str | None
    guid: str | None
    original_sha256: str | None
    replayed_sha256: str | None
    identical: bool
    differences: list[Difference] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict:
        return {"message_type": self.message_type, "filing_id": self.filing_id, "guid": self.guid,
                "original_sha256": self.original_sha256, "replayed_sha256": self.replayed_sha256,
                "identical": self.identical, "note": self.note,
                "differences": [d.as_dict() for d in self.differences]}


@dataclass
class ReplayReport:
    order_id: str
    tenant_id: str
    order_no: str
    as_of: datetime | None = None          # the order's recorded app_time: the date of the replay
    filings: list[FilingReplay] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    rebuilt: list[BuiltFiling] = field(default_factory=list, repr=False)

    @property
    def identical(self) -> bool:
        return self.error is None and bool(self.filings) and all(f.identical for f in self.filings)

    def as_dict(self) -> dict:
        return {"order_id": self.order_id, "tenant_id": self.tenant_id, "order_no": self.order_no,
                "as_of": self.as_of.isoformat() if self.as_of else None, "identical": self.identical,
                "error": self.error, "warnings": self.warnings, "filings": [f.as_dict() for f in self.filings]}

    def lines(self) -> list[str]:
        out = [f"Replay of order {self.order_no} ({self.order_id}), tenant {self.tenant_id}"]
        if self.as_of is not None:
            out.append(f"  as of {self.as_of.isoformat()} (the recorded app time; used as the date everywhere)")
        for w in self.warnings:
            out.append(f"  WARNING {w}")
        if self.error:
            out.append(f"  ERROR {self.error}")
        for f in self.filings:
            if f.identical:
                what = f.note or f"identical bytes, sha256 {f.original_sha256}"
                out.append(f"  SAME  {f.message_type} guid {f.guid}: {what}")
                continue
            out.append(f"  DIFF  {f.message_type} guid {f.guid}: sent sha256 {f.original_sha256}, "
                       f"replay {f.replayed_sha256}" + (f" — {f.note}" if f.note else ""))
            for d in f.differences:
                out.append(f"        {d}")
        out.append("RESULT: identical" if self.identical else "RESULT: DIFFERENT")
        return out


def _algorithms_of(built_with: dict) -> signing.SignatureAlgorithms | None:
    """The named algorithm set with the SignatureMethod and DigestMethod recorded at build time."""
    for name in signing.NAMES:
        try:
            alg = signing.by_name(name)
        except signing.SigningError:
            continue
        if alg.signature_method == built_with.get("signature") and alg.digest_method == built_with.get("digest"):
            return alg
    return None


def default_signer_for(algorithms, key) -> signing.XmlSigner:
    return signing.XmlSigner(algorithms)


def replay_order(uow_factory, order_id: str, *, key, tenant_id: str | None = None,
                 current_versions: dict | None = None, signer_for=default_signer_for, actor: str = "cli",
                 record: bool = True) -> ReplayReport:
    """Rebuild and compare; never changes the order or its filings.

    ``key``: the KeyMaterial to sign with, or a callable ``(tenant_id, as_of) -> KeyMaterial``
    (the key in force when the order was built). ``signer_for(algorithms, key) -> XmlSigner``
    builds the signer for the recorded algorithms (the entry point passes one configured like the
    running gateway: SM2 options, signed input). ``tenant_id`` scopes the lookup (an operator may
    leave it out: order ids are unique). ``current_versions`` (the running declarer's
    ``built_with()``, or a callable ``key -> dict``) turns version differences into warnings."""
    with uow_factory() as uow:
        order = uow.orders.in_scope(order_id, tenant_id)
        if order is None:
            raise ReplayError(f"order: no order {order_id}" + (f" for tenant {tenant_id}" if tenant_id else ""))
        tenant = uow.tenants.get(order.tenant_id)
        stored = uow.filings.for_order(order.tenant_id, order.id)
        # corrections and reversals (docs/corrections.md) are built from their own inputs, not from the body
        filings = [(f.id, f.message_type, f.guid, f.sha256, bytes(f.signed_bytes), f.built_with)
                   for f in stored if f.corrects_id is None]
        body, normalized, cop_no = order.body, order.normalized, order.cop_no
        report = ReplayReport(order.id, order.tenant_id, order.order_no)
        if order.kind != "order":
            report.error = (f"a {order.kind} document (docs/site-filings.md) is not replayed yet: only orders are "
                            "rebuilt; its filings' bytes are stored exactly as sent")
            return report
        if len(filings) < len(stored):
            report.warnings.append(f"{len(stored) - len(filings)} correction(s) or reversal(s) of this order are not "
                                   "replayed: they are built from their own inputs (docs/corrections.md)")
        current_transfer = Transfer(tenant.cop_code, tenant.cop_name, tenant.dxp_id)

    _rebuild(report, body, normalized, cop_no, filings, current_transfer, key, current_versions, signer_for)
    if record:
        with uow_factory() as uow:
            uow.audit.record(report.tenant_id, "order", report.order_id, "order.replayed",
                             {"identical": report.identical, "error": report.error, "actor": actor,
                              "different": [f.message_type for f in report.filings if not f.identical],
                              "warnings": report.warnings})
            uow.commit()
    return report


def _rebuild(report: ReplayReport, body: str, normalized_text: str, cop_no: str, filings: list,
             current_transfer: Transfer, key, current_versions: dict | None, signer_for) -> None:
    if is_tombstone(body):
        t = read_tombstone(body)
        report.error = (f"the order body was purged {t.purged_at} ({t.reason}): nothing to rebuild from; "
                        f"its evidence is in bundle {t.bundle}")
        return
    normalized = json.loads(normalized_text)
    try:
        app_time = datetime.fromisoformat(normalized["app_time"])
    except (KeyError, TypeError, ValueError):
        report.error = "the order has no recorded app time (orders.normalized.app_time): cannot replay its clock"
        return
    report.as_of = app_time
    if "transfer" in normalized:
        transfer = Transfer(**normalized["transfer"])
    else:
        transfer = current_transfer
        report.warnings.append("the transfer (cop_code, cop_name, dxp_id) was not recorded with this order: "
                               "the tenant's current values were used")
    if not filings:
        report.error = "the order has no filings to compare with"
        return
    built_with = json.loads(filings[0][5])
    algorithms = _algorithms_of(built_with)
    if algorithms is None:
        report.error = (f"the filings were signed with {built_with.get('signature')} / {built_with.get('digest')}, "
                        "which this gateway cannot sign with")
        return
    if callable(key):
        try:
            key = key(report.tenant_id, app_time)
        except Exception as exc:   # the key store says why (expired, not active yet, no master key)
            report.error = f"no signing key for tenant {report.tenant_id} as of {app_time.isoformat()}: {exc}"
            return
    if callable(current_versions):
        current_versions = current_versions(key)
    _version_warnings(report, filings, current_versions)
    original_cert = _signer_of(filings)
    if original_cert is not None and original_cert != key.key_name:
        report.warnings.append(f"the filings were signed by certificate serial {original_cert}, the replay signs with "
                               f"{key.key_name}: signatures differ, contents are compared")
    try:
        order = parse_any(body, on=app_time)
        declarer = Declarer(signer_for(algorithms, key), _NoNewIds())
        recorded = (normalized.get("agencies") or {}).get("annual_used")   # the buyer's CBEC amount back then
        rebuilt = declarer.declare(order, transfer=transfer, key=key, app_time=app_time, cop_no=cop_no,
                                   guids={mt: guid for _, mt, guid, _, _, _ in filings},
                                   annual_used=Decimal(recorded) if recorded else None,
                                   agencies=any(mt in RECORD_TYPES for _, mt, _, _, _, _ in filings))
        rebuilt = [_late_summary(declarer, order, b, filings, transfer, key, cop_no) for b in rebuilt]
    except OrderInvalid as exc:
        report.error = ("the stored order no longer passes intake: "
                        + "; ".join(f"{p.path} [{p.rule}] {p.message}" for p in exc.problems))
        return
    except FilingInvalid as exc:
        report.error = "the filings could not be rebuilt: " + "; ".join(str(p) for p in exc.problems)
        return
    except ReplayError as exc:
        report.error = str(exc)
        return
    report.rebuilt = rebuilt
    by_type = {b.message_type: b for b in rebuilt}
    for fid, mt, guid, sha, data, _ in filings:
        b = by_type.pop(mt, None)
        if b is None:
            report.filings.append(FilingReplay(mt, fid, guid, sha, None, False, note="the replay did not build it"))
            continue
        if is_tombstone(data):
            report.filings.append(FilingReplay(mt, fid, guid, sha, b.sha256, False,
                                               note="the sent bytes were purged; compare with the evidence bundle"))
            continue
        if b.signed_bytes == data:
            report.filings.append(FilingReplay(mt, fid, guid, sha, b.sha256, True))
            continue
        diffs = diff_xml(data, b.signed_bytes)
        if algorithms.key_type != "rsa" and diffs and all(d.path.endswith("/Signature/SignatureValue") for d in diffs):
            # SM2 signatures are randomised: same content, same key, another signature value
            report.filings.append(FilingReplay(mt, fid, guid, sha, b.sha256, True, diffs,
                                               note="same content and key; SM2 signature values are randomised"))
            continue
        note = "" if diffs else f"same document, serialised differently (first byte difference at offset " \
                                f"{first_byte_difference(data, b.signed_bytes)})"
        report.filings.append(FilingReplay(mt, fid, guid, sha, b.sha256, False, diffs, note))
    for mt, b in by_type.items():
        report.filings.append(FilingReplay(mt, None, b.guid, None, b.sha256, False,
                                           note="built by the replay but never sent"))


def _late_summary(declarer, order, built, filings: list, transfer: Transfer, key, cop_no: str):
    """An order's CEB701 built late with its inventory's number (gateway/service/delivery/summaries.py) is
    rebuilt as it was then: that invtNo, at that time; any other filing as ``declare`` built it."""
    if built.message_type != "CEB701Message":
        return built
    for _, mt, _, _, _, built_with in filings:
        late = json.loads(built_with or "{}").get("summary") if mt == built.message_type else None
        if late:
            return declarer.order_summary(order, transfer=transfer, key=key,
                                          app_time=datetime.fromisoformat(late["app_time"]), cop_no=cop_no,
                                          guid=built.guid, inventory_numbers=[late["invt_no"]])
    return built


def _version_warnings(report: ReplayReport, filings: list, current: dict | None) -> None:
    if not current:
        return
    seen = set()
    for _, _, _, _, _, built_with_text in filings:
        built_with = json.loads(built_with_text)
        for name in sorted(set(built_with) | set(current)):
            was, now = built_with.get(name), current.get(name)
            if was != now and (name, str(was), str(now)) not in seen:
                seen.add((name, str(was), str(now)))
                report.warnings.append(f"built with {name} {was!r}, the running gateway has {now!r}")


def _signer_of(filings: list) -> str | None:
    for *_, data, _ in filings:
        if not is_tombstone(data):
            try:
                return signing.verify(data).key_name
            except signing.SigningError:
                return None
    return None


def resend_to_sandbox(uow_factory, adapter, report: ReplayReport, *, actor: str = "cli") -> list[SendResult]:
    """Send the replayed filings to the sandbox government, never anywhere else. The order and its
    filings are not touched; the sending is recorded in the audit chain."""
    name = getattr(adapter, "name", None)
    if name != SANDBOX:
        raise ReplayError(f"refusing to send a replay to adapter {name!r}: a replay goes to the sandbox only, "
                          "never to a production adapter")
    if not report.rebuilt:
        raise ReplayError("nothing to send: the replay built no filings" + (f" ({report.error})" if report.error else ""))
    results = [adapter.send(OutgoingMessage(b.guid, b.message_type, b.signed_bytes))
               for b in sorted(report.rebuilt, key=lambda b: (b.sequence, b.message_type))]
    with uow_factory() as uow:
        uow.audit.record(report.tenant_id, "order", report.order_id, "order.replay_sent",
                         {"adapter": name, "actor": actor,
                          "sent": [{"guid": r.message_id, "accepted": r.accepted, "error": r.error} for r in results]})
        uow.commit()
    return results
