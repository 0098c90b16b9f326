"""Query parameters read with bounds: a bad one is a 400 problem naming the parameter
(``?name``, rule ``query-parameter``), never a 500 and never silently clamped."""
from __future__ import annotations

import re

from flask import request

from .errors import BadParameter

_DIGITS = re.compile(r"[0-9]{1,19}")     # ASCII digits only ("²" and "٣" are digits to str.isdigit)
CURSOR_MAX = 2**63 - 1                   # the largest id a BIGINT column holds


def bounded_int(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise BadParameter(name, f"a whole number {low}..{high:,}, not {text[:40]!r}")
    return int(text)


def cursor(name: str = "after") -> int:
    """An id cursor (0 = from the start)."""
    return bounded_int(name, 0, 0, CURSOR_MAX)


def choice(name: str, allowed: tuple[str, ...]) -> str | None:
    text = request.args.get(name) or None
    if text is not None and text not in allowed:
        raise BadParameter(name, f"one of {', '.join(allowed)}, not {text[:40]!r}")
    return text


def text(name: str, max_length: int = 100) -> str | None:
    """A free identifier parameter (e.g. a subject id): bounded length, printable."""
    value = request.args.get(name) or None
    if value is not None and (len(value) > max_length or not value.isprintable()):
        raise BadParameter(name, f"at most {max_length} printable characters")
    return value
