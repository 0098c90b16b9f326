"""Tax records as XML (our own schema ``gateway/schemas/tax-record.xsd``, namespace urn:gateway:tax:1).

Pure: a computed result -> an unsigned lxml root with ``guid`` and ``version`` attributes, like CEB
messages, so ``gateway.signing.XmlSigner`` can sign it and ``gateway.schemas.validate`` can check it.

    root = build_tax_record(cbec_quote, guid)      # CbecQuote or GeneralQuote
    root = build_rebate_record(rebate_record, guid)
"""
from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from lxml import etree

from gateway.domain.tax.cbec import CbecQuote
from gateway.domain.tax.common import LineTax
from gateway.domain.tax.general import GeneralQuote
from gateway.domain.tax.rebate import RebateRecord
from gateway.reference.rates import CustomsRate

from .records import RecordFormat

TAX_NS = "urn:gateway:tax:1"
_FORMAT = RecordFormat(TAX_NS, "tax")
_q = _FORMAT.q


def _text(value: object) -> str:
    if isinstance(value, Decimal):   # as computed ("690.00" stays "690.00"); the schema checks the digits
        return "0" if value == 0 else format(value, "f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _add(parent: etree._Element, name: str, value: object) -> etree._Element | None:
    if value is None or value == "":
        return None
    el = etree.SubElement(parent, _q(name))
    el.text = _text(value)
    return el


def _add_all(parent: etree._Element, pairs: Iterable[tuple[str, object]]) -> None:
    for name, value in pairs:
        _add(parent, name, value)


def _rate(parent: etree._Element, name: str, rate: CustomsRate) -> None:
    el = etree.SubElement(parent, _q(name), {"month": rate.month, "status": rate.status})
    el.text = _text(rate.cny_per_unit)


def _line(parent: etree._Element, ln: LineTax) -> None:
    el = etree.SubElement(parent, _q("Line"))
    _add_all(el, (("gnum", ln.number), ("hsCode", ln.hs_code), ("goodsValue", ln.goods_value),
                  ("headShare", ln.head_share), ("dutiableValue", ln.dutiable_value),
                  ("dutyRate", ln.duty_rate), ("ctKind", ln.ct_kind), ("ctRate", ln.ct_rate),
                  ("ctSpecific", ln.ct_specific), ("ctQuantity", ln.ct_quantity), ("vatRate", ln.vat_rate),
                  ("leviedShare", ln.share), ("duty", ln.duty), ("consumptionTax", ln.consumption_tax),
                  ("vat", ln.vat), ("total", ln.total)))
    for note in ln.notes:
        _add(el, "note", note)


def build_tax_record(quote: CbecQuote | GeneralQuote, guid: str) -> etree._Element:
    """The TaxRecord of a CBEC or general-trade import quote."""
    root = _FORMAT.root("TaxRecord", guid)
    head = etree.SubElement(root, _q("Head"))
    if isinstance(quote, CbecQuote):
        _add_all(head, (("kind", "cbec-import"), ("reference", quote.order_no), ("regime", quote.regime)))
    else:
        _add(head, "kind", "general-import")
    _add_all(head, (("assessedOn", quote.assessed_on.isoformat()), ("ruleSet", quote.ruleset.id),
                    ("referenceVersion", quote.reference_version)))
    if isinstance(quote, CbecQuote):
        _add_all(head, (("mode", quote.mode), ("currency", "CNY")))
        _rate(head, "exchangeRate", CustomsRate("CNY", f"{quote.assessed_on:%Y-%m}", Decimal(1), "identity"))
    else:
        _add_all(head, (("terms", quote.terms), ("currency", quote.currency)))
        _rate(head, "exchangeRate", quote.rate)
    for ln in quote.lines:
        _line(root, ln)
    totals = etree.SubElement(root, _q("Totals"))
    _add(totals, "dutiableValue", quote.dutiable_value if isinstance(quote, CbecQuote) else quote.customs_value)
    _add_all(totals, (("duty", quote.duty), ("consumptionTax", quote.consumption_tax), ("vat", quote.vat),
                      ("total", quote.total)))
    if isinstance(quote, GeneralQuote):
        for name in quote.waived:
            _add(totals, "waived", name)
    if isinstance(quote, CbecQuote):
        w = etree.SubElement(root, _q("Withheld"))
        _add_all(w, (("taxWithheld", quote.tax_withheld), ("difference", quote.withheld_difference)))
        a = etree.SubElement(root, _q("Annual"))
        _add_all(a, (("year", f"{quote.year:04d}"), ("usedBefore", quote.annual_used),
                     ("counted", quote.annual_counted), ("after", quote.annual_after),
                     ("limit", quote.ruleset.cbec_annual_limit)))
    for note in quote.notes:
        _add(root, "Note", note)
    return root


def build_rebate_record(record: RebateRecord, guid: str) -> etree._Element:
    """The RebateRecord of an export declaration."""
    d = record.declaration
    root = _FORMAT.root("RebateRecord", guid)
    head = etree.SubElement(root, _q("Head"))
    _add_all(head, (("regime", d.regime), ("declarationNo", d.declaration_no),
                    ("exportDate", d.export_date.isoformat()), ("exporterKind", d.exporter_kind),
                    ("currency", d.currency.upper())))
    _rate(head, "exchangeRate", record.rate)
    _add_all(head, (("ruleSet", record.ruleset.id), ("referenceVersion", record.reference_version),
                    ("outcome", record.outcome), ("vatExempt", record.vat_exempt), ("refund", record.refund),
                    ("offset", record.offset)))
    for ln in record.lines:
        item = etree.SubElement(root, _q("Item"))
        _add_all(item, (("gnum", ln.number), ("hsCode", ln.hs_code), ("name", ln.name), ("unit", ln.unit),
                        ("quantity", ln.quantity), ("fob", ln.fob), ("fobCny", ln.fob_cny),
                        ("vatRate", ln.vat_rate), ("rebateRate", ln.rebate_rate),
                        ("appliedRate", ln.applied_rate), ("invoiceAmount", ln.invoice_amount),
                        ("invoiceVat", ln.invoice_vat), ("refund", ln.refund),
                        ("notRefundable", ln.not_refundable)))
        for inv in ln.invoices:
            el = etree.SubElement(item, _q("Invoice"))
            _add_all(el, (("code", inv.code), ("number", inv.number), ("issuedOn", inv.issued_on.isoformat()),
                          ("amount", inv.amount), ("vat", inv.vat), ("vatRate", inv.vat_rate),
                          ("supplierTaxId", inv.supplier_tax_id)))
    for reason in record.reasons:
        _add(root, "Reason", reason)
    for note in record.notes:
        _add(root, "Note", note)
    return root
