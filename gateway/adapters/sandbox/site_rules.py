"""What the simulated customs checks on the other parties' filings, and how it answers them
(docs/adapters.md "The other parties' filings"; facts: ../shared/domain/ceb-messages.md):

    CEB513 waybill status (carrier)          → CEB514  2 → 399 海关审结
    CEB711 entry list (supervised site)      → CEB712  2 → 120 (rkdNo 入库单编号) → 399
    CEB215 return tally (supervised site)    → CEB216  2 → 399
    refused                                  → 2 → 100 海关退单, the reason in returnInfo

The final codes are those the receipts' XSD annotations list (§5, §6: CEB514 "2/3/4/100/399", no 120;
CEB712 "…120海关入库/399海关审结"; CEB216 "1/2/3/4/100/399"). The answers take the form of the official
sample receipts (samples/import/CEB514Message.xml, CEB712Message.xml, export/CEB216Message.xml): one
return entity per declared entity, echoing its guid and the fields its key is made of.

Checks (customs' own, all reported together under 100; the e-port's −505000…−505017 waybill-status and
−800000…−800006 entry-list codes are listed in §4.4 without their meanings, so none is invented here):
- CEB513: the waybill is one customs holds (§7 join "waybill status ↔ waybill: logisticsCode +
  logisticsNo": an accepted CEB511, or CEB505 on export), and it was not signed for already;
- CEB711: every listed parcel is an accepted import waybill (CEB511) of the head's carrier, and of the
  head's bill of lading when the waybill names one (§7 join "entry list ↔ waybills: billNo +
  DeliveryList/logisticsNo"); its copNo was not accepted before;
- CEB215: invtNo names an export inventory customs numbered and released (800), no more than a year ago
  (2020 No.44, §7: "returned goods must come back within 1 year of export release"); its coElNo was not
  accepted before.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from .documents import Filing
from .rules import Verdict, _clip, put_newest

TYPES = ("CEB513Message", "CEB711Message", "CEB215Message")
NUMBERED = ("CEB711Message", "CEB215Message")   # the e-port gives them a preNo (their receipts carry it)
RETURN_WITHIN = timedelta(days=365)
REFUSED = "100"

# Business fields each receipt repeats, in schema order (before returnStatus); preNo and rkdNo are the
# e-port's and customs' numbers, filled in by the government.
RECEIPT_IDENTITY = {
    "CEB514Message": ("logisticsCode", "logisticsNo", "logisticsStatus"),
    "CEB712Message": ("customsCode", "operatorCode", "copNo", "preNo", "rkdNo"),
    "CEB216Message": ("operatorCode", "logisticsCode", "logisticsNo", "coElNo", "preNo"),
}
CONCLUDED = ("120", "399")   # customs numbers the entry list (rkdNo) when it takes it in (120)

# (invtNo) -> None when customs never numbered such an export inventory, else when it released it (None
# inside: numbered, not released)
InventoryLookup = Callable[[str], tuple[datetime | None] | None]


def handles(message_type: str) -> bool:
    return message_type in TYPES


class SiteDesk:
    """The accepted waybill statuses, entry lists and tallies, and the checks against customs' records."""

    def __init__(self, import_waybills: dict, export_waybills: dict, export_inventory: InventoryLookup) -> None:
        self._import_waybills = import_waybills     # (logisticsCode, logisticsNo) -> CEB511 Filing
        self._export_waybills = export_waybills     # (logisticsCode, logisticsNo) -> CEB505 Filing
        self._export_inventory = export_inventory
        # the newest MAX_REGISTERED of each (dicts as ordered sets: memory stays bounded)
        self.signed: dict[tuple[str, str, str], None] = {}   # (logisticsCode, logisticsNo, logisticsStatus)
        self.entry_lists: dict[str, None] = {}               # copNo
        self.tallies: dict[str, None] = {}                   # coElNo

    def count(self) -> int:
        return len(self.signed) + len(self.entry_lists) + len(self.tallies)

    def register(self, filing: Filing) -> None:
        g = filing.get
        if filing.message_type == "CEB513Message":
            put_newest(self.signed, (g("logisticsCode"), g("logisticsNo"), g("logisticsStatus")))
        elif filing.message_type == "CEB711Message":
            put_newest(self.entry_lists, g("copNo"))
        else:
            put_newest(self.tallies, g("coElNo"))

    def judge(self, filing: Filing, now: datetime) -> Verdict | None:
        check = {"CEB513Message": self._status, "CEB711Message": self._entry_list,
                 "CEB215Message": self._tally}[filing.message_type]
        reasons = check(filing, now)
        return Verdict(REFUSED, _clip("; ".join(reasons))) if reasons else None

    def _status(self, f: Filing, now: datetime) -> list[str]:
        key = (f.get("logisticsCode"), f.get("logisticsNo"))
        if key not in self._import_waybills and key not in self._export_waybills:
            return [f"运单不存在: logisticsCode {key[0]} logisticsNo {key[1]} "
                    "(customs holds no waybill (CEB511/CEB505) with this number)"]
        if (*key, f.get("logisticsStatus")) in self.signed:
            return [f"运单状态已申报: {key[0]} {key[1]} {f.get('logisticsStatus')} "
                    "(this waybill was already reported signed for)"]
        return []

    def _entry_list(self, f: Filing, now: datetime) -> list[str]:
        problems = []
        if f.get("copNo") in self.entry_lists:
            problems.append(f"入库明细单已申报过: copNo {f.get('copNo')} (this entry list was already declared)")
        carrier, bill = f.get("logisticsCode"), f.get("billNo")
        unknown, other_bill = [], []
        for line in f.lines:
            waybill = self._import_waybills.get((carrier, line.get("logisticsNo")))
            if waybill is None:
                unknown.append(line.get("logisticsNo") or "")
            elif waybill.get("billNo") and waybill.get("billNo") != bill:
                other_bill.append(f"{line.get('logisticsNo')} ({waybill.get('billNo')})")
        if unknown:
            problems.append(f"入库明细单所列运单不存在: {carrier} {', '.join(unknown)} "
                            "(parcels listed that customs holds no waybill (CEB511) for)")
        if other_bill:
            problems.append(f"运单提运单号与入库明细单不一致: billNo {bill} ≠ {', '.join(other_bill)} "
                            "(parcels of another bill of lading)")
        return problems

    def _tally(self, f: Filing, now: datetime) -> list[str]:
        problems = []
        if f.get("coElNo") in self.tallies:
            problems.append(f"理货明细单已申报过: coElNo {f.get('coElNo')} (this tally was already declared)")
        invt_no = f.get("invtNo")
        found = self._export_inventory(invt_no) if invt_no else None
        if found is None:
            problems.append(f"原出口清单不存在: invtNo {invt_no or '-'} "
                            "(customs numbered no export inventory with this number)")
        elif found[0] is None:
            problems.append(f"原出口清单未放行: invtNo {invt_no} (the export inventory was never released)")
        elif now - found[0] > RETURN_WITHIN:
            problems.append(f"退运超过一年: invtNo {invt_no} 放行于 {found[0]:%Y-%m-%d} "
                            "(goods must come back within a year of their export release)")
        return problems


def receipt_identity(receipt_type: str, filing: Filing, pre_no: str | None, status: str
                     ) -> tuple[tuple[str, str | None], ...]:
    """The identity fields of one CEB514/712/216 return entity, in schema order."""
    numbers = {"preNo": pre_no, "rkdNo": rkd_no(filing, pre_no) if status in CONCLUDED else None}
    return tuple((name, numbers[name] if name in numbers else filing.get(name))
                 for name in RECEIPT_IDENTITY[receipt_type])


def rkd_no(filing: Filing, pre_no: str | None) -> str | None:
    """入库单编号 (C..18, customs'): customs code, the day and the e-port's sequence, in the form of the
    official sample's (010220160308000008)."""
    if not pre_no:
        return None
    return f"{filing.get('customsCode')}{pre_no[1:9]}{pre_no[-6:]}"
