"""Status ladders: the receipts one filing receives, one rung per poll (ceb-messages.md §4.2).

    order / payment / waybill   2 电子口岸申报中 → 120 海关入库
    inventory                   2 → 120 (invtNo assigned) → 399 海关审结 → 800 放行
    inventory, inspected        2 → 120 → 500 查验 → 399 → 800
    export inventory (CEB603)   as the import inventory
    export summary (CEB701)     2 → 399 (sumNo assigned), then a CEB792 summary result (declSeqNo)
    waybill status (CEB513)     2 → 399 (CEB514's codes: 2/3/4/100/399, no 120)
    entry list (CEB711)         2 → 120 (rkdNo) → 399
    return tally (CEB215)       2 → 399 (CEB216's codes: 1/2/3/4/100/399)
    refused by customs          2 → 100 海关退单 (reason in returnInfo)
    refused by the e-port       the negative code alone (−621005 …): the e-port never declared it
"""
from __future__ import annotations

from dataclasses import dataclass

from .documents import Filing
from .rules import Verdict

_DECLARED = {"1": "新增申报成功", "2": "变更申报成功", "3": "删除申报成功"}


@dataclass(frozen=True)
class Rung:
    status: str
    info: str
    assigns_invt_no: bool = False   # customs numbers the inventory when it enters (120)
    assigns_sum_no: bool = False    # customs numbers the summary application when it concludes it
    summary_result: bool = False    # not a return entity: the CEB792 summary result message
    effect: str | None = None       # reversals: what releasing this rung does to the inventory (corrections.py)


def declared(filing: Filing) -> Rung:
    return Rung("2", f"{_DECLARED.get(filing.get('appType'), '新增申报成功')}[{filing.get('guid')}]")


INVENTORIES = ("CEB621Message", "CEB603Message")


def accepted(filing: Filing, inspect: bool = False) -> list[Rung]:
    if filing.message_type == "CEB701Message":
        return [declared(filing), Rung("399", "海关审结", assigns_sum_no=True),
                Rung("", "汇总结果", summary_result=True)]
    if filing.message_type in ("CEB513Message", "CEB215Message"):
        return [declared(filing), Rung("399", "海关审结")]
    if filing.message_type == "CEB711Message":
        return [declared(filing), Rung("120", "逻辑校验通过"), Rung("399", "海关审结")]
    if filing.message_type not in INVENTORIES:
        return [declared(filing), Rung("120", "逻辑校验通过")]
    rungs = [declared(filing), Rung("120", "逻辑校验通过", assigns_invt_no=True)]
    if inspect:
        rungs.append(Rung("500", "查验: 海关布控查验 (customs inspection ordered)"))
    rungs += [Rung("399", "海关审结"), Rung("800", "放行")]
    return rungs


def refused(filing: Filing, verdict: Verdict) -> list[Rung]:
    if verdict.by_eport:
        return [Rung(verdict.status, verdict.reason)]
    return [declared(filing), Rung(verdict.status, verdict.reason)]


class Climbing:
    """Something released up a ladder of rungs, one receipt at a time (the government's tracks, the
    agency desks' records)."""

    rungs: list
    released: int

    @property
    def pending(self) -> bool:
        return self.released < len(self.rungs)
