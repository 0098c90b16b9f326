"""The one cursor scheme of every list (API, console, CLI): keyset pages behind an opaque cursor.

A page is ``Page(items, next)``: ``next`` is None at the end, else the cursor of the page after it.
A cursor is ``base64url(JSON [kind, filters digest, position]) "." base64url(check)``:

* ``kind`` names the list (``orders``, ``webhook-deliveries`` …): a cursor of one list is refused by
  another;
* the filters digest binds it to the filter set it was made with: the same cursor with other
  filters is refused (a client cannot page through one query with the position of another);
* ``position`` is the keyset of the last row given (e.g. ``(received_at, id)``): the next page is
  the rows strictly after it in the list's order, read with an index, never an OFFSET;
* ``check`` is a keyed digest of the rest (HMAC-SHA256, 16 bytes): any edit is refused.

The key defaults to a fixed label: a cursor carries no authority (every list is scoped to its
tenant or grant), so the check is for tamper-evidence and strict decoding, not secrecy. Refusals
raise ``BadCursor`` (the API answers 400 naming the ``cursor`` parameter). Independent of Flask.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, tuple_

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000             # the documented maximum of ``limit`` on every list
MAX_CURSOR_LENGTH = 512
_KEY = b"gateway list cursor v1"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{4,480}\.[A-Za-z0-9_-]{22}")


class BadCursor(ValueError):
    """The cursor is not one this list gave for these filters."""


@dataclass(frozen=True)
class Page:
    items: list
    next: str | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def filters_digest(filters: Mapping[str, Any]) -> str:
    """Order-independent digest of the filters that are set (None and "" mean not set)."""
    given = {k: _plain(v) for k, v in filters.items() if v not in (None, "")}
    text = json.dumps(given, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode_value(value: Any) -> list:
    if isinstance(value, datetime):
        return ["d", value.isoformat()]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"a cursor position holds str, int or datetime, not {type(value).__name__}")
    return ["i" if isinstance(value, int) else "s", value]


def _decode_value(item: Any) -> Any:
    if not (isinstance(item, list) and len(item) == 2 and item[0] in ("d", "i", "s")):
        raise BadCursor("not a cursor of this list")
    tag, value = item
    if tag == "i" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tag == "s" and isinstance(value, str) and len(value) <= 200:
        return value
    if tag == "d" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise BadCursor("not a cursor of this list")


def encode(kind: str, filters: Mapping[str, Any], position: Sequence[Any], key: bytes = _KEY) -> str:
    payload = json.dumps([kind, filters_digest(filters), [_encode_value(v) for v in position]],
                         separators=(",", ":"), ensure_ascii=True).encode()
    check = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    return f"{_b64(payload)}.{_b64(check)}"


def decode(token: str, kind: str, filters: Mapping[str, Any], size: int, key: bytes = _KEY) -> tuple:
    """The position a cursor holds; BadCursor when it was altered, belongs to another list or
    another filter set, or is not a cursor at all."""
    if len(token) > MAX_CURSOR_LENGTH or not _TOKEN.fullmatch(token):
        raise BadCursor("not a cursor given by this list (use the 'next' value of the previous page)")
    body, check = token.split(".")
    try:
        payload, mac = _unb64(body), _unb64(check)
    except (binascii.Error, ValueError):
        raise BadCursor("not a cursor given by this list") from None
    if not hmac.compare_digest(hmac.new(key, payload, hashlib.sha256).digest()[:16], mac):
        raise BadCursor("the cursor was altered")
    try:
        got_kind, digest, position = json.loads(payload)
    except (ValueError, TypeError):
        raise BadCursor("not a cursor given by this list") from None
    if got_kind != kind:
        raise BadCursor(f"a cursor of another list ({got_kind!r}), not of {kind!r}")
    if digest != filters_digest(filters):
        raise BadCursor("the cursor was made with other filters: send the same filters as the first page")
    if not isinstance(position, list) or len(position) != size:
        raise BadCursor("not a cursor of this list")
    return tuple(_decode_value(v) for v in position)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit is 1..{MAX_LIMIT}")
    return limit


def keyset_page(session, stmt: Select, keys: Sequence, *, kind: str, filters: Mapping[str, Any],
                cursor: str | None, limit: int, descending: bool = False,
                view: Callable[[list], list] | None = None) -> Page:
    """One page of ``stmt`` ordered by ``keys`` (columns whose values are unique together, e.g.
    ``(Order.received_at, Order.id)``), after the cursor's position. Reads ``limit + 1`` rows to
    know whether a next page exists. ``view`` turns the page's rows into its items (one batch)."""
    check_limit(limit)
    if cursor:
        position = decode(cursor, kind, filters, len(keys))
        after = tuple_(*keys) < tuple_(*position) if descending else tuple_(*keys) > tuple_(*position)
        stmt = stmt.where(after)
    stmt = stmt.order_by(*[k.desc() if descending else k.asc() for k in keys]).limit(limit + 1)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode(kind, filters, [getattr(rows[-1], k.key) for k in keys]) if more and rows else None
    return Page(view(rows) if view else rows, nxt)


def list_page(items: Sequence, position: Callable[[Any], tuple], *, kind: str, filters: Mapping[str, Any],
              cursor: str | None, limit: int) -> Page:
    """The same scheme over a short list already in memory, sorted by ``position`` (e.g. a
    tenant's signing keys from the key store)."""
    check_limit(limit)
    ordered = sorted(items, key=position)
    if cursor:
        sample = position(ordered[0]) if ordered else ()
        start = decode(cursor, kind, filters, len(sample) if ordered else _size_of(cursor))
        ordered = [i for i in ordered if position(i) > start]
    page = ordered[:limit]
    nxt = encode(kind, filters, position(page[-1])) if len(ordered) > limit else None
    return Page(list(page), nxt)


def _size_of(token: str) -> int:
    try:
        return len(json.loads(_unb64(token.split(".")[0]))[2])
    except (ValueError, TypeError, IndexError, binascii.Error):
        raise BadCursor("not a cursor given by this list") from None
