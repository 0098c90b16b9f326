"""What the simulated single window does with corrections and reversals (docs/corrections.md).

Corrections (appType 2 modify, 3 delete) of CEB311/411/511/621 and CEB303/403/505/603, with the state
checks the e-port applies (ceb-messages.md §4.4, §7.3; the exact matrix is [UNCONFIRMED] there):

    order   (311/303) no such order -301005; its inventory declared -301011 订单已申报清单，状态不符
    payment (411/403) no such payment -401005 [by analogy]; its inventory declared -401008 已申报, 状态不符
    waybill (511/505) no such waybill / its inventory declared: 100 (no e-port code is published)
    inventory (621/603) none declared -621011; state past 120 (399, 800, review, inspection) -621012

An accepted modification replaces the document customs keeps (and is judged like a new one: 三单对碰,
amounts ...); the superseded document's ladder stops there and the modified inventory keeps the preNo
and invtNo. Its ladder is the normal one (2 变更申报成功 → 120 ...). A deletion is answered
2 删除申报成功 → 120 删除成功 and the document is forgotten.

Reversals, each against the inventory it names by invtNo:

    CEB623 cancel (import)  released (800), not cancelled/returned, a reason, once: else -623005 / -623009
                            / -623012; ladder CEB624 2 → 120 → 399 (the inventory is cancelled)
    CEB625 return (import)  released, within 30 days of release (2020 No.45), lines by gnum + gcode
                            (-625209), quantities left; ladder CEB626 2 → 120 → 399 (returned)
    CEB605 cancel (export)  120 / 399 / 800 and the goods not departed (no CEB509): else -623005;
                            ladder CEB606 2 → 399 (cancelled)
    CEB213 return (export)  released, within 1 year (2020 No.44), lines; ladder CEB214 2 → 120 → 800
                            (returned)

Refusals of customs (100) carry every reason; e-port refusals (negative codes) come alone.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from . import export_rules, rules
from .documents import Filing
from .ladder import Rung, accepted, declared
from .receipts import CHINA_TZ
from .rules import Verdict, _dec

REVERSAL_TYPES = ("CEB623Message", "CEB625Message", "CEB605Message", "CEB213Message")
INVENTORIES = ("CEB621Message", "CEB603Message")
CORRECTABLE = ("CEB311Message", "CEB411Message", "CEB511Message", "CEB621Message",
               "CEB303Message", "CEB403Message", "CEB505Message", "CEB603Message")
RETURN_DAYS = 30

# Business fields each receipt repeats, in schema order (before returnStatus)
RECEIPT_IDENTITY = {
    "CEB624Message": ("customsCode", "agentCode", "ebpCode", "ebcCode", "copNo", "preNo", "invtNo"),
    "CEB626Message": ("customsCode", "agentCode", "ebpCode", "ebcCode", "copNo", "preNo", "invtNo"),
    "CEB606Message": ("agentCode", "copNo", "preNo", "invtNo"),
    "CEB214Message": ("ebpCode", "ebcCode", "agentCode", "coElNo", "preNo", "invtNo"),
}
_REQUIRED_EVEN_EMPTY = {"CEB606Message": ("agentCode", "copNo", "invtNo"), "CEB214Message": ("agentCode", "invtNo")}

# the fields naming one document, per type (what a correction must name to find it)
_IDENTITY = {
    "CEB311Message": ("ebpCode", "orderNo"), "CEB411Message": ("payCode", "payTransactionId"),
    "CEB511Message": ("logisticsCode", "logisticsNo"), "CEB621Message": ("copNo",),
    "CEB303Message": ("ebpCode", "orderNo"), "CEB403Message": ("ebcCode", "orderNo"),
    "CEB505Message": ("logisticsCode", "logisticsNo"), "CEB603Message": ("copNo",),
}


def handles(filing: Filing) -> bool:
    return filing.message_type in REVERSAL_TYPES or (filing.message_type in CORRECTABLE
                                                      and filing.get("appType") in ("2", "3"))


def receipt_identity(receipt_type: str, filing: Filing, track) -> tuple[tuple, tuple]:
    numbers = {"preNo": track.pre_no, "invtNo": filing.get("invtNo") or None}
    identity = tuple((name, numbers[name] if name in numbers else filing.get(name))
                     for name in RECEIPT_IDENTITY[receipt_type])
    return identity, _REQUIRED_EVEN_EMPTY.get(receipt_type, ())


def status(track) -> str:
    """The last status the government gave the track's entity ("" before any)."""
    return track.rungs[track.released - 1].status if track.released else ""


