"""Reference data with effective dates: HS lines, code tables, customs exchange rates.

Read-only package data (``gateway/reference/data/*.csv``), parsed once per process on first use and
answered "as of date D". No network, no database: it sits at the bottom of the house beside
``gateway.domain`` (see docs/reference-data.md).

- ``gateway.reference.codes``  currencies, countries, units, ports, customs offices, trade and transport modes
- ``gateway.reference.hs``     ``hs_line(code, on=date) -> HsLine``
- ``gateway.reference.rates``  ``customs_rate(currency_iso, on=date) -> Decimal``

Every lookup raises a ``ReferenceDataError`` (a ``LookupError``) naming the table, the code and the
date: ``UnknownCode`` when the code is not in the table at all, ``NotInForce`` when it is, but not
on that date. ``version()`` fingerprints the data files so a filing can record what it was built with.
"""
from ._tables import NotInForce, ReferenceDataError, UnknownCode, version

__all__ = ["NotInForce", "ReferenceDataError", "UnknownCode", "version"]
