"""The audit hash chain: canonical encoding, record hashes, and a verifier that finds any edit,
deletion or reordering and names the first broken record. Pure: no database, no files.

Every audit record is hashed in two steps, over fields that do not depend on its row id:

    body   = canonical JSON {"action", "at", "detail", "subject_id", "subject_type", "tenant_id"}
    digest = sha256(body)                                   (hex)
    hash   = sha256(canonical JSON ["gateway-audit/1", prev_hash or "", digest])   (hex)

``detail`` is the JSON text exactly as stored (already canonical when written), ``at`` the time in
UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, ``prev_hash`` the hash of the record before it in the
chain (None for the very first record). Canonical JSON: sorted keys, no spaces, UTF-8 as is.

The two steps let an evidence bundle carry a record of someone else (another tenant, another
order) as just its ``digest``: the links can still be recomputed end to end without showing what
that record says.

Chain order is row-id order: the store appends records while holding the chain head (one
transaction at a time), so ids grow along the chain. The verifier walks records by id and checks
that each one's content still gives its hash and that it links to the record before it.
"""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeGuard

CHAIN_FORMAT = "gateway-audit/1"
HEX64 = frozenset("0123456789abcdef")

__all__ = [
    "CHAIN_FORMAT", "ChainRecord", "ChainProblem", "ChainReport", "ChainVerifier",
    "canonical_json", "format_at", "body_digest", "link_hash", "record_hash", "verify_records",
]


_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode   # built once


def canonical_json(value) -> bytes:
    """Sorted keys, no spaces, UTF-8 kept as is: the only encoding anything here hashes."""
    return _CANONICAL(value).encode("utf-8")


