"""What the other parties of a one-stop provider file (docs/site-filings.md): the carrier's waybill status
(CEB513, 签收), the supervised-site operator's entry list of direct-mail parcels (CEB711, 入库明细单) and
its tally of returned export parcels (CEB215, 理货明细单). None of them belongs to one order: each is
filed on its own, from a JSON document.

Same two passes as an order's intake: the JSON Schema beside this module (shape, lengths, codes), then
the named rules below. Every problem names the field (a JSON path) and the rule. Pure: no I/O.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ..common.dates import parse_datetime
from ..common.parties import Party, party
from ..common.schema import OrderSchema, unreal_dates
from ..problems import Problem

SIGNED = "S"      # logisticsStatus: 签收, the only value the standard allows
IMPORT = "I"      # ieFlag of CEB711 (direct-mail import) and CEB215 ("出口退货填I")

T = TypeVar("T")


@dataclass(frozen=True)
class WaybillStatus:
    waybill_no: str
    signed_at: datetime
    status: str = SIGNED
    note: str | None = None


@dataclass(frozen=True)
class LogisticsStatusReport:
    """CEB513: one carrier reports 1..100 of its waybills signed for."""

    logistics: Party
    statuses: tuple[WaybillStatus, ...]


@dataclass(frozen=True)
class EnteredParcel:
    waybill_no: str
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class SiteBill:
    """What the site operator's documents say of the bill of lading they list parcels of (CEB711,
    CEB215): the customs office, the operator and the carrier, the bill and how it came."""

    customs_code: str
    operator: Party               # 监管场所经营人
    logistics: Party
    bill_no: str
    transport_mode: str
    voyage_no: str
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class EntryList(SiteBill):
    """CEB711: the parcels of one bill of lading that entered the supervised site (exactly one list)."""

    entry_no: str                 # copNo, ours: the CEB712 receipt names it
    conveyance_no: str
    parcels: tuple[EnteredParcel, ...]
    unload_location: str | None = None


@dataclass(frozen=True)
class TalliedParcel:
    waybill_no: str
    invt_no: str                  # the original export inventory
    return_no: str                # coElNo, ours: the CEB216 receipt names it
    pre_no: str | None = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReturnTally(SiteBill):
    """CEB215: returned export parcels of one bill of lading tallied on arrival (1..100)."""

    conveyance_name: str
    parcels: tuple[TalliedParcel, ...]
    location: str | None = None


_SCHEMAS = {name: OrderSchema(__package__, f"{name}.schema.json")
            for name in ("logistics-status", "entry-list", "return-tally")}
SCHEMAS = _SCHEMAS     # the documents' JSON Schemas (the API's OpenAPI document shows them)


def _duplicates(items, key: Callable[[Any], Any], path: str, field: str, rule: str, what: str) -> list[Problem]:
    seen: dict = {}
    problems = []
    for i, item in enumerate(items):
        k = key(item)
        if k in seen:
            problems.append(Problem(f"{path}[{i}].{field}", rule, f"{what} {k} is listed twice (first at [{seen[k]}])"))
        else:
            seen[k] = i
    return problems


def _site_bill(d: dict) -> dict:
    """The ``SiteBill`` fields of an entry list's or a return tally's JSON."""
    return dict(customs_code=d["customs_code"], operator=party(d["operator"]), logistics=party(d["logistics"]),
                bill_no=d["bill_no"], transport_mode=d["transport_mode"], voyage_no=d["voyage_no"], note=d.get("note"))


def _parse(name: str, data, dates: Callable[[dict], list[Problem]], build: Callable[[dict], T],
           check: Callable[[T], list[Problem]]) -> T:
    return _SCHEMAS[name].parse(data, dates=dates, build=build, check=check)


def parse_logistics_status(data, *, on: datetime) -> LogisticsStatusReport:
    """A waybill status report (dict or JSON text). ``on``: now; a parcel cannot be signed for later.
    Raises OrderInvalid with every problem."""

    def dates(d: dict) -> list[Problem]:
        return unreal_dates((f"$.statuses[{i}].signed_at", s.get("signed_at"), parse_datetime)
                            for i, s in enumerate(d["statuses"]))

    def build(d: dict) -> LogisticsStatusReport:
        return LogisticsStatusReport(
            logistics=party(d["logistics"]),
            statuses=tuple(WaybillStatus(waybill_no=s["waybill_no"], signed_at=parse_datetime(s["signed_at"]),
                                         status=s.get("status", SIGNED), note=s.get("note"))
                           for s in d["statuses"]))

    def check(report: LogisticsStatusReport) -> list[Problem]:
        problems = _duplicates(report.statuses, lambda s: s.waybill_no, "$.statuses", "waybill_no",
                               "duplicate-waybill", "waybill")
        problems += [Problem(f"$.statuses[{i}].signed_at", "not-future",
                             f"{s.signed_at.isoformat()} is later than now ({on.isoformat(timespec='seconds')}): "
                             "a status reports what happened")
                     for i, s in enumerate(report.statuses) if s.signed_at > on]
        return problems

    return _parse("logistics-status", data, dates, build, check)


def parse_entry_list(data) -> EntryList:
    """An entry list of direct-mail parcels (dict or JSON text). Raises OrderInvalid with every problem."""

    def build(d: dict) -> EntryList:
        return EntryList(
            **_site_bill(d), entry_no=d["entry_no"], conveyance_no=d["conveyance_no"],
            parcels=tuple(EnteredParcel(waybill_no=p["waybill_no"], note=p.get("note")) for p in d["parcels"]),
            unload_location=d.get("unload_location"))

    def check(entry: EntryList) -> list[Problem]:
        return _duplicates(entry.parcels, lambda p: p.waybill_no, "$.parcels", "waybill_no",
                           "duplicate-waybill", "waybill")

    return _parse("entry-list", data, lambda d: [], build, check)


def parse_return_tally(data) -> ReturnTally:
    """A return tally (dict or JSON text). Raises OrderInvalid with every problem."""

    def build(d: dict) -> ReturnTally:
        return ReturnTally(
            **_site_bill(d), conveyance_name=d["conveyance_name"],
            parcels=tuple(TalliedParcel(waybill_no=p["waybill_no"], invt_no=p["invt_no"], return_no=p["return_no"],
                                        pre_no=p.get("pre_no"), note=p.get("note")) for p in d["parcels"]),
            location=d.get("location"))

    def check(tally: ReturnTally) -> list[Problem]:
        return (_duplicates(tally.parcels, lambda p: p.return_no, "$.parcels", "return_no",
                            "duplicate-return-no", "return number (coElNo)")
                + _duplicates(tally.parcels, lambda p: p.waybill_no, "$.parcels", "waybill_no",
                              "duplicate-waybill", "waybill"))

    return _parse("return-tally", data, lambda d: [], build, check)
