"""Scripted, deterministic failures for the sandbox government, keyed by business number.

    script = (SandboxScript()
              .reject("ORD-1", "商品归类错误 (wrong HS code)")   # the inventory of ORD-1 gets 2 → 100
              .inspect("ORD-2")                                  # inventory of ORD-2 goes through 500 查验
              .format_error("CEB311Message")                     # the next CEB311 gets a CEB900
              .transport_error(times=2)                          # the next 2 sends fail with 503
              .duplicate_receipts()                              # every receipt is delivered twice
              .misbill("ORD-3", "12.34"))                        # the CEB816 of ORD-3 bills 12.34 more VAT

The same script as data (tests, CLI ``--script file.json``)::

    {"reject": [{"order_no": "ORD-1", "reason": "...", "code": "100", "on": ["CEB621Message"]}],
     "inspect": ["ORD-2"], "format_error": ["CEB311Message"], "transport_error": 2,
     "duplicate_receipts": true, "misbill": [{"order_no": "ORD-3", "vat": "12.34"}]}

Rejections and inspections apply every time a matching declaration arrives; format errors and
transport errors are used up one by one.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

DECLARATION_TYPES = ("CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message",
                     "DecMessage",   # general trade: keyed by ClientSeqNo (dec_rules.py)
                     # export (export_rules.py): by orderNo; CEB505/607/507/509/701 carry none
                     "CEB303Message", "CEB403Message", "CEB505Message", "CEB603Message",
                     "CEB607Message", "CEB507Message", "CEB509Message", "CEB701Message",
                     # agency records (agency_desk.py): keyed by the record's reference (the order number)
                     "InspectionRecord", "TaxRecord", "RebateRecord", "FxRecord",
                     # reversals that carry the orderNo (corrections.py, docs/corrections.md)
                     "CEB623Message", "CEB625Message")
_KEYS = {"reject", "inspect", "format_error", "transport_error", "duplicate_receipts", "misbill"}


@dataclass(frozen=True)
class ScriptedRejection:
    order_no: str
    reason: str
    code: str = "100"                          # 100 海关退单, or a negative e-port code ("-621005")
    on: tuple[str, ...] = ("CEB621Message",)   # which declarations of that order are refused

    def to_dict(self) -> dict:
        return {"order_no": self.order_no, "reason": self.reason, "code": self.code, "on": list(self.on)}


class SandboxScript:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rejections: dict[str, ScriptedRejection] = {}
        self._inspections: set[str] = set()
        self._format_errors: list[str] = []
        self._transport_errors = 0
        self._duplicate_receipts = False
        self._misbills: dict[str, Decimal] = {}

    # -- building ---------------------------------------------------------------------------

    def reject(self, order_no: str, reason: str, code: str = "100",
               on: str | tuple[str, ...] | list[str] = "CEB621Message") -> SandboxScript:
        """Refuse the declarations ``on`` (default: the inventory) of order ``order_no``."""
        code = str(code)
        if code != "100" and not (code.startswith("-") and code[1:].isdigit()):
            raise ValueError(f"rejection code must be '100' (海关退单) or a negative e-port code, got {code!r}")
        if not reason or not reason.strip():
            raise ValueError("a scripted rejection needs a reason (it becomes returnInfo)")
        targets = (on,) if isinstance(on, str) else tuple(on)
        unknown = [t for t in targets if t not in DECLARATION_TYPES]
        if unknown or not targets:
            raise ValueError(f"reject(on=...) takes declaration types {DECLARATION_TYPES}, got {targets}")
        with self._lock:
            self._rejections[order_no] = ScriptedRejection(order_no, reason, code, targets)
        return self

    def inspect(self, order_no: str) -> SandboxScript:
        """The inventory of ``order_no`` goes 120 → 500 查验 → 399 → 800 (its inspection record:
        accepted → inspection → released)."""
        with self._lock:
            self._inspections.add(order_no)
        return self

    def format_error(self, message_type: str) -> SandboxScript:
        """The next message of ``message_type`` is answered with a CEB900 (once per call)."""
        with self._lock:
            self._format_errors.append(message_type)
        return self

    def transport_error(self, times: int = 1) -> SandboxScript:
        """The next ``times`` sends fail with a retryable 503, and nothing of them is kept."""
        if times < 0:
            raise ValueError("times must be >= 0")
        with self._lock:
            self._transport_errors += times
        return self

    def duplicate_receipts(self, enabled: bool = True) -> SandboxScript:
        """Deliver every receipt twice (two cursors, the same bytes)."""
        with self._lock:
            self._duplicate_receipts = enabled
        return self

    def misbill(self, order_no: str, vat: str | Decimal) -> SandboxScript:
        """The CEB816 tax bill of ``order_no``'s inventory bills ``vat`` CNY more VAT (negative: less)
        than customs' own computation: a bill that disagrees with the gateway's quote."""
        try:
            amount = Decimal(str(vat))
        except InvalidOperation:
            raise ValueError(f"misbill(vat=...) takes an amount in CNY, got {vat!r}") from None
        if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")) or amount == 0:
            raise ValueError(f"misbill(vat=...) takes a non-zero amount in fen, got {vat!r}")
        with self._lock:
            self._misbills[order_no] = amount
        return self

    # -- data form ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict | None) -> SandboxScript:
        script = cls()
        if not data:
            return script
        unknown = set(data) - _KEYS
        if unknown:
            raise ValueError(f"unknown sandbox script keys {sorted(unknown)}; known: {sorted(_KEYS)}")
        for item in data.get("reject", []):
            script.reject(item["order_no"], item["reason"], item.get("code", "100"),
                          item.get("on", "CEB621Message"))
        for order_no in data.get("inspect", []):
            script.inspect(order_no)
        for message_type in data.get("format_error", []):
            script.format_error(message_type)
        script.transport_error(int(data.get("transport_error", 0)))
        script.duplicate_receipts(bool(data.get("duplicate_receipts", False)))
        for item in data.get("misbill", []):
            script.misbill(item["order_no"], item["vat"])
        return script

    @classmethod
    def from_json(cls, text: str | bytes) -> SandboxScript:
        return cls.from_dict(json.loads(text))

    def to_dict(self) -> dict:
        with self._lock:
            return {
                "reject": [r.to_dict() for r in self._rejections.values()],
                "inspect": sorted(self._inspections),
                "format_error": list(self._format_errors),
                "transport_error": self._transport_errors,
                "duplicate_receipts": self._duplicate_receipts,
                "misbill": [{"order_no": o, "vat": str(v)} for o, v in self._misbills.items()],
            }

    # -- used by the government --------------------------------------------------------------

    def take_transport_error(self) -> bool:
        with self._lock:
            if self._transport_errors > 0:
                self._transport_errors -= 1
                return True
            return False

    def take_format_error(self, message_type: str) -> bool:
        with self._lock:
            if message_type in self._format_errors:
                self._format_errors.remove(message_type)
                return True
            return False

    def rejection_for(self, message_type: str, order_no: str) -> ScriptedRejection | None:
        with self._lock:
            rejection = self._rejections.get(order_no)
        if rejection is not None and message_type in rejection.on:
            return rejection
        return None

    def inspects(self, order_no: str) -> bool:
        with self._lock:
            return order_no in self._inspections

    def misbilled_vat(self, order_no: str) -> Decimal:
        """What the tax bill of ``order_no`` adds to the VAT customs computed (0: a true bill)."""
        with self._lock:
            return self._misbills.get(order_no, Decimal(0))

    @property
    def duplicates_receipts(self) -> bool:
        with self._lock:
            return self._duplicate_receipts
