"""Corrections and reversals: which change a filing's state allows, and the time limits of returns.

Pure: states in, a decision out; dates in, dates out. No database, no clock (the caller passes "now").
The service (gateway/service/corrections.py) asks here before it builds anything, and again, with the
states re-read, in the transaction that stores the new filing.

What a correction or reversal is (docs/corrections.md):

| action  | how it is filed                                                        | of what                      |
|---------|------------------------------------------------------------------------|------------------------------|
| modify  | the same message type again, appType 2, a new guid, built from the corrected order | 311/411/511/621, 303/403/505/603 |
| delete  | the same message type again, appType 3, a new guid, built from the filed order     | the same                     |
| replace | (the filing never left the outbox) a new appType 1 filing; the unsent one is withdrawn | the same                 |
| cancel  | CEB623 (import) / CEB605 (export) 撤销申请单, with a reason             | a released inventory         |
| return  | CEB625 (import) / CEB213 (export) 退货申请单, lines and a reason        | a released inventory         |

Sources, and how sure we are (ceb-messages.md; [UNCONFIRMED] where that document says the exact state
matrix is "only inferred from error codes", §7.3 and §13):

* −301011 订单已申报清单，状态不符: an order cannot be modified once its inventory was declared (§4.4, §7.3).
* −401008 已申报, 状态不符: the same for the payment (§4.4). The waybill rule is by analogy [UNCONFIRMED].
* −301005 appType wrong: there is no order to modify (§4.4): nothing at customs yet, or customs refused it.
* −621011 / −621012: an inventory can be modified (改单) only when customs has it and its state allows
  (§4.4). Which states allow it is [UNCONFIRMED]; we allow 1/2/3 (at the e-port) and 120 (海关入库),
  i.e. before 399 审结, and refuse manual review, inspection and detention (300/5xx).
* Deletion (appType 3) follows the modification rules [UNCONFIRMED].
* −623005 清单状态不符合撤单要求 (§4.4): the import cancellation (CEB623) is for a released inventory
  (800 放行) that is not closed (899 结关) [UNCONFIRMED: released-only is this gateway's reading];
  −623009 已申报过: one cancellation per inventory; −623012 撤单原因为空: a reason is required.
* The export cancellation (CEB605) is accepted for an inventory customs took in (120), concluded (399)
  or released (800) as long as the goods have not left (no accepted CEB509 departure) [UNCONFIRMED].
* Returns (CEB625), 海关总署公告2020年第45号 (§7.4): the return application within 30 days of the
  inventory's release, the goods back in the supervised site within 45 days; the tax is not levied and
  the buyer's annual amount is restored. Quantities at most those of the inventory line (−625209
  looks lines up by gnum + gcode).
* Export returns (CEB213), 海关总署公告2020年第44号 (§7.5): the goods come back within 1 year of the
  export release [POLICY-2nd].

Return lines (which lines, how much) are checked in ``return_lines``.

Day counting [UNCONFIRMED for customs; the general rule of the Civil Code 民法典 arts. 201-203]:
a period in days starts the day after the event (the release day is not counted) and ends at 24:00 of
its last day; a period in years ends on the same month and day (the last day of the month when there
is none, 29 Feb -> 28 Feb). Days are China dates (UTC+8), as every CEB time.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from . import status as st
from .common.dates import aware, china_date

MODIFY, DELETE, CANCEL, RETURN = "modify", "delete", "cancel", "return"
FILE, REPLACE = "file", "replace"     # decisions for modify/delete: file appType 2/3, or replace (unsent)

IMPORT_DOCUMENTS = ("CEB311Message", "CEB411Message", "CEB511Message")
EXPORT_DOCUMENTS = ("CEB303Message", "CEB403Message", "CEB505Message")
INVENTORY_OF = {"CEB311Message": "CEB621Message", "CEB411Message": "CEB621Message",
                "CEB511Message": "CEB621Message", "CEB303Message": "CEB603Message",
                "CEB403Message": "CEB603Message", "CEB505Message": "CEB603Message"}
INVENTORIES = ("CEB621Message", "CEB603Message")
CORRECTABLE = IMPORT_DOCUMENTS + EXPORT_DOCUMENTS + INVENTORIES
CANCELLATION_OF = {"CEB621Message": "CEB623Message", "CEB603Message": "CEB605Message"}
RETURN_OF = {"CEB621Message": "CEB625Message", "CEB603Message": "CEB213Message"}
REVERSAL_TYPES = tuple(CANCELLATION_OF.values()) + tuple(RETURN_OF.values())

RETURN_APPLICATION_DAYS = 30       # 2020 No.45: apply within 30 days of release
RETURN_ARRIVAL_DAYS = 45           # 2020 No.45: goods back in the supervised site within 45 days
EXPORT_RETURN_YEARS = 1            # 2020 No.44: export returns within 1 year of export release
REASON_MAX = {"CEB623Message": 1000, "CEB625Message": 1000, "CEB605Message": 1000, "CEB213Message": 500}

# What the e-port would answer (§4.4), per refused document type
_DECLARED_CODE = {"CEB311Message": "-301011", "CEB303Message": "-301011",
                  "CEB411Message": "-401008", "CEB403Message": "-401008"}
_NOTHING_CODE = {"CEB311Message": "-301005", "CEB303Message": "-301005"}
_AT_EPORT = (st.DECLARED, st.ACCEPTED)   # customs has it and has not concluded anything (1/2/3, 120)


@dataclass(frozen=True)
class Doc:
    """What the matrix needs to know about one filing: its type and state, its last status code,
    and whether it is being sent right now (claimed by a dispatcher, or its outcome is unknown)."""

    message_type: str
    state: str
    status_code: str | None = None
    in_flight: bool = False
    app_type: str = "1"


@dataclass(frozen=True)
class Refusal:
    """Why the state does not allow it: a stable rule name, what the e-port would answer (if known),
    a sentence for people and whether the rule is confirmed by the standard."""

    rule: str
    message: str
    customs_code: str | None = None
    confirmed: bool = False

    def as_dict(self) -> dict:
        return {"rule": self.rule, "customs_code": self.customs_code, "message": self.message,
                "confirmed": self.confirmed}


# -- modify / delete ------------------------------------------------------------------------------------

def decide_correction(action: str, target: Doc, inventory: Doc | None) -> str | Refusal:
    """``FILE`` (send appType 2/3 of ``target``), ``REPLACE`` (``target`` never left the outbox: send a
    new appType 1 and withdraw it) or a ``Refusal``. ``inventory``: the current inventory of the same
    order (None when there is none), for the order, payment and waybill."""
    if action not in (MODIFY, DELETE):
        raise ValueError(f"not a correction: {action}")
    mt = target.message_type
    if mt not in CORRECTABLE:
        return Refusal("not-correctable", f"{mt} cannot be modified or deleted by the gateway "
                       f"(correctable: {', '.join(CORRECTABLE)})")
    if target.in_flight:
        return Refusal("filing-in-flight", f"{mt} is being sent right now; try again once it was sent")
    if target.app_type == "3" and target.state != st.REJECTED:
        return Refusal("document-deleted", f"{mt} was deleted (appType 3): there is nothing to {action}")
    if target.state in st.REVERSED:
        return Refusal("inventory-reversed", f"{mt} was {target.state}: nothing left to {action}")
    if mt in INVENTORY_OF:          # order, payment, waybill: only while the inventory is not declared
        if inventory is not None and _declared(inventory):
            return Refusal(f"{_role(mt)}-inventory-declared",
                           f"{mt} cannot be {_done(action)} once the order's inventory "
                           f"({inventory.message_type}, {inventory.state}) was declared",
                           _DECLARED_CODE.get(mt), confirmed=mt in _DECLARED_CODE)
    if target.state == st.PENDING:
        if action == DELETE:
            return Refusal("not-sent", f"{mt} was never sent: there is nothing at customs to delete",
                           _NOTHING_CODE.get(mt))
        return REPLACE
    if target.state == st.SENT:
        return Refusal("awaiting-receipt", f"{mt} was sent and the e-port has not answered yet; "
                       "try again once it did")
    if target.state == st.REJECTED and action == MODIFY:
        return FILE     # refused (退单 100 or an e-port code): declared again corrected, appType 2 (resubmit)
    if target.state == st.REJECTED:
        return Refusal("document-rejected", f"customs refused {mt}: there is nothing to {action}; "
                       "submit a new order instead", _NOTHING_CODE.get(mt) or
                       ("-621011" if mt in INVENTORIES else None))
    if mt in INVENTORIES:
        if target.state not in _AT_EPORT:
            return Refusal("inventory-state", f"{mt} is {target.state} (status {target.status_code}): an "
                           f"inventory can be {_done(action)} only before 399 审结 and outside review, "
                           "inspection or detention", "-621012", confirmed=False)
        return FILE
    if target.state not in _AT_EPORT:
        return Refusal("document-state", f"{mt} is {target.state}: it cannot be {_done(action)}")
    return FILE


def _declared(inventory: Doc) -> bool:
    """The inventory reached the e-port (or may have): sent, answered, anything but refused or never sent."""
    if inventory.in_flight:
        return True
    return inventory.state not in (st.PENDING, st.REJECTED, st.WITHDRAWN)


def _role(message_type: str) -> str:
    return {"CEB311Message": "order", "CEB303Message": "order", "CEB411Message": "payment",
            "CEB403Message": "payment", "CEB511Message": "waybill", "CEB505Message": "waybill"}[message_type]


def _done(action: str) -> str:
    return {MODIFY: "modified", DELETE: "deleted"}[action]


# -- cancel / return ------------------------------------------------------------------------------------

def decide_cancel(inventory: Doc, reversals: list[Doc], *, departed: bool = False) -> Refusal | None:
    """May the released inventory be cancelled (CEB623 import, CEB605 export)? ``reversals``: the
    cancellations and returns already filed for it; ``departed``: an export departure (CEB509) was
    accepted (the goods left)."""
    mt = inventory.message_type
    pending = _open_reversal(inventory, CANCELLATION_OF, reversals)
    if pending is not None:
        return pending
    if any(r.message_type in CANCELLATION_OF.values() and st.correction_done(_view(r)) for r in reversals):
        return Refusal("already-cancelled", f"{mt} was cancelled already", "-623009", confirmed=True)
    if inventory.state in st.REVERSED:
        return Refusal("cancel-state", f"{mt} was {inventory.state}: it cannot be cancelled", "-623005",
                       confirmed=True)
    if mt == "CEB621Message":
        if inventory.state != st.RELEASED or inventory.status_code == "899":
            return Refusal("cancel-state", f"{mt} is {inventory.state} (status {inventory.status_code}): an import "
                           "inventory is cancelled (CEB623) once released (800) and before it is closed (899)",
                           "-623005", confirmed=True)
        return None
    allowed = (st.ACCEPTED, st.CONCLUDED, st.RELEASED)
    if inventory.state not in allowed or inventory.status_code == "899":
        return Refusal("cancel-state", f"{mt} is {inventory.state} (status {inventory.status_code}): an export "
                       "inventory is cancelled (CEB605) once customs took it in (120, 399, 800) and before it "
                       "is closed (899)", "-623005")
    if departed:
        return Refusal("cancel-departed", f"the goods of {mt} have left the country (CEB509 departure accepted): "
                       "file a return (CEB213) instead of a cancellation")
    return None


def decide_return(inventory: Doc, reversals: list[Doc]) -> Refusal | None:
    """May goods of the inventory be returned (CEB625 import, CEB213 export)? Time limits are checked
    apart (``return_window`` / ``export_return_window``)."""
    mt = inventory.message_type
    pending = _open_reversal(inventory, RETURN_OF, reversals)
    if pending is not None:
        return pending
    if inventory.state == st.CANCELLED:
        return Refusal("return-state", f"{mt} was cancelled: there is nothing to return")
    if inventory.state not in (st.RELEASED, st.REFUNDED):
        return Refusal("return-state", f"{mt} is {inventory.state} (status {inventory.status_code}): only goods "
                       "of a released inventory (800) can be returned")
    return None


def _open_reversal(inventory: Doc, kinds: dict[str, str], reversals: list[Doc]) -> Refusal | None:
    """A refusal while another reversal of the inventory waits for customs. ``kinds``: the reversal of each
    inventory type asked for (ValueError when ``inventory`` is not an inventory)."""
    if inventory.message_type not in kinds:
        raise ValueError(f"{inventory.message_type} is not an inventory")
    for r in reversals:
        if r.state not in (st.REJECTED, st.WITHDRAWN) and not st.correction_done(_view(r)):
            return Refusal("reversal-in-progress", f"a {r.message_type} of this inventory is still waiting for "
                           f"customs ({r.state}); wait for its answer", "-623009" if r.message_type ==
                           "CEB623Message" else None)
    return None


def _view(doc: Doc) -> st.FilingView:
    return st.FilingView(doc.message_type, "customs", doc.state, app_type=doc.app_type)


# -- time limits ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReturnWindow:
    """The limits of a return under 2020 No.45, from the inventory's release."""

    released_on: date          # China date of the release (800)
    apply_by: date             # last day to file the return application (release + 30 days)
    goods_due_by: date         # last day for the goods to be back in the supervised site (release + 45 days)
    requested_on: date
    open: bool                 # requested_on <= apply_by

    def as_dict(self) -> dict:
        return {"released_on": self.released_on.isoformat(), "apply_by": self.apply_by.isoformat(),
                "goods_due_by": self.goods_due_by.isoformat(), "requested_on": self.requested_on.isoformat(),
                "open": self.open}


