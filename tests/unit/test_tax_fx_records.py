"""Tax and FX records as XML: every generated record validates against our XSDs, signs and verifies."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from lxml import etree

from gateway import schemas, signing
from gateway.declarations.fx_record import build_fx_record
from gateway.declarations.tax_record import build_rebate_record, build_tax_record
from gateway.domain.fx import fx_record, fx_record_for_order
from gateway.domain.parse import parse_order
from gateway.domain.tax import cbec
from gateway.domain.tax.cbec import CbecItem, quote_items
from gateway.domain.tax.general import GoodsItem, quote_import
from gateway.domain.tax.rebate import ExportDeclaration, ExportItem, PurchaseInvoice, rebate_record

VALID = Path(__file__).resolve().parents[2] / "fixtures" / "orders" / "valid"
GUID = "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"


def records():
    out = []
    for path in sorted(VALID.glob("*.json")):
        order = parse_order(path.read_text("utf-8"))
        out.append(build_fx_record(fx_record_for_order(order), GUID))
        try:
            out.append(build_tax_record(cbec.quote(order), GUID))
        except cbec.CbecRefused:
            pass
    out.append(build_tax_record(quote_items([CbecItem(1, "4202210090", D("6000.00"), D("1"), "007", D("1"), "007")],
                                            freight=D("30.00"), on=date(2026, 11, 22)), GUID))
    out.append(build_tax_record(quote_import([GoodsItem(1, "2208300000", D("10000.00"), D("120"), "095")],
                                             declared_on=date(2024, 5, 20), currency="JPY", terms="CIF"), GUID))
    out.append(build_tax_record(quote_import([GoodsItem(1, "8509800000", D("200.00"))],
                                             declared_on=date(2024, 5, 20)), GUID))     # waived taxes
    inv = PurchaseInvoice("3300241130", "00112233", date(2024, 5, 2), D("10000.00"), D("1300.00"), D("0.13"), "91330100X")
    for kw in ({}, {"regime": "9610"}):
        decl = ExportDeclaration(kw.get("regime", "0110"), "310120240123456789", date(2024, 5, 20), "USD", "trading",
                                 (ExportItem(1, "8509800000", "电动牙刷", "001", D("400"), D("1600.00"), (inv,)),))
        out.append(build_rebate_record(rebate_record(decl), GUID))
    out.append(build_fx_record(fx_record(reference="DEC-1", regime="0110", direction="export", amount=D("1234.5"),
                                         currency="EUR", declared_on=date(2024, 5, 20), channel="bank"), GUID))
    return out


def test_every_generated_record_validates():
    built = records()
    assert {etree.QName(r).localname for r in built} == {"TaxRecord", "RebateRecord", "FxRecord"}
    for root in built:
        assert schemas.validate(root) == [], etree.tostring(root, encoding="unicode")[:400]


def test_records_sign_and_verify(signing_key):
    signer = signing.XmlSigner(signing.RSA_SHA256)
    for root in records()[:3] + records()[-3:]:
        signed = signer.sign(root, signing_key)
        verified = signing.verify(signed, trusted_certificates=[signing_key.certificate])
        assert schemas.validate(etree.fromstring(signed)) == []          # the signature fits the XSD too
        assert verified.root.get("guid") == GUID
        tampered = signed.replace(b'guid="0F1E', b'guid="1F1E', 1)
        assert tampered != signed
        with pytest.raises(signing.SignatureInvalid):
            signing.verify(tampered)


def test_schema_refuses_a_broken_record():
    root = build_tax_record(cbec.quote(parse_order((VALID / "9610-minimal.json").read_text("utf-8"))), GUID)
    root.find("{urn:gateway:tax:1}Line/{urn:gateway:tax:1}vat").text = "-1.00"
    assert schemas.validate(root)
    with pytest.raises(ValueError, match="upper case"):
        build_tax_record(cbec.quote(parse_order((VALID / "9610-minimal.json").read_text("utf-8"))), GUID.lower())
