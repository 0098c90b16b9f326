"""What each view promises, declared beside it and read by ``api.openapi`` (the OpenAPI document is
generated from the app's url_map and these declarations; nothing is kept by hand elsewhere).

    @bp.get("/orders")
    @doc("List the tenant's orders", auth=TENANT, query=ORDER_FILTERS, paged="orders",
         responses={200: ref("OrderPage")})
    @tenant_required
    def list_orders(): ...

``auth`` is one or more security schemes (``TENANT``, ``AUDITOR``, ``OPERATOR``) or None (public);
``query`` maps parameter names to (schema, description); ``paged`` adds ``limit`` and ``cursor``;
``body`` is a request schema (JSON) or ``(media type, schema)``; ``responses`` maps a status to a
schema (JSON), ``(media type, schema)`` or None (no body). Every operation also documents the
problem+json error answer as its ``default`` response.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TENANT, AUDITOR, OPERATOR = "tenant", "auditor", "operator"


@dataclass(frozen=True)
class Contract:
    summary: str
    auth: tuple[str, ...]
    query: dict[str, tuple[dict, str]] = field(default_factory=dict)
    paged: str | None = None
    body: Any = None
    responses: dict[int, Any] = field(default_factory=dict)
    description: str = ""
    tags: tuple[str, ...] = ()
    headers: dict[str, tuple[dict, str]] = field(default_factory=dict)


def doc(summary: str, *, auth: str | tuple[str, ...] | None = TENANT, query: dict | None = None,
        paged: str | None = None, body: Any = None, responses: dict | None = None, description: str = "",
        tags: tuple[str, ...] = (), headers: dict | None = None) -> Callable:
    schemes = () if auth is None else (auth,) if isinstance(auth, str) else tuple(auth)

    def mark(view: Callable) -> Callable:
        view.__contract__ = Contract(summary, schemes, dict(query or {}), paged, body, dict(responses or {}),  # type: ignore[attr-defined]
                                     description or (view.__doc__ or "").strip(), tags, dict(headers or {}))
        return view

    return mark


def contract_of(view: Callable) -> Contract | None:
    current: Callable | None = view
    while current is not None:
        found = getattr(current, "__contract__", None)
        if found is not None:
            return found
        current = getattr(current, "__wrapped__", None)
    return None


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def text(max_length: int = 100, **extra) -> dict:
    return {"type": "string", "maxLength": max_length, **extra}


def enum(*values: str) -> dict:
    return {"type": "string", "enum": list(values)}


DATE = {"type": "string", "format": "date"}
INSTANT = {"type": "string", "description": "a date (00:00 China time) or an RFC 3339 date-time with its offset",
           "maxLength": 40}
NULLABLE_TEXT = {"type": ["string", "null"]}