def return_window(released_at: datetime, requested_at: datetime) -> ReturnWindow:
    """Released 2026-11-20 (any hour, China time): apply by 2026-12-20, goods back by 2027-01-04."""
    released_on, requested_on = china_date(aware(released_at)), china_date(aware(requested_at))
    apply_by = released_on + timedelta(days=RETURN_APPLICATION_DAYS)
    return ReturnWindow(released_on, apply_by, released_on + timedelta(days=RETURN_ARRIVAL_DAYS), requested_on,
                        requested_on <= apply_by)


@dataclass(frozen=True)
class ExportReturnWindow:
    released_on: date
    back_by: date              # the goods come back within 1 year of the export release
    requested_on: date
    open: bool

    def as_dict(self) -> dict:
        return {"released_on": self.released_on.isoformat(), "back_by": self.back_by.isoformat(),
                "requested_on": self.requested_on.isoformat(), "open": self.open}


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:            # 29 February -> 28 February
        return day.replace(year=day.year + years, day=28)


def export_return_window(released_at: datetime, requested_at: datetime) -> ExportReturnWindow:
    """Released 2026-11-20: the return is possible up to and including 2027-11-20."""
    released_on, requested_on = china_date(aware(released_at)), china_date(aware(requested_at))
    back_by = add_years(released_on, EXPORT_RETURN_YEARS)
    return ExportReturnWindow(released_on, back_by, requested_on, requested_on <= back_by)