def format_at(at: datetime | str | None) -> str:
    """The time of a record as hashed: UTC, microseconds, 'Z'. A string is taken as already
    formatted (as read back from a bundle) and checked."""
    if isinstance(at, str):
        parsed = parse_at(at)
        return format_at(parsed)
    if not isinstance(at, datetime):
        raise TypeError(f"at: expected a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"at: naive datetime refused (give it a time zone): {at!r}")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_at(text: str) -> datetime:
    """Inverse of ``format_at``."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise ValueError(f"at: {text!r} is not a UTC time like 2026-11-20T02:00:00.000000Z") from None


def body_digest(tenant_id: str | None, subject_type: str | None, subject_id: str | None, action: str | None,
                detail: str | None, at: datetime | str | None) -> str:
    """sha256 (hex) of the canonical body of one record."""
    if not isinstance(detail, str):
        raise TypeError(f"detail: expected the stored JSON text, got {type(detail).__name__}")
    body = {"tenant_id": tenant_id, "subject_type": subject_type, "subject_id": subject_id,
            "action": action, "detail": detail, "at": format_at(at)}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def link_hash(prev_hash: str | None, digest: str) -> str:
    """The hash of a record from the hash before it and its body digest."""
    return hashlib.sha256(canonical_json([CHAIN_FORMAT, prev_hash or "", digest])).hexdigest()


def record_hash(prev_hash: str | None, tenant_id: str | None, subject_type: str, subject_id: str,
                action: str, detail: str, at: datetime | str) -> str:
    return link_hash(prev_hash, body_digest(tenant_id, subject_type, subject_id, action, detail, at))


@dataclass(frozen=True)
class ChainRecord:
    """One record as the verifier sees it. A redacted record (in a bundle: somebody else's) has
    ``digest`` and no body fields."""

    id: int
    prev_hash: str | None
    hash: str | None
    tenant_id: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    action: str | None = None
    detail: str | None = None
    at: datetime | str | None = None
    digest: str | None = None

    @property
    def redacted(self) -> bool:
        return self.action is None

    def computed_digest(self) -> str:
        if self.redacted:
            if not _is_hex64(self.digest):
                raise ValueError(f"record {self.id}: a redacted record needs its body digest")
            return self.digest
        return body_digest(self.tenant_id, self.subject_type, self.subject_id, self.action, self.detail, self.at)

    def describe(self) -> str:
        if self.redacted:
            return f"record {self.id}"
        return f"record {self.id} ({self.action} {self.subject_type} {self.subject_id})"

    def as_dict(self) -> dict:
        """The form stored in bundles (audit/chain.jsonl), one JSON object per line."""
        if self.redacted:
            return {"id": self.id, "prev_hash": self.prev_hash, "hash": self.hash, "digest": self.digest}
        return {"id": self.id, "tenant_id": self.tenant_id, "subject_type": self.subject_type,
                "subject_id": self.subject_id, "action": self.action, "detail": self.detail,
                "at": format_at(self.at), "prev_hash": self.prev_hash, "hash": self.hash}

    @classmethod
    def from_dict(cls, d: dict) -> ChainRecord:
        if not isinstance(d, dict) or not isinstance(d.get("id"), int):
            raise ValueError(f"not an audit record: {d!r:.120}")
        if "action" not in d:
            return cls(id=d["id"], prev_hash=d.get("prev_hash"), hash=d.get("hash"), digest=d.get("digest"))
        return cls(id=d["id"], prev_hash=d.get("prev_hash"), hash=d.get("hash"), tenant_id=d.get("tenant_id"),
                   subject_type=d.get("subject_type"), subject_id=d.get("subject_id"), action=d.get("action"),
                   detail=d.get("detail"), at=d.get("at"))

    def redact(self) -> ChainRecord:
        return ChainRecord(id=self.id, prev_hash=self.prev_hash, hash=self.hash, digest=self.computed_digest())


@dataclass(frozen=True)
class ChainProblem:
    record_id: int
    position: int          # 1-based position within what was verified
    kind: str              # unhashed | edited | unlinked | reordered | deleted | truncated | order
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class ChainReport:
    count: int = 0
    first_id: int | None = None
    last_id: int | None = None
    head_hash: str | None = None
    problems: list[ChainProblem] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)   # id -> stored hash (only when kept)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_broken(self) -> ChainProblem | None:
        return min(self.problems, key=lambda p: p.position) if self.problems else None

    def summary(self) -> str:
        first = self.first_broken
        if first is None:
            if not self.count:
                return "audit chain: empty"
            return (f"audit chain intact: {self.count} records (ids {self.first_id}..{self.last_id}), "
                    f"head {self.head_hash}")
        return (f"audit chain BROKEN at record {first.record_id}: {first.message} "
                f"({len(self.problems)} problem(s) in {self.count} records)")


def _is_hex64(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) == 64 and set(value) <= HEX64


class ChainVerifier:
    """Feed records in id order, then ``finish()``.

    ``expect_genesis``: the first record fed is the start of the whole chain (prev_hash None).
    For a slice (an evidence bundle) pass False; the first record's prev_hash is then taken as
    given. ``keep_hashes``: remember id -> hash of every record (for evidence checks of a slice).
    Memory stays bounded on a whole database: reordering is recognised within a window of the
    last ``window`` records.
    """

    def __init__(self, *, expect_genesis: bool = True, keep_hashes: bool = False, window: int = 100_000,
                 max_problems: int = 1000):
        self.expect_genesis = expect_genesis
        self.keep_hashes = keep_hashes
        self.window = window
        self.max_problems = max_problems
        self.report = ChainReport()
        self._prev: ChainRecord | None = None
        self._recent: OrderedDict[str, int] = OrderedDict()   # hash -> id, last `window` records
        self._dangling: dict[str, tuple[int, int]] = {}          # prev_hash pointing nowhere yet -> (id, position)

    def _problem(self, rec: ChainRecord, position: int, kind: str, message: str) -> None:
        if len(self.report.problems) < self.max_problems:
            self.report.problems.append(ChainProblem(rec.id, position, kind, message))

    def feed(self, rec: ChainRecord) -> None:
        r = self.report
        r.count += 1
        position = r.count
        if r.first_id is None:
            r.first_id = rec.id
        prev = self._prev
        if prev is not None and rec.id <= prev.id:
            self._problem(rec, position, "order", f"{rec.describe()} comes after record {prev.id}: ids must grow")

        # 1. does its content still give its hash?
        if rec.hash is None:
            self._problem(rec, position, "unhashed",
                          f"{rec.describe()} has no hash: it was written outside the chain")
        else:
            try:
                computed = link_hash(rec.prev_hash, rec.computed_digest())
            except (TypeError, ValueError) as exc:
                computed = None
                self._problem(rec, position, "edited", f"{rec.describe()} cannot be hashed: {exc}")
            if computed is not None and computed != rec.hash:
                what = ("its digest or links" if rec.redacted
                        else "tenant, subject, action, detail or time")
                self._problem(rec, position, "edited",
                              f"{rec.describe()} was changed: its content ({what}) no longer gives its "
                              f"stored hash {rec.hash[:16]}…")

        # 2. does it link to the record before it?
        if prev is None:
            if self.expect_genesis and rec.prev_hash is not None:
                self._problem(rec, position, "deleted",
                              f"{rec.describe()} is the first record but links to {rec.prev_hash[:16]}…: "
                              "records before it were deleted")
        elif rec.prev_hash != prev.hash:
            earlier = self._recent.get(rec.prev_hash) if rec.prev_hash else None
            if rec.prev_hash is None:
                self._problem(rec, position, "unlinked",
                              f"{rec.describe()} claims to start the chain but follows record {prev.id}")
            elif earlier is not None:
                self._problem(rec, position, "reordered",
                              f"{rec.describe()} links to record {earlier}, not to record {prev.id} before "
                              "it: records were reordered")
            else:
                self._dangling[rec.prev_hash] = (rec.id, position)
                self._problem(rec, position, "deleted",
                              f"{rec.describe()} does not link to record {prev.id} before it "
                              f"(it names {rec.prev_hash[:16]}…, record {prev.id} has "
                              f"{(prev.hash or 'no hash')[:16]}…): a record between them was deleted, "
                              f"or record {prev.id} was rewritten")
        if rec.hash is not None and rec.hash in self._dangling:
            linked_id, _ = self._dangling.pop(rec.hash)
            for i, p in enumerate(r.problems):
                if p.record_id == linked_id and p.kind == "deleted":
                    r.problems[i] = ChainProblem(p.record_id, p.position, "reordered",
                                                 f"record {linked_id} links to record {rec.id}, which comes "
                                                 "after it: records were reordered")
        if rec.hash is not None:
            self._recent[rec.hash] = rec.id
            if len(self._recent) > self.window:
                self._recent.popitem(last=False)
            if self.keep_hashes:
                r.hashes[rec.id] = rec.hash
        self._prev = rec
        r.last_id = rec.id
        r.head_hash = rec.hash

    def finish(self) -> ChainReport:
        return self.report


def verify_records(records: Iterable[ChainRecord], *, expect_genesis: bool = True,
                   keep_hashes: bool = False) -> ChainReport:
    verifier = ChainVerifier(expect_genesis=expect_genesis, keep_hashes=keep_hashes)
    for rec in records:
        verifier.feed(rec)
    return verifier.finish()