class CorrectionDesk:
    """Judges corrections and reversals against what the government (``gov``) received and answered."""

    def __init__(self, gov):
        self.gov = gov

    # -- entry --------------------------------------------------------------------------------------

    def judge(self, filing: Filing, now: datetime, make_track):
        scripted = self.gov.script.rejection_for(filing.message_type, filing.order_no)
        target = self._target(filing)
        if scripted is not None:
            verdict: Verdict | None = Verdict(scripted.code, scripted.reason)
        elif filing.message_type in REVERSAL_TYPES:
            verdict = _REVERSALS[filing.message_type](self, filing, target, now)
        else:
            verdict = self._correction(filing, target)
            if verdict is None and filing.get("appType") == "2":
                verdict = self._content(filing)
        if verdict is not None:
            rungs = ([Rung(verdict.status, verdict.reason)] if verdict.by_eport
                     else [declared(filing), Rung(verdict.status, verdict.reason)])
            track = make_track(filing, rungs)
            self._number(track, filing, now)
            return track
        track = make_track(filing, self._ladder(filing))
        track.target = target
        if filing.message_type in REVERSAL_TYPES:
            self._number(track, filing, now)
            return track
        # an accepted correction: the older document's ladder stops, customs keeps the new one (or none)
        if target is not None:
            target.rungs = target.rungs[:target.released]
            track.pre_no, track.invt_no = target.pre_no, target.invt_no
        registry = self._registry(filing)
        self._forget(registry, filing)
        if filing.get("appType") == "2":
            registry.register(filing)
        if track.pre_no is None and filing.message_type in INVENTORIES:
            self._number(track, filing, now)
        return track

    # -- ladders -------------------------------------------------------------------------------------

    @staticmethod
    def _ladder(filing: Filing) -> list[Rung]:
        mt = filing.message_type
        if mt == "CEB623Message":
            return [declared(filing), Rung("120", "逻辑校验通过"), Rung("399", "海关审结: 撤单成功", effect="cancelled")]
        if mt == "CEB625Message":
            return [declared(filing), Rung("120", "逻辑校验通过"), Rung("399", "海关审结: 退货成功", effect="returned")]
        if mt == "CEB605Message":
            return [declared(filing), Rung("399", "海关审结: 撤单成功", effect="cancelled")]
        if mt == "CEB213Message":
            return [declared(filing), Rung("120", "逻辑校验通过"), Rung("800", "放行: 准予退货入境", effect="returned")]
        if filing.get("appType") == "3":
            return [declared(filing), Rung("120", "删除成功")]
        return accepted(filing, inspect=False)

    def _number(self, track, filing: Filing, now: datetime) -> None:
        given = filing.get("preNo")
        if len(given) == 18:
            track.pre_no = given
            return
        self.gov._pre_no_seq += 1
        track.pre_no = f"B{now.astimezone(CHINA_TZ):%Y%m%d}{self.gov._pre_no_seq:09d}"

    # -- what the government knows -----------------------------------------------------------------

    def _tracks(self):
        for submission in self.gov._submissions.values():
            yield from submission.tracks

    def _target(self, filing: Filing):
        """The track of the document a correction changes, or of the inventory a reversal names."""
        if filing.message_type in REVERSAL_TYPES:
            kind = "CEB621Message" if filing.message_type in ("CEB623Message", "CEB625Message") else "CEB603Message"
            found = None
            for track in self._tracks():
                if (track.filing.message_type == kind and track.invt_no == filing.get("invtNo")
                        and track.released > 0 and _accepted(track)):
                    found = track
            return found
        fields = _IDENTITY[filing.message_type]
        key = tuple(filing.get(n) for n in fields)
        found = None
        for track in self._tracks():
            if (track.filing.message_type == filing.message_type and tuple(track.filing.get(n) for n in fields) == key
                    and track.filing.message_id != filing.message_id
                    and (_accepted(track) or (filing.get("appType") == "2" and _refused(track)))):
                found = track
        return found

    def _registry(self, filing: Filing):
        return self.gov._export_registry if filing.message_type in ("CEB303Message", "CEB403Message", "CEB505Message",
                                                                    "CEB603Message") else self.gov._registry

    def _inventories_of(self, filing: Filing) -> list[Filing]:
        """Declared inventories (accepted by the e-port, not deleted) of the order / payment / waybill."""
        g = filing.get
        mt = filing.message_type
        if mt in ("CEB311Message", "CEB411Message", "CEB511Message"):
            inventories = list(self.gov._registry.inventories.values())
        else:
            inventories = list(self.gov._export_registry.inventories.values())
        if mt in ("CEB511Message", "CEB505Message"):
            return [i for i in inventories if (i.get("logisticsCode"), i.get("logisticsNo"))
                    == (g("logisticsCode"), g("logisticsNo"))]
        if mt == "CEB403Message":
            return [i for i in inventories if (i.get("ebcCode"), i.order_no) == (g("ebcCode"), g("orderNo"))]
        return [i for i in inventories if (i.get("ebpCode"), i.order_no) == (g("ebpCode"), g("orderNo"))]

    @staticmethod
    def _forget(registry, filing: Filing) -> None:
        """Remove what customs kept of the document ``filing`` changes (its own numbers)."""
        g = filing.get
        mt = filing.message_type
        if mt == "CEB311Message":
            registry.orders.pop((g("ebpCode"), g("orderNo")), None)
            registry.orders_by_no.pop(g("orderNo"), None)
        elif mt == "CEB411Message":
            registry.payments.pop((g("payCode"), g("payTransactionId")), None)
            registry.payments_by_order.pop((g("orderNo"), g("ebpCode")), None)
        elif mt == "CEB511Message":
            registry.waybills.pop((g("logisticsCode"), g("logisticsNo")), None)
        elif mt == "CEB621Message":
            registry.inventories.pop(g("copNo"), None)
        elif mt == "CEB303Message":
            registry.orders.pop((g("ebpCode"), g("orderNo")), None)
        elif mt == "CEB403Message":
            registry.receipts.pop((g("ebcCode"), g("orderNo")), None)
        elif mt == "CEB505Message":
            registry.waybills.pop((g("logisticsCode"), g("logisticsNo")), None)
        elif mt == "CEB603Message":
            registry.inventories.pop((g("copNo"),), None)

    # -- corrections (appType 2 / 3) -----------------------------------------------------------------

    def _correction(self, filing: Filing, target) -> Verdict | None:
        mt, what = filing.message_type, ("变更" if filing.get("appType") == "2" else "删除")
        if mt in INVENTORIES:
            if target is not None and what == "变更" and _refused(target):
                return None     # a refused inventory declared again corrected (退单后变更重报)
            if target is None or target.filing.get("copNo") not in _inventory_keys(self._registry(filing)):
                return Verdict("-621011", f"无已申报的清单, 不能{what}: copNo {filing.get('copNo')} "
                                          "(no declared inventory to modify or delete)")
            if target.mark or status(target) not in ("", "1", "2", "3", "120"):
                return Verdict("-621012", f"清单状态不允许{what}: 状态 {target.mark or status(target)} "
                                          "(the inventory's state does not allow it: only before 399 审结)")
            return None
        if target is None:
            code = {"CEB311Message": "-301005", "CEB303Message": "-301005",
                    "CEB411Message": "-401005", "CEB403Message": "-401005"}.get(mt, "100")
            return Verdict(code, f"报送类型错误, 无可{what}的单证: {', '.join(f'{n} {filing.get(n)}' for n in _IDENTITY[mt])} "
                                 "(appType 2/3 but there is no such document)")
        if self._inventories_of(filing):
            code = {"CEB311Message": "-301011", "CEB303Message": "-301011",
                    "CEB411Message": "-401008", "CEB403Message": "-401008"}.get(mt, "100")
            return Verdict(code, f"已申报清单，状态不符, 不能{what} (its inventory was declared: "
                                 f"{mt} can no longer be {'modified' if what == '变更' else 'deleted'})")
        return None

    def _content(self, filing: Filing) -> Verdict | None:
        """A modification is judged like a new document (amounts, 三单对碰 ...)."""
        export = export_rules.handles(filing.message_type)
        return (export_rules.judge if export else rules.judge)(filing, self._registry(filing))

    # -- reversals ---------------------------------------------------------------------------------

    def _open_reversal(self, filing: Filing, kinds: tuple[str, ...]):
        for track in self._tracks():
            if (track.filing.message_type in kinds and track.filing.get("invtNo") == filing.get("invtNo")
                    and track.filing.message_id != filing.message_id and _accepted(track) and track.pending):
                return track
        return None

    def _cancel_import(self, filing: Filing, target, now: datetime) -> Verdict | None:
        if not filing.get("reason").strip():
            return Verdict("-623012", "撤单原因为空 (the cancellation has no reason)")
        if target is None:
            return Verdict("-623005", f"清单不存在或状态不符合撤单要求: invtNo {filing.get('invtNo')} "
                                      "(no released inventory with this number)")
        if self._open_reversal(filing, ("CEB623Message", "CEB625Message")) is not None or target.mark == "cancelled":
            return Verdict("-623009", f"撤销申请已申报过: invtNo {filing.get('invtNo')} (already filed)")
        if target.mark or status(target) != "800":
            return Verdict("-623005", f"清单状态不符合撤单要求: 状态 {target.mark or status(target)} "
                                      "(only a released inventory, 800, may be cancelled)")
        problems = _same_buyer(filing, target.filing)
        return Verdict("100", "; ".join(problems)) if problems else None

    def _return_import(self, filing: Filing, target, now: datetime) -> Verdict | None:
        if target is None:
            return Verdict("100", f"原清单不存在: invtNo {filing.get('invtNo')} (no released inventory with this number)")
        if self._open_reversal(filing, ("CEB623Message", "CEB625Message")) is not None:
            return Verdict("100", "已有撤单或退货申请在办理 (a cancellation or return of this inventory is in progress)")
        if target.mark == "cancelled" or status(target) != "800" or target.released_at is None:
            return Verdict("100", f"清单状态不允许退货: 状态 {target.mark or status(target)} "
                                  "(only goods of a released inventory may be returned)")
        released_on = target.released_at.astimezone(CHINA_TZ).date()
        if now.astimezone(CHINA_TZ).date() > released_on + timedelta(days=RETURN_DAYS):
            return Verdict("100", f"超过退货申请期限: 放行日 {released_on}, 期限 {RETURN_DAYS} 天 "
                                  "(the return application is due within 30 days of release, 2020 No.45)")
        unknown = _unknown_lines(filing, target.filing)
        if unknown:
            return Verdict("-625209", f"退货商品在原清单中不存在: {', '.join(unknown)} "
                                      "(return line not found in the inventory by gnum + gcode)")
        problems = _same_buyer(filing, target.filing) + self._quantities(filing, target, "CEB625Message")
        return Verdict("100", "; ".join(problems)) if problems else None

    def _cancel_export(self, filing: Filing, target, now: datetime) -> Verdict | None:
        if target is None:
            return Verdict("-623005", f"清单不存在或状态不符合撤单要求: invtNo {filing.get('invtNo')} "
                                      "(no export inventory with this number)")
        if self._open_reversal(filing, ("CEB605Message", "CEB213Message")) is not None or target.mark == "cancelled":
            return Verdict("-623009", f"撤销申请已申报过: invtNo {filing.get('invtNo')} (already filed)")
        if target.mark or status(target) not in ("120", "399", "800"):
            return Verdict("-623005", f"清单状态不符合撤单要求: 状态 {target.mark or status(target)} "
                                      "(an export inventory may be cancelled at 120, 399 or 800)")
        waybill = (target.filing.get("logisticsCode"), target.filing.get("logisticsNo"))
        for (mt, _), departure in self.gov._export_registry.others.items():
            if mt == "CEB509Message" and any((departure.get("logisticsCode"), line.get("logisticsNo")) == waybill
                                             for line in departure.lines):
                return Verdict("-623005", "清单已离境，不能撤单 (the goods left: file a return, CEB213)")
        return None

    def _return_export(self, filing: Filing, target, now: datetime) -> Verdict | None:
        if target is None:
            return Verdict("100", f"原出口清单不存在: invtNo {filing.get('invtNo')} (no export inventory with this number)")
        if self._open_reversal(filing, ("CEB605Message", "CEB213Message")) is not None:
            return Verdict("100", "已有撤单或退货申请在办理 (a cancellation or return of this inventory is in progress)")
        if target.mark == "cancelled" or status(target) not in ("800", "899") or target.released_at is None:
            return Verdict("100", f"出口清单未放行: 状态 {target.mark or status(target)} "
                                  "(only goods of a released export inventory may come back)")
        released_on = target.released_at.astimezone(CHINA_TZ).date()
        try:
            last = released_on.replace(year=released_on.year + 1)
        except ValueError:
            last = released_on.replace(year=released_on.year + 1, day=28)
        if now.astimezone(CHINA_TZ).date() > last:
            return Verdict("100", f"超过退货期限: 出口放行日 {released_on}, 须在1年内退运 "
                                  "(export goods come back within 1 year of release, 2020 No.44)")
        problems = [f"退货商品在原清单中不存在: {', '.join(unknown)}"
                    for unknown in [_unknown_lines(filing, target.filing)] if unknown]
        problems += self._quantities(filing, target, "CEB213Message")
        return Verdict("100", "; ".join(problems)) if problems else None

    def _quantities(self, filing: Filing, target, kind: str) -> list[str]:
        """Returned quantities, with the earlier returns customs accepted, at most the line's."""
        ordered = {line.get("gnum"): _dec(line.get("qty")) for line in target.filing.lines}
        returned: dict[str | None, Decimal] = {}
        for track in self._tracks():
            if (track.filing.message_type == kind and track.filing.get("invtNo") == filing.get("invtNo")
                    and track.filing.message_id != filing.message_id and _accepted(track)):
                for line in track.filing.lines:
                    returned[line.get("gnum")] = returned.get(line.get("gnum"), Decimal(0)) + _dec(line.get("qty"))
        problems = []
        for line in filing.lines:
            gnum = line.get("gnum")
            qty = _dec(line.get("qty"))
            left = ordered.get(gnum, Decimal(0)) - returned.get(gnum, Decimal(0))
            if qty.is_nan() or qty <= 0 or qty > left:
                problems.append(f"第{gnum}项退货数量 {line.get('qty')} 超过原清单剩余数量 {left} "
                                f"(line {gnum}: return quantity exceeds what is left)")
        return problems