def refuse_late_return(window: ReturnWindow) -> Refusal | None:
    if window.open:
        return None
    return Refusal("return-30-days", f"the return application is due within {RETURN_APPLICATION_DAYS} days of the "
                   f"inventory's release ({window.released_on}): the last day was {window.apply_by}, today is "
                   f"{window.requested_on} (海关总署公告2020年第45号)", confirmed=True)


def refuse_late_export_return(window: ExportReturnWindow) -> Refusal | None:
    if window.open:
        return None
    return Refusal("export-return-1-year", f"export goods may come back within {EXPORT_RETURN_YEARS} year of the "
                   f"export release ({window.released_on}): the last day was {window.back_by}, today is "
                   f"{window.requested_on} (海关总署公告2020年第44号)")


# -- which filing stands for each document ------------------------------------------------------------

def current_versions(views: list[st.FilingView]) -> dict[str, st.FilingView]:
    """The filing that stands for each document (message type) of an order: not withdrawn, not
    superseded by a correction that stands, not a refused correction of a filing that stands (the same
    reading as ``status.resolve_corrections``). Reversals are not documents of the order: left out.
    Views need ids; in filing order (oldest first), the newest standing one wins."""
    by_id = {v.id: v for v in views}

    def stands(v: st.FilingView) -> bool:
        if v.corrects is None:
            return True
        target = by_id.get(v.corrects)
        return v.state != st.REJECTED or target is None or target.state == st.WITHDRAWN

    documents = [v for v in views if v.message_type not in REVERSAL_TYPES]
    superseded = {v.corrects for v in documents if v.corrects is not None and stands(v)}
    out: dict[str, st.FilingView] = {}
    for v in documents:
        if v.state != st.WITHDRAWN and v.id not in superseded and stands(v):
            out[v.message_type] = v
    return out
