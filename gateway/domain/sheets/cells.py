"""One cell's value to its JSON value, by the column's kind. Money and quantities stay exact: a numeric
Excel cell becomes text through its shortest repr, rounded to Excel's own 15 significant digits (a
cell holding 0.1+0.2 reads "0.3"), never through float arithmetic. Formulas are refused (the gateway
does not evaluate them: paste values)."""
from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal

from ..common.dates import CHINA_TZ
from .columns import BOOLEAN, DATE, DATETIME, INTEGER, JSON, LIST, Column

EXCEL_DIGITS = 15
TRUE = {"true", "1", "yes", "y", "是"}
FALSE = {"false", "0", "no", "n", "否"}


class CellError(ValueError):
    """A cell that cannot be read as its column's kind: ``rule`` and the message say why."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


def number_text(value: int | float | Decimal) -> str:
    """A number as exact decimal text: ints as they are, floats by repr within 15 significant digits."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CellError("number", f"{value!r} is not a number")
        d = Decimal(repr(value))
        if len(d.as_tuple().digits) > EXCEL_DIGITS:
            d = Decimal(format(value, f".{EXCEL_DIGITS}g"))
    else:
        d = value
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def convert(column: Column, value):
    """The JSON value of a non-blank cell; CellError when the cell cannot be one."""
    if isinstance(value, str) and value.startswith("="):
        raise CellError("formula", f"the cell holds a formula ({value[:40]}); enter its value instead")
    kind = column.kind
    if kind == INTEGER:
        return _integer(value)
    if kind == BOOLEAN:
        return _boolean(value)
    if kind == DATETIME:
        return _datetime(value)
    if kind == DATE:
        return _date(value)
    if kind == LIST:
        return [part.strip() for part in _text(value).split("|")]
    if kind == JSON:
        try:
            return json.loads(_text(value), parse_float=Decimal)
        except ValueError as exc:
            raise CellError("json", f"not valid JSON ({exc})") from None
    return _text(value)


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return number_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value).strip()


def _integer(value) -> int:
    if isinstance(value, bool):
        raise CellError("integer", "a whole number is expected, not yes/no")
    if isinstance(value, int):
        return value
    text = number_text(value) if isinstance(value, float) else _text(value)
    if not text.lstrip("-").isdigit():
        raise CellError("integer", f"{text!r} is not a whole number")
    return int(text)


def _boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise CellError("boolean", f"{text!r} is not yes/no (true/false, 是/否, 1/0)")


def _datetime(value) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=CHINA_TZ)   # Excel has no zone: China time
        return moment.isoformat(timespec="seconds")
    if isinstance(value, date):
        return datetime.combine(value, time(), CHINA_TZ).isoformat(timespec="seconds")
    if isinstance(value, (int, float)):
        raise CellError("datetime", "a date-time cell or text like 2026-11-23T20:08:33+08:00 is expected, "
                                    "not a number")
    return _text(value)


def _date(value) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float)):
        raise CellError("date", "a date cell or text like 2026-11-23 is expected, not a number")
    return _text(value)


def to_cell(column: Column, value) -> str | int | bool:
    """The reverse, for templates and round trips: a JSON value as the cell to write."""
    if column.kind == LIST:
        return "|".join(value)
    if column.kind == JSON:
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, (bool, int)):
        return value
    return str(value)
