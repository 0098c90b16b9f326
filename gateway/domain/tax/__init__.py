"""Taxes, one module per tax: pure functions over Decimal money, no I/O besides the read-only
reference data (``gateway.reference``, loaded once per process).

- ``rulesets``  dated, named, versioned rule sets (limits, VAT steps, thresholds); ``ruleset_for(date)``
- ``cbec``      cross-border retail import comprehensive tax (1210 / 9610): limits, 70 %, withheld check
- ``general``   general-trade import: CIF in CNY, duty, consumption tax, import VAT
- ``rebate``    export VAT rebate / exemption declaration data (0110, 9610 with or without invoices)

Rounding (the same in every module): intermediate amounts are never rounded; each tax of each line
is rounded once to the fen, half up; totals are sums of the rounded line amounts. Head amounts
(freight, insurance, discount) are apportioned to lines by value with the largest-remainder method,
so the lines add up to the head amount exactly (``apportion``). See docs/tax-fx.md.
"""
from .common import TaxError, apportion

__all__ = ["TaxError", "apportion"]
