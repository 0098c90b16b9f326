"""The record filings of the inspection, tax and FX agencies, for the builder registry
(``gateway.declarations.builders``).

Their builders need what ``gateway.domain.agencies.assess`` made of the order (the inspection decision,
the tax quote or rebate record, the FX record), so the Declarer hands them an ``AgencyContext``: a
``FilingContext`` that also carries the ``Assessment``. Each record is our own XML (namespaces
urn:gateway:inspection:1, urn:gateway:tax:1, urn:gateway:fx:1) with an upper-case ``guid``; the agency
answers it with an ``AgencyReceipt`` naming that guid, so the guid is the business key
(``keys.message_key``).
"""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from . import keys
from .common import FilingContext
from .fx_record import build_fx_record
from .inspection_record import build_inspection_record
from .tax_record import build_rebate_record, build_tax_record


@dataclass(frozen=True)
class AgencyContext(FilingContext):
    assessment: object | None = None      # gateway.domain.agencies.Assessment


def _assessment(ctx):
    assessment = getattr(ctx, "assessment", None)
    if assessment is None:
        raise ValueError("an agency record needs the order's assessment in its context (AgencyContext)")
    return assessment


def build_inspection(order, ctx: AgencyContext) -> etree._Element:
    return build_inspection_record(order, _assessment(ctx).inspection, ctx.guid)


def build_tax(order, ctx: AgencyContext) -> etree._Element:
    return build_tax_record(_assessment(ctx).tax, ctx.guid)


def build_rebate(order, ctx: AgencyContext) -> etree._Element:
    return build_rebate_record(_assessment(ctx).tax, ctx.guid)


def build_fx(order, ctx: AgencyContext) -> etree._Element:
    return build_fx_record(_assessment(ctx).fx, ctx.guid)


def business_key(message_type: str, order, ctx: FilingContext) -> str:
    """An agency receipt names the record by its message id."""
    if message_type not in BUILDERS:
        raise KeyError(message_type)
    return keys.message_key(ctx.guid)


BUILDERS = {
    "InspectionRecord": build_inspection,
    "TaxRecord": build_tax,
    "RebateRecord": build_rebate,
    "FxRecord": build_fx,
}
