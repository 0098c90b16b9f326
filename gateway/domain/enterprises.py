"""The enterprises an order files for, with the JSON path that names each: a tenant may file only
under enterprise codes registered for it (its own transmitting-enterprise code, and its clients'
for a one-stop provider). Pure: the service compares these with the tenant's registry.

| format | enterprises named (JSON path → CEB / DecMessage field) |
|---|---|
| CBEC import (1210, 9610) | platform.code → ebpCode, merchant.code → ebcCode, declarant.code → agentCode, guarantor.code → assureCode, payment.company.code → payCode, logistics.company.code → logisticsCode, bonded.area.code → areaCode |
| CBEC export (9610, 1210, 1239) | platform (except "无"), merchant, owner (except "NO"), declarant, payment.company (when given), logistics.company, special_zone.enterprise → iacCode, summary.declaration_agent → declAgentCode, arrival.operator → operatorCode |
| general trade (0110) | trader, owner, declarant: each of code (except "NO"), scc and ciq_code that is given |

Every identifier counts on its own: naming a registered credit code next to someone else's
customs code is refused for the customs code.
"""
from __future__ import annotations

from .general_trade.order import GENERAL_TRADE

RULE = "enterprise-not-registered"
NONE = frozenset({"NO", "无"})    # "no such enterprise": an owner without a code, an export without a platform


def _party(path: str, party) -> list[tuple[str, str]]:
    return [(f"{path}.code", party.code)] if party is not None and party.code else []


def _cbec_import(o) -> list[tuple[str, str]]:
    named = [*_party("$.platform", o.platform), *_party("$.merchant", o.merchant), *_party("$.declarant", o.declarant),
             ("$.guarantor.code", o.guarantor_code), *_party("$.payment.company", o.payment.company),
             *_party("$.logistics.company", o.logistics.company)]
    if o.bonded is not None:
        named += _party("$.bonded.area", o.bonded.area)
    return named


def _cbec_export(o) -> list[tuple[str, str]]:
    named = [*_party("$.platform", o.platform), *_party("$.merchant", o.merchant), *_party("$.owner", o.owner),
             *_party("$.declarant", o.declarant), *_party("$.payment.company", o.payment.company),
             *_party("$.logistics.company", o.logistics.company)]
    if o.special_zone is not None:
        named += _party("$.special_zone.enterprise", o.special_zone.enterprise)
    if o.summary is not None:
        named += _party("$.summary.declaration_agent", o.summary.declaration_agent)
    if o.arrival is not None:
        named += _party("$.arrival.operator", o.arrival.operator)
    return named


def _general_trade(o) -> list[tuple[str, str]]:
    named = []
    for role in ("trader", "owner", "declarant"):
        e = getattr(o, role)
        named += [(f"$.{role}.{attr}", getattr(e, attr)) for attr in ("code", "scc", "ciq_code") if getattr(e, attr)]
    return named


def named_enterprises(order) -> list[tuple[str, str]]:
    """(JSON path, code) of every enterprise the order files for, each code once (first path)."""
    if getattr(order, "regime", None) == GENERAL_TRADE:
        named = _general_trade(order)
    elif order.direction == "export":
        named = _cbec_export(order)
    else:
        named = _cbec_import(order)
    seen: dict[str, str] = {}
    for path, code in named:
        if code not in NONE:
            seen.setdefault(code, path)
    return [(path, code) for code, path in seen.items()]


def unregistered(order, registered) -> list[tuple[str, str]]:
    """(path, code) of every enterprise the order names that is not in ``registered``."""
    return [(path, code) for path, code in named_enterprises(order) if code not in registered]
