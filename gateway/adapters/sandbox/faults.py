"""Scripted transport faults for the sandbox process's faces (HTTP, SOAP, AMQP, files).

The business script (SandboxScript: rejections, inspections, CEB900) lives in the government;
these faults live on the wire in front of it. As data (``--script`` file key ``"transport"``,
or ``POST /admin/faults`` at run time, which replaces the whole set)::

    {"delay": 0.2,                                       every request / message waits first
     "error_5xx": {"times": 2, "status": 503},           answer 5xx, nothing kept
     "drop": {"times": 1},                               close the connection, no answer, nothing kept
     "timeout_after_accept": {"times": 1, "hold": 3.0},  keep the message, answer only after ``hold`` s
     "duplicate_answers": {"times": 1},                  the next message is delivered to the
                                                         government twice (the second is answered
                                                         "duplicate")
     "duplicate_receipts": true,                         every receipt is delivered twice
     "out_of_order": true,                               receipts held back one pull, then
                                                         delivered after the newer ones
     "downtime": {"seconds": 5, "mode": "503"},          "503": answer 503; "refuse": close the
                                                         listening socket (connection refused)
     "on": ["send"],                                     which operations the counted faults hit:
                                                         send, receipts, lookup (default: send)
     "faces": ["http", "soap"]}                          which faces (default: all)

Counted faults (error_5xx, drop, timeout_after_accept, duplicate_answers) are used up one by one.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

FACES = ("http", "soap", "amqp", "files")
OPERATIONS = ("send", "receipts", "lookup")
_KEYS = {"delay", "error_5xx", "drop", "timeout_after_accept", "duplicate_answers", "duplicate_receipts",
         "out_of_order", "downtime", "on", "faces"}


@dataclass(frozen=True)
class Action:
    """What a face does with one request. ``kind``: pass, error_5xx, drop, timeout_after_accept,
    duplicate_answers, down_503, down_refuse."""

    kind: str = "pass"
    status: int = 503
    hold: float = 0.0
    delay: float = 0.0


class TransportFaults:
    def __init__(self, monotonic=time.monotonic) -> None:
        self._lock = threading.Lock()
        self._now = monotonic
        self._data: dict = {}
        self._counts: dict[str, int] = {}
        self._down_until = 0.0
        self._down_mode = "503"
        self.applied: dict[str, int] = {}

    # -- configuring ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict | None) -> TransportFaults:
        faults = cls()
        faults.replace(data or {})
        return faults

    def replace(self, data: dict) -> None:
        """Validate and install a new set of faults (the old ones are dropped)."""
        checked = _check(data)
        with self._lock:
            self._data = checked
            self._counts = {k: int(checked[k].get("times", 1)) for k in
                            ("error_5xx", "drop", "timeout_after_accept", "duplicate_answers") if k in checked}
            down = checked.get("downtime")
            if down:
                self._down_until = self._now() + float(down["seconds"])
                self._down_mode = down.get("mode", "503")
            else:
                self._down_until = 0.0

    def to_dict(self) -> dict:
        with self._lock:
            data = dict(self._data)
            for key, left in self._counts.items():
                data[key] = dict(data[key], times=left)
            data["down_for"] = max(0.0, round(self._down_until - self._now(), 3))
            data["applied"] = dict(self.applied)
            return data

    # -- asked by the faces --------------------------------------------------------------------

    def _hits(self, face: str, operation: str | None = None) -> bool:
        faces = self._data.get("faces")
        if faces and face not in faces:
            return False
        return operation is None or operation in self._data.get("on", ["send"])

    def downtime(self, face: str) -> tuple[float, str]:
        """(seconds left, mode) of a downtime window hitting ``face``; (0, "") when up."""
        with self._lock:
            left = self._down_until - self._now()
            if left > 0 and self._hits(face):
                return left, self._down_mode
            return 0.0, ""

    def action(self, face: str, operation: str) -> Action:
        """The fault for one request of ``operation`` on ``face`` (counted faults are used up)."""
        with self._lock:
            delay = float(self._data.get("delay", 0.0)) if self._hits(face) else 0.0
            if self._down_until - self._now() > 0 and self._hits(face):
                kind = "down_refuse" if self._down_mode == "refuse" else "down_503"
                return self._count(Action(kind, 503, delay=delay))
            if not self._hits(face, operation):
                return Action(delay=delay)
            for kind in ("drop", "error_5xx", "timeout_after_accept", "duplicate_answers"):
                if self._counts.get(kind, 0) > 0:
                    if kind in ("timeout_after_accept", "duplicate_answers") and operation != "send":
                        continue
                    self._counts[kind] -= 1
                    spec = self._data[kind]
                    return self._count(Action(kind, int(spec.get("status", 503)), float(spec.get("hold", 0.0)),
                                              delay))
            return Action(delay=delay)

    def _count(self, action: Action) -> Action:
        self.applied[action.kind] = self.applied.get(action.kind, 0) + 1
        return action

    def duplicates_receipts(self, face: str | None = None) -> bool:
        with self._lock:
            return bool(self._data.get("duplicate_receipts")) and (face is None or self._hits(face))

    def out_of_order(self) -> bool:
        with self._lock:
            return bool(self._data.get("out_of_order"))


def _check(data: dict) -> dict:
    if not isinstance(data, dict):
        raise ValueError(f"transport faults must be an object, got {data!r}")
    unknown = set(data) - _KEYS
    if unknown:
        raise ValueError(f"unknown transport fault keys {sorted(unknown)}; known: {sorted(_KEYS)}")
    out = dict(data)
    if "delay" in out and (not isinstance(out["delay"], (int, float)) or not 0 <= out["delay"] <= 300):
        raise ValueError(f"delay must be 0..300 seconds, got {out['delay']!r}")
    for key in ("error_5xx", "drop", "timeout_after_accept", "duplicate_answers"):
        if key not in out:
            continue
        spec = out[key]
        if isinstance(spec, bool) or isinstance(spec, int):
            spec = {"times": int(spec)}
        if not isinstance(spec, dict):
            raise ValueError(f"{key} must be an object like {{\"times\": 1}}, got {spec!r}")
        times = spec.get("times", 1)
        if not isinstance(times, int) or times < 0:
            raise ValueError(f"{key}.times must be a whole number >= 0, got {times!r}")
        if key == "error_5xx" and not 500 <= int(spec.get("status", 503)) <= 599:
            raise ValueError(f"error_5xx.status must be 500..599, got {spec.get('status')!r}")
        if key == "timeout_after_accept" and not 0 < float(spec.get("hold", 0)) <= 600:
            raise ValueError("timeout_after_accept.hold must be 0 < hold <= 600 seconds "
                             "(longer than the client's read timeout)")
        out[key] = spec
    if "downtime" in out:
        down = out["downtime"]
        if not isinstance(down, dict) or not 0 < float(down.get("seconds", 0)) <= 3600:
            raise ValueError(f"downtime must be like {{\"seconds\": 5, \"mode\": \"503\"}}, got {down!r}")
        if down.get("mode", "503") not in ("503", "refuse"):
            raise ValueError(f"downtime.mode must be '503' or 'refuse', got {down.get('mode')!r}")
    for key, allowed in (("on", OPERATIONS), ("faces", FACES)):
        if key in out:
            values = out[key]
            if not isinstance(values, list) or not set(values) <= set(allowed):
                raise ValueError(f"{key} must be a list from {list(allowed)}, got {values!r}")
    return out
