"""A summary application on its own (CEB701, docs/site-filings.md): the declarant lists the export
inventories (invtNo) declared with statisticsFlag B that one customs declaration is to summarise, as the
official sample does. JSON in (``summary.schema.json`` beside this module), then the named rules; every
problem names the field and the rule. Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..common.parties import Party, party
from ..common.schema import OrderSchema
from ..problems import Problem

SCHEMA = OrderSchema(__package__, "summary.schema.json")


@dataclass(frozen=True)
class SummaryApplication:
    summary_no: str                 # copNo, ours: the CEB702 receipt names it
    customs_code: str
    declarant: Party                # agentCode / agentName
    consignor: Party                # ebcCode / ebcName
    declaration_agent: Party        # declAgentCode / declAgentName
    inventories: tuple[str, ...]    # invtNo, in the order given
    supervision_site: str | None = None
    by_owner: bool = False
    note: str | None = None


def _build(d: dict) -> SummaryApplication:
    declarant = party(d["declarant"])
    agent = d.get("declaration_agent")
    return SummaryApplication(
        summary_no=d["summary_no"], customs_code=d["customs_code"], declarant=declarant,
        consignor=party(d["consignor"]), declaration_agent=party(agent) if agent else declarant,
        inventories=tuple(d["inventories"]), supervision_site=d.get("supervision_site"),
        by_owner=bool(d.get("by_owner", False)), note=d.get("note"))


def _check(application: SummaryApplication) -> list[Problem]:
    seen: dict[str, int] = {}
    problems = []
    for i, invt_no in enumerate(application.inventories):
        if invt_no in seen:
            problems.append(Problem(f"$.inventories[{i}]", "duplicate-inventory",
                                    f"inventory {invt_no} is listed twice (first at [{seen[invt_no]}])"))
        else:
            seen[invt_no] = i
    return problems


def parse_summary_application(data) -> SummaryApplication:
    """A summary application (dict or JSON text). Raises OrderInvalid with every problem."""
    return SCHEMA.parse(data, dates=lambda d: [], build=_build, check=_check)
