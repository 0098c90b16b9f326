"""China time: every CEB time and every date that picks a rule, a rate or a code is a China date (UTC+8)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8))


def china_date(value: date | datetime) -> date:
    """The calendar date in China (UTC+8) of a datetime (a naive one is taken as China time); a date as is."""
    if isinstance(value, datetime):
        return (value.astimezone(CHINA_TZ) if value.tzinfo else value).date()
    return value


def aware(moment: datetime) -> datetime:
    """``moment`` itself; a naive datetime is refused (ValueError): where the time zone matters we never guess."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime refused: {moment!r}")
    return moment


def today_in_china() -> date:
    return datetime.now(CHINA_TZ).date()


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 date and time from an order; without an offset it is China time."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=CHINA_TZ)


class NoOrderDate(ValueError):
    """The order carries no date (ordered_at, payment time, export date or ie_date)."""


def order_date(order) -> date:
    """The order's own date (China), the one that chooses its rule set and HS rows: ordered_at, else the
    payment time (paid on import, received on export), else the export date (CBEC export) or ie_date
    (general trade). Raises NoOrderDate when it has none."""
    when = getattr(order, "ordered_at", None)
    payment = getattr(order, "payment", None)
    if when is None and payment is not None:
        when = getattr(payment, "paid_at", None) or getattr(payment, "received_at", None)
    if when is None:
        when = getattr(order, "export_date", None) or getattr(order, "ie_date", None)
    if when is None:
        raise NoOrderDate("the order has no date (ordered_at, payment time, export date or ie_date)")
    return china_date(when)
