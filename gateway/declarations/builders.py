"""Every builder the Declarer can call, by message type, and the business key of each filing.

One registry over the builder modules, so the service looks builders up in one place. A module
joins with its ``BUILDERS`` (message type -> builder) and ``business_key(message_type, order, ctx)``.
"""
from __future__ import annotations

from . import agency_records, ceb_export, ceb_import, dec

_MODULES = (ceb_import, ceb_export, dec, agency_records)   # agency_records: inspection, tax, FX records

BUILDERS = {}
_KEYS = {}
for _module in _MODULES:
    for _message_type, _builder in _module.BUILDERS.items():
        if _message_type in BUILDERS:
            raise RuntimeError(f"two builders for {_message_type}")
        BUILDERS[_message_type] = _builder
        _KEYS[_message_type] = _module.business_key


def business_key(message_type: str, order, ctx) -> str:
    """The key receipts for this filing will carry (see gateway.declarations.keys)."""
    return _KEYS[message_type](message_type, order, ctx)
