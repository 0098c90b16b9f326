"""Return lines: which lines of a released inventory, and how much of each, a return (CEB625 import,
CEB213 export) may take back, given what earlier returns took; and the legal quantity of a partial line.

Pure; problems name ``$.lines[i].<field>`` of the return request. Whether a return is allowed at all
(state, time limits) is ``gateway.domain.corrections``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from .problems import Problem


@dataclass(frozen=True)
class ReturnLine:
    gnum: int
    quantity: Decimal
    full: bool                  # the whole remaining quantity of the line


@dataclass
class LineCheck:
    lines: list[ReturnLine] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every line of the order returned in full (with the earlier returns)."""
        return bool(self.lines) and not self.problems and self._complete

    _complete: bool = False


def check_return_lines(ordered: dict[int, Decimal], requested, returned: dict[int, Decimal] | None = None) -> LineCheck:
    """``ordered``: gnum -> quantity of the inventory; ``requested``: None (return everything not returned
    yet) or a list of {"gnum": int, "quantity": decimal string}; ``returned``: gnum -> quantity already
    returned (earlier returns that were not refused). Problems name ``$.lines[i].<field>``."""
    returned = dict(returned or {})
    out = LineCheck()
    left = {g: q - returned.get(g, Decimal(0)) for g, q in ordered.items()}
    if requested is None:
        out.lines = [ReturnLine(g, q, True) for g, q in sorted(left.items()) if q > 0]
        if not out.lines:
            out.problems.append(Problem("$.lines", "return-lines", "every line was returned already"))
        out._complete = not out.problems
        return out
    if not isinstance(requested, list) or not requested:
        out.problems.append(Problem("$.lines", "return-lines", "lines is a non-empty list of {gnum, quantity}"))
        return out
    seen: set[int] = set()
    for i, item in enumerate(requested):
        where = f"$.lines[{i}]"
        if not isinstance(item, dict):
            out.problems.append(Problem(where, "return-lines", "each line is an object {gnum, quantity}"))
            continue
        unknown = set(item) - {"gnum", "quantity"}
        if unknown:
            out.problems.append(Problem(where, "return-lines", f"unknown field(s) {', '.join(sorted(unknown))}"))
        gnum = item.get("gnum")
        if isinstance(gnum, bool) or not isinstance(gnum, int) or gnum not in ordered:
            out.problems.append(Problem(f"{where}.gnum", "return-line-unknown",
                                        f"gnum {gnum!r} is not a line of the inventory (lines 1..{len(ordered)}); "
                                        "customs looks return lines up by gnum and gcode (-625209)"))
            continue
        if gnum in seen:
            out.problems.append(Problem(f"{where}.gnum", "return-lines", f"gnum {gnum} is listed twice"))
            continue
        seen.add(gnum)
        raw = item.get("quantity")
        qty = left[gnum] if raw is None else _decimal(raw)
        if qty is None:
            out.problems.append(Problem(f"{where}.quantity", "return-quantity",
                                        f"quantity {raw!r} is not a decimal string"))
            continue
        exponent = qty.as_tuple().exponent
        if qty <= 0 or (isinstance(exponent, int) and exponent < -5):
            out.problems.append(Problem(f"{where}.quantity", "return-quantity",
                                        f"quantity {qty} must be positive, at most 5 decimals"))
            continue
        if qty > left[gnum]:
            out.problems.append(Problem(f"{where}.quantity", "return-quantity",
                                        f"quantity {qty} exceeds what is left of line {gnum}: {left[gnum]} "
                                        f"(ordered {ordered[gnum]}, returned already {returned.get(gnum, 0)})"))
            continue
        out.lines.append(ReturnLine(gnum, qty, qty == left[gnum]))
    if out.problems:
        out.lines = []
    else:
        after = {g: left[g] - next((r.quantity for r in out.lines if r.gnum == g), Decimal(0)) for g in left}
        out._complete = all(q == 0 for q in after.values())
    return out


def _decimal(raw) -> Decimal | None:
    """A finite Decimal from a decimal string or an integer; None for anything else."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return None
    try:
        value = Decimal(str(raw))
    except ArithmeticError:
        return None
    return value if value.is_finite() else None


def share(whole: Decimal, part: Decimal, total: Decimal) -> Decimal:
    """``whole`` × part / total, to 5 decimals (half up): a legal quantity for a partial return line."""
    if part == total:
        return whole
    value = (whole * part / total).quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
