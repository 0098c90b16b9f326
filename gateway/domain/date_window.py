"""Plausible dates: the times an order reports about itself (ordered, paid, received, left, declared)
lie in a window, by default 2000-01-01 .. now + 1 day (configurable: ``GATEWAY_EARLIEST_ORDER_DATE``,
``GATEWAY_ORDER_DATE_AHEAD_DAYS``). Outside it: rule ``date-window``. Shapes and real calendar dates
stay with each format's schema; this only bounds what is well formed. Pure.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .problems import Problem

# (JSON path, keys to reach it): the event dates of every order format
EVENT_DATES = (
    ("$.ordered_at", ("ordered_at",)),
    ("$.payment.paid_at", ("payment", "paid_at")),
    ("$.payment.received_at", ("payment", "received_at")),
    ("$.departure.left_at", ("departure", "left_at")),
    ("$.export_date", ("export_date",)),
    ("$.ie_date", ("ie_date",)),
    ("$.transport.departure_date", ("transport", "departure_date")),
)
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


@dataclass(frozen=True)
class DateWindow:
    earliest: date = date(2000, 1, 1)
    ahead_days: int = 1

    def latest(self, now: datetime) -> date:
        return now.date() + timedelta(days=self.ahead_days)


DEFAULT_WINDOW = DateWindow()


def _reach(data, keys):
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _day(value) -> date | None:
    match = _DAY.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        return date(*map(int, match.groups()))
    except ValueError:
        return None        # not a real date: the format's own check names it


def problems(data, window: DateWindow, now: datetime) -> list[Problem]:
    """``now``: the later of the gateway's clock and the wall clock (a test clock in the past must
    not refuse today's orders; a replay of an old order is never too late)."""
    wall = datetime.now(UTC)
    now = max(now if now.tzinfo else now.replace(tzinfo=UTC), wall)
    latest = window.latest(now)
    found = []
    for path, keys in EVENT_DATES:
        day = _day(_reach(data, keys))
        if day is not None and not window.earliest <= day <= latest:
            found.append(Problem(path, "date-window", f"{day.isoformat()} is outside the plausible window "
                                                      f"{window.earliest.isoformat()} .. {latest.isoformat()}"))
    return found
