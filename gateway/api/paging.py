"""Every list endpoint reads its query the same way: the parameters it documents and no other
(an unknown one is a 400 naming it), ``limit`` 1..1000 (default 100) and the opaque ``cursor`` of
``service.listing`` (the ``next`` of the page before). Answers ``{<items>: [...], "next": cursor|null}``."""
from __future__ import annotations

from collections.abc import Callable

from flask import jsonify, request

from gateway.service.listing import DEFAULT_LIMIT, MAX_CURSOR_LENGTH, MAX_LIMIT, BadCursor, Page
from gateway.service.order_search import FilterInvalid

from . import params
from .errors import BadParameter

PAGING = ("limit", "cursor")


def only(*names: str) -> None:
    """Refuse any query parameter not among ``names`` (and the paging pair)."""
    allowed = set(names) | set(PAGING)
    for name in request.args:
        if name not in allowed:
            raise BadParameter(name[:40], f"not a parameter of this endpoint (parameters: {', '.join(sorted(allowed))})")
    for name in allowed:
        if len(request.args.getlist(name)) > 1:
            raise BadParameter(name, "given more than once")


def limit() -> int:
    return params.bounded_int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)


def cursor() -> str | None:
    value = request.args.get("cursor") or None
    if value is not None and len(value) > MAX_CURSOR_LENGTH:
        raise BadParameter("cursor", "not a cursor given by this list")
    return value


def page(read: Callable[[str | None, int], Page], key: str, **extra):
    """Run ``read(cursor, limit)`` and answer the page; a refused cursor or filter is a 400."""
    try:
        got = read(cursor(), limit())
    except BadCursor as exc:
        raise BadParameter("cursor", str(exc)) from None
    except FilterInvalid as exc:
        raise BadParameter(exc.name, exc.message) from None
    return jsonify({**extra, key: got.items, "next": got.next})


def filters(names: tuple[str, ...]) -> dict[str, str]:
    return {n: request.args[n] for n in names if n in request.args}