def returns_everything(refund: Filing, inventory: Filing) -> bool:
    """Whether an import return (CEB625) takes back every line of the inventory in full (its amount then
    leaves the buyer's annual total; a partial return keeps it, as the gateway's ledger does)."""
    if refund.message_type != "CEB625Message" or inventory.message_type != "CEB621Message":
        return False
    returned = {line.get("gnum"): _dec(line.get("qty")) for line in refund.lines}
    return all(returned.get(line.get("gnum")) == _dec(line.get("qty")) for line in inventory.lines)


_REVERSALS = {
    "CEB623Message": CorrectionDesk._cancel_import,
    "CEB625Message": CorrectionDesk._return_import,
    "CEB605Message": CorrectionDesk._cancel_export,
    "CEB213Message": CorrectionDesk._return_export,
}


def _accepted(track) -> bool:
    """Not refused (the first rung of a refusal is its code, or 2 then 100)."""
    return not any(r.status == "100" or r.status.startswith("-") for r in track.rungs)


def _refused(track) -> bool:
    """The track's document was received and refused (100 退单 or a negative e-port code)."""
    return track.released > 0 and not _accepted(track)


def _inventory_keys(registry) -> set:
    return {k[0] if isinstance(k, tuple) else k for k in registry.inventories}


def _unknown_lines(filing: Filing, inventory: Filing) -> list[str]:
    known = {(line.get("gnum"), line.get("gcode")) for line in inventory.lines}
    return [f"gnum {line.get('gnum')} gcode {line.get('gcode')}" for line in filing.lines
            if (line.get("gnum"), line.get("gcode")) not in known]


def _same_buyer(filing: Filing, inventory: Filing) -> list[str]:
    differing = [name for name in ("buyerIdType", "buyerIdNumber", "buyerName", "buyerTelephone",
                                   "ebpCode", "ebcCode", "orderNo")
                 if filing.get(name) != inventory.get(name)]
    if differing:
        return [f"与原清单不一致: {', '.join(differing)} (differs from the inventory)"]
    return []
