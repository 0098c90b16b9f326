"""Legal inspection (法定检验) of an order, line by line, from the reference HS data (pure).

Rule (general-trade-inspection-fx-tax.md 2.4): a line is under legal inspection when the 监管条件
(regulatory conditions) of its HS line contain **A** on import or **B** on export. The 检验检疫类别
(inspection categories) of the direction then say what the inspection brings:

| category | direction | requirement | data the line must carry (``lines[i].inspection``) | rule |
|---|---|---|---|---|
| L 民用商品入境验证 (CCC) | import | ``ccc`` | ``ccc_certificate`` (licence 411) or ``licence_no`` (CCC exemption, 410) | ``inspection-ccc`` |
| R 进口食品 / S 出口食品 | import / export | ``food`` | ``producer_registration`` (519 import / 518 export), ``batch_no``, ``production_date`` | ``inspection-food`` |
| P 进境动植物检疫 / Q 出境动植物检疫 | import / export | ``quarantine`` | import: ``quarantine_permit_no`` (325 进境动植物检疫许可证), ``origin_region``, ``purpose``; export: ``origin_region``, ``purpose`` (the permit is an entry document) | ``inspection-quarantine`` |
| M 进口商品检验 / N 出口商品检验 | import / export | ``commodity`` | nothing beyond the order | — |

Data given is checked wherever it appears: ``purpose`` is a CIQ purpose code (``inspection-purpose``);
``production_date`` <= ``expiry_date``, production not after the order's date, not expired on it
(``inspection-dates``). Categories count only on a line under legal inspection.

An HS code the reference data does not know (or not on the order's date) gets **no decision** and a
warning (rule ``inspection-unknown-hs``), never a refusal: the reference data is incomplete, the order
is not wrong for it.

The date that picks the HS row is the order's own date (``ordered_at``, else the payment time, else
the export date), so intake and a replay years later decide the same.

General-trade orders (0110) carry their CIQ fields in their own format and ``gt_rules`` checks them;
``decide`` still gives their per-line decision (from the line's 监管条件 / 检验检疫类别, defaulted
from the reference data by gt intake), ``problems`` leaves them alone.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from gateway.reference.hs import HsLine, hs_line

from .common.dates import NoOrderDate, order_date, today_in_china
from .common.lines import LineInspection
from .common.schema import unreal_dates
from .problems import Problem

__all__ = ["InspectionDecision", "LineDecision", "PURPOSES", "RULES", "decide", "problems"]

RULES = {
    "inspection-ccc": "a legally inspected import line of category L (CCC) carries inspection.ccc_certificate "
                      "(CCC certificate, licence 411) or inspection.licence_no (CCC exemption, licence 410)",
    "inspection-food": "a legally inspected line of category R (import) / S (export) carries "
                       "inspection.producer_registration, inspection.batch_no and inspection.production_date",
    "inspection-quarantine": "a legally inspected line of category P (import) / Q (export) carries "
                             "inspection.origin_region and inspection.purpose; on import also "
                             "inspection.quarantine_permit_no",
    "inspection-purpose": "inspection.purpose is a CIQ purpose code (用途)",
    "inspection-dates": "production_date <= expiry_date; produced on or before the order's date and not expired on it",
}
WARNING_UNKNOWN_HS = "inspection-unknown-hs"

# CIQ purpose codes (用途), general-trade-inspection-fx-tax.md 2.3 [P]
PURPOSES = {
    "11": "种用或繁殖", "12": "食用", "13": "奶用", "14": "观赏或演艺", "15": "伴侣", "16": "实验", "17": "药用",
    "18": "饲用", "19": "食品包装材料", "20": "食品加工设备", "21": "食品添加剂", "22": "介质土", "23": "食品容器",
    "24": "洗涤剂", "25": "消毒剂", "26": "仅工业用途", "27": "化妆品", "28": "化妆品原料", "29": "肥料", "30": "保健品",
    "31": "治疗、预防、诊断", "32": "科研", "33": "展览展示", "99": "其他",
}

# category letter -> requirement, by direction
_REQUIREMENTS = {
    "import": {"L": "ccc", "R": "food", "P": "quarantine", "M": "commodity"},
    "export": {"S": "food", "Q": "quarantine", "N": "commodity"},
}
_LABELS = {"ccc": "CCC (民用商品入境验证)", "food": "food (食品卫生监督检验)",
           "quarantine": "animal and plant quarantine (动植物检疫)", "commodity": "commodity inspection (商品检验)"}


@dataclass(frozen=True)
class LineDecision:
    number: int                            # gnum
    hs_code: str
    known: bool                            # the reference data has the HS line on ``decided_on``
    legal_inspection: bool | None          # None when not known
    regulatory_conditions: str = ""
    categories: tuple[str, ...] = ()       # the direction's 检验检疫类别 letters
    requirements: tuple[str, ...] = ()     # ccc, food, quarantine, commodity (legal inspection only)
    note: str = ""

    def as_json(self) -> dict:
        return {"line": self.number, "hs_code": self.hs_code, "known": self.known,
                "legal_inspection": self.legal_inspection, "regulatory_conditions": self.regulatory_conditions,
                "categories": list(self.categories), "requirements": list(self.requirements),
                "note": self.note}


@dataclass(frozen=True)
class InspectionDecision:
    direction: str
    decided_on: date
    lines: tuple[LineDecision, ...]
    warnings: tuple[Problem, ...] = field(default=())

    @property
    def inspected(self) -> bool:
        """At least one line is under legal inspection."""
        return any(d.legal_inspection for d in self.lines)

    @property
    def inspected_lines(self) -> tuple[LineDecision, ...]:
        return tuple(d for d in self.lines if d.legal_inspection)

    def as_json(self) -> dict:
        return {"direction": self.direction, "decided_on": self.decided_on.isoformat(),
                "legal_inspection": self.inspected, "lines": [d.as_json() for d in self.lines],
                "warnings": [w.as_dict() for w in self.warnings]}


def _is_general_trade(order) -> bool:
    return getattr(order, "regime", None) == "0110"


def _letters(text: str) -> tuple[str, ...]:
    return tuple(c for c in text if c.isalpha())


def _direction_categories(categories: str, direction: str) -> tuple[str, ...]:
    parts = categories.split("/")
    if direction == "import":
        return _letters(parts[0])
    return _letters(parts[1]) if len(parts) > 1 else ()


def _line_decision(number: int, hs_code: str, conditions: str, categories: tuple[str, ...], direction: str,
                   note: str = "") -> LineDecision:
    flag = "A" if direction == "import" else "B"
    legal = flag in conditions.upper()
    wanted = _REQUIREMENTS[direction]
    requirements = tuple(dict.fromkeys(wanted[c] for c in categories if c in wanted)) if legal else ()
    return LineDecision(number, hs_code, True, legal, conditions, categories, requirements, note)


def decide(order, *, on: date | None = None, lookup: Callable[..., HsLine] = hs_line) -> InspectionDecision:
    """The legal-inspection decision of every line of ``order`` (CBEC import, CBEC export or general
    trade). ``on`` picks the HS rows (default: the order's own date, ``common.dates.order_date``)."""
    direction = order.direction
    if direction not in _REQUIREMENTS:
        raise ValueError(f"direction is import or export, not {direction!r}")
    day = on or (getattr(order, "ie_date", None) if _is_general_trade(order) else None) or _safe_day(order)
    lines, warnings = [], []
    for i, line in enumerate(order.lines):
        if _is_general_trade(order):
            # gt intake defaulted 监管条件 / 检验检疫类别 from the reference data (or the client stated them)
            conditions, categories = line.regulatory_conditions or "", line.inspection_categories or ""
            if not conditions and not categories:
                try:
                    lookup(line.hs_code, on=day)
                except LookupError as exc:
                    lines.append(LineDecision(line.number, line.hs_code, False, None, note=str(exc)))
                    warnings.append(_unknown(i, line.hs_code, exc))
                    continue
            lines.append(_line_decision(line.number, line.hs_code, conditions,
                                        _direction_categories(categories, direction), direction))
            continue
        try:
            h = lookup(line.hs_code, on=day)
        except LookupError as exc:
            lines.append(LineDecision(line.number, line.hs_code, False, None, note=str(exc)))
            warnings.append(_unknown(i, line.hs_code, exc))
            continue
        categories = h.inspection_import if direction == "import" else h.inspection_export
        lines.append(_line_decision(line.number, h.code, h.regulatory_conditions, categories, direction))
    return InspectionDecision(direction, day, tuple(lines), tuple(warnings))


def _safe_day(order) -> date:
    try:
        return order_date(order)
    except NoOrderDate:
        return today_in_china()


def _unknown(index: int, hs_code: str, exc: Exception) -> Problem:
    return Problem(f"$.lines[{index}].hs_code", WARNING_UNKNOWN_HS,
                   f"{hs_code}: not in the reference HS data on that date ({exc}); no legal-inspection decision "
                   "was made for this line: check it yourself")


def problems(order, decision: InspectionDecision | None = None) -> list[Problem]:
    """What the order's goods require and the order lacks (CBEC import and export orders). General-trade
    orders are checked by ``gt_rules`` in their own format: []."""
    if _is_general_trade(order):
        return []
    decision = decision or decide(order)
    try:
        day = order_date(order)
    except NoOrderDate:
        day = decision.decided_on
    out: list[Problem] = []
    for i, (line, d) in enumerate(zip(order.lines, decision.lines, strict=True)):
        data: LineInspection = getattr(line, "inspection", None) or LineInspection()
        at = f"$.lines[{i}].inspection"
        what = f"line {line.number} ({d.hs_code}, 监管条件 {d.regulatory_conditions}, 检验检疫类别 " \
               f"{'.'.join(d.categories) or '-'})"
        if "ccc" in d.requirements and not (data.ccc_certificate or data.licence_no):
            out.append(Problem(f"{at}.ccc_certificate", "inspection-ccc",
                               f"{what} is under legal inspection for {_LABELS['ccc']}: give the CCC certificate "
                               "number (ccc_certificate) or the CCC exemption certificate (licence_no)"))
        if "food" in d.requirements:
            for name in ("producer_registration", "batch_no", "production_date"):
                if not getattr(data, name):
                    out.append(Problem(f"{at}.{name}", "inspection-food",
                                       f"{what} is under legal inspection for {_LABELS['food']}: {name} is required"))
        if "quarantine" in d.requirements:
            needed = ("quarantine_permit_no", "origin_region", "purpose") if order.direction == "import" \
                else ("origin_region", "purpose")
            for name in needed:
                if not getattr(data, name):
                    out.append(Problem(f"{at}.{name}", "inspection-quarantine",
                                       f"{what} is under legal inspection for {_LABELS['quarantine']}: "
                                       f"{name} is required"))
        if data.purpose and data.purpose not in PURPOSES:
            out.append(Problem(f"{at}.purpose", "inspection-purpose",
                               f"{data.purpose!r} is not a CIQ purpose code (e.g. 12 食用, 99 其他)"))
        out.extend(_date_problems(at, data, day))
    return out


def _date_problems(at: str, data: LineInspection, day: date) -> list[Problem]:
    out = []
    made, expires = data.production_date, data.expiry_date
    if made and expires and expires < made:
        out.append(Problem(f"{at}.expiry_date", "inspection-dates",
                           f"expiry date {expires} is before the production date {made}"))
    if made and made > day:
        out.append(Problem(f"{at}.production_date", "inspection-dates",
                           f"production date {made} is after the order's date {day}"))
    if expires and expires < day:
        out.append(Problem(f"{at}.expiry_date", "inspection-dates",
                           f"the goods expired on {expires}, before the order's date {day}"))
    return out


def date_problems(lines: list | None, *, prefix: str = "$.lines") -> list[Problem]:
    """Inspection dates of the order JSON that have the right shape but do not exist (31 November)."""
    candidates = []
    for i, line in enumerate(lines or []):
        data = line.get("inspection") if isinstance(line, dict) else None
        if not isinstance(data, dict):
            continue
        for name in ("production_date", "expiry_date"):
            value = data.get(name)
            if isinstance(value, str):
                candidates.append((f"{prefix}[{i}].inspection.{name}", value, date.fromisoformat))
    return unreal_dates(candidates)
