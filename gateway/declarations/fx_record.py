"""FX records as XML (our own schema ``gateway/schemas/fx-record.xsd``, namespace urn:gateway:fx:1).

Pure: ``build_fx_record(record, guid)`` -> an unsigned lxml root with ``guid`` and ``version``
attributes, signable by ``gateway.signing.XmlSigner``.
"""
from __future__ import annotations

from decimal import Decimal

from lxml import etree

from gateway.domain.fx import FxRecord
from gateway.reference.rates import CustomsRate

from .records import RecordFormat

FX_NS = "urn:gateway:fx:1"
_FORMAT = RecordFormat(FX_NS, "fx")
_q = _FORMAT.q


def _decimal(value: Decimal) -> str:
    return "0" if value == 0 else format(value, "f")


def _add(parent, name: str, value) -> None:
    if value is None or value == "":
        return
    el = etree.SubElement(parent, _q(name))
    el.text = _decimal(value) if isinstance(value, Decimal) else str(value)


def _rate(parent, name: str, rate: CustomsRate) -> None:
    el = etree.SubElement(parent, _q(name), {"currency": rate.currency, "month": rate.month, "status": rate.status})
    el.text = _decimal(rate.cny_per_unit)


def build_fx_record(record: FxRecord, guid: str) -> etree._Element:
    root = _FORMAT.root("FxRecord", guid)
    for name, value in (("reference", record.reference), ("regime", record.regime),
                        ("direction", record.direction), ("kind", record.kind), ("form", record.form),
                        ("transactionCode", record.bop_code), ("transactionLabel", record.bop_label),
                        ("codeConfidence", record.bop_confidence), ("channel", record.channel),
                        ("aggregateCode", record.aggregate_code), ("declaredOn", record.declared_on.isoformat()),
                        ("currency", record.currency), ("currencyNumeric", record.currency_numeric),
                        ("amount", record.amount), ("amountCny", record.amount_cny)):
        _add(root, name, value)
    _rate(root, "exchangeRate", record.rate)
    _rate(root, "usdRate", record.usd_rate)
    for name, value in (("usdEquivalent", record.usd_equivalent), ("limitUsd", record.limit_usd),
                        ("counterpartyCountry", record.counterparty_country), ("remark", record.remark),
                        ("ruleSet", record.ruleset.id), ("referenceVersion", record.reference_version)):
        _add(root, name, value)
    return root
