"""What customs' platDataOpen call may cost us (issue 9, item 6): the call is unauthenticated by
design (customs calls the URL registered for the enterprise), so everything it can trigger is
bounded here — an optional source-address allow-list, a per-tenant rate limit, a bounded and
checked ``openReq``. Idempotency per (order, sessionID) is kept in the database
(``realtime179_calls``) by ``Realtime179.open_call``.

The rate limit is a token bucket per tenant in the process's memory: with several API processes
each has its own budget (the limit is per process; put the sum in front of customs' needs)."""
from __future__ import annotations

import ipaddress
import json
import re
import threading
from dataclasses import dataclass

from gateway.domain import text_rules

MAX_OPEN_REQ = 2048              # characters of the openReq form field
MAX_BODY = 8192                  # bytes of the whole request (the API refuses more with 413)
_ORDER_NO = re.compile(r"^[^\x00-\x1f\x7f]{1,60}$")
_SESSION_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


class CallRefused(ValueError):
    """``status``: the HTTP status to answer; the message is safe to show the caller."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse_open_req(open_req) -> tuple[str, str]:
    """(orderNo, sessionID) of a well-formed, bounded openReq; raises CallRefused (400/413)."""
    if not isinstance(open_req, str) or not open_req:
        raise CallRefused(400, "openReq must be JSON with orderNo, sessionID, serviceTime")
    if len(open_req) > MAX_OPEN_REQ:
        raise CallRefused(413, f"openReq longer than {MAX_OPEN_REQ} characters")
    try:
        request = json.loads(open_req)
        order_no, session_id = request["orderNo"], request["sessionID"]
    except (ValueError, KeyError, TypeError):
        raise CallRefused(400, "openReq must be JSON with orderNo, sessionID, serviceTime") from None
    if not isinstance(order_no, str) or not _ORDER_NO.match(order_no):
        raise CallRefused(400, "orderNo must be text of 1 to 60 characters")
    if not isinstance(session_id, (str, int)) or not _SESSION_ID.match(str(session_id)):
        raise CallRefused(400, "sessionID must be 1 to 128 printable characters")
    if text_rules.problems([order_no, str(session_id)]):      # text XML cannot carry (docs/errors.md)
        raise CallRefused(400, "orderNo and sessionID must be text XML can carry")
    return order_no, str(session_id)


@dataclass
class _Bucket:
    tokens: float
    at: float


class CallGuard:
    def __init__(self, clock, per_minute: int = 60, sources=()):
        self.clock = clock
        self.per_minute = per_minute
        self.sources = tuple(ipaddress.ip_network(s, strict=False) for s in sources)
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def check_source(self, address: str | None) -> None:
        if not self.sources:
            return
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            raise CallRefused(403, "source address not allowed") from None
        if not any(ip.version == n.version and ip in n for n in self.sources):
            raise CallRefused(403, "source address not allowed")

    def take(self, tenant_id: str) -> None:
        """One call of ``tenant_id``'s budget (``per_minute``, refilled continuously)."""
        now = self.clock.now().timestamp()
        with self._lock:
            bucket = self._buckets.setdefault(tenant_id, _Bucket(float(self.per_minute), now))
            bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.at) * self.per_minute / 60.0)
            bucket.at = now
            if bucket.tokens < 1.0:
                raise CallRefused(429, "too many requests")
            bucket.tokens -= 1.0
