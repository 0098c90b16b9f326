"""The DecMessage builder (gateway.declarations.dec): general-trade order -> declaration, compared to
golden files, valid against our dec.xsd, signed and verified.

Golden files were checked by eye once against general-trade-inspection-fx-tax.md §1-2; regenerate
deliberately with UPDATE_GOLDEN=1 and review the diff.
"""
import os
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from gateway import schemas
from gateway.declarations.builders import BUILDERS, business_key
from gateway.declarations.common import FilingContext, Transfer
from gateway.declarations.dec import DEC_NS, build_dec
from gateway.domain.general_trade.intake import parse_gt_order
from gateway.domain.planning import plan
from gateway.ports import SequentialIds
from gateway.service.declare import Declarer
from gateway.signing import XmlSigner, verify

ROOT = Path(__file__).resolve().parents[2]
VALID = ROOT / "fixtures" / "orders" / "general" / "valid"
FIXTURES = sorted(p.name for p in VALID.glob("*.json"))
GOLDEN = Path(__file__).parent / "golden"
NS = {"d": DEC_NS}
TRANSFER = Transfer("3122980123", "上海通关宝报关有限公司", "DXPENT0000458763")
APP_TIME = datetime(2026, 11, 20, 10, 30, 0, tzinfo=timezone(timedelta(hours=8)))
CTX = FilingContext(guid="6F1C2A4E-0000-4000-8000-000000000001", app_time=APP_TIME, transfer=TRANSFER)


def order(name="gt-import-wine.json"):
    return parse_gt_order((VALID / name).read_bytes(), on=date(2026, 11, 20))


def text(root, path):
    return root.findtext(path, namespaces=NS)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_golden(fixture):
    root = build_dec(order(fixture), CTX)
    data = etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)
    golden = GOLDEN / f"{fixture.removesuffix('.json')}.DecMessage.xml"
    if os.environ.get("UPDATE_GOLDEN") or not golden.exists():
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(data)
        if not os.environ.get("UPDATE_GOLDEN"):
            pytest.fail(f"golden file {golden.name} was missing and has been written: review it")
    assert data == golden.read_bytes()


@pytest.mark.parametrize("fixture", FIXTURES)
def test_every_declaration_is_valid_against_our_schema(fixture):
    assert schemas.validate(build_dec(order(fixture), CTX)) == []


def test_registry_finds_the_builder_and_the_key():
    o = order()
    assert [p.message_type for p in plan(o)] == ["DecMessage"]
    assert [(p.agency, p.sequence) for p in plan(o)] == [("customs", 1)]
    assert BUILDERS["DecMessage"] is build_dec
    assert business_key("DecMessage", o, CTX) == "dec:WINE20261118000001"
    assert {"CEB311Message", "CEB621Message", "DecMessage"} <= set(BUILDERS)


def test_root_blocks_and_their_order():
    root = build_dec(order(), CTX)
    assert etree.QName(root).namespace == DEC_NS and root.nsmap == {None: DEC_NS}
    assert root.get("version") == "4.8"
    assert [etree.QName(c).localname for c in root] == [
        "DecHead", "DecLists", "DecContainers", "DecRequestCerts", "DecOtherPacks", "DecCopLimits",
        "DecCopPromises", "DecFreeTxt", "DecSign", "EdocRealation", "EdocRealation", "EdocRealation"]


def test_codes_are_iso_letters_in_the_declaration():
    root = build_dec(order("gt-import-infant-formula.json"), CTX)   # the order gave currency 300
    assert text(root, "d:DecLists/d:DecList/d:TradeCurr") == "EUR"
    assert text(root, "d:DecHead/d:TradeCountry") == "NLD" and text(root, "d:DecHead/d:TradeAreaCode") == "NLD"
    assert text(root, "d:DecLists/d:DecList/d:OriginCountry") == "NLD"
    assert text(root, "d:DecLists/d:DecList/d:DestinationCountry") == "CHN"


def test_head_of_an_import():
    root = build_dec(order(), CTX)
    h = lambda name: text(root, f"d:DecHead/d:{name}")   # noqa: E731
    assert (h("IEFlag"), h("TradeMode"), h("CutMode"), h("TransMode")) == ("I", "0110", "101", "3")
    assert (h("FeeMark"), h("FeeRate"), h("FeeCurr")) == ("3", "2150", "EUR")
    assert (h("InsurMark"), h("InsurRate"), h("InsurCurr")) == ("1", "0.3", None)   # a rate has no currency
    assert h("OtherMark") is None
    assert h("PromiseItmes") == "00099"
    assert h("CopCode") == "051287334"            # organisation code inside the declarant's USCC
    assert (h("GrossWet"), h("NetWt"), h("PackNo"), h("WrapType")) == ("9860.5", "5400", "1200", "22")
    assert h("IEDate") == "20261118" and h("DespDate") == "20261012"
    assert h("OverseasConsignorEname") == "Maison Duroc Vins SAS" and h("OverseasConsigneeEname") is None
    assert text(root, "d:DecCopPromises/d:DecCopPromise/d:DeclaratioMaterialCode") == "101040"
    assert text(root, "d:DecFreeTxt/d:VoyNo") == "0MDK7E1MA"


def test_head_of_an_export():
    root = build_dec(order("gt-export-apparel.json"), CTX)
    h = lambda name: text(root, f"d:DecHead/d:{name}")   # noqa: E731
    assert (h("IEFlag"), h("TransMode"), h("TradeCountry"), h("PromiseItmes")) == ("E", "3", "DEU", "99999")
    assert h("FeeMark") is None and h("InsurMark") is None
    assert h("OverseasConsigneeEname") == "Nordwind Textil GmbH" and h("OverseasConsignorEname") is None
    assert h("TradeCiqCode") is None
    assert text(root, "d:DecCopPromises/d:DecCopPromise/d:DeclaratioMaterialCode") == "102053"
    assert root.find("d:DecRequestCerts", NS) is None and root.find("d:DecCopLimits", NS) is None


def test_goods_lines_carry_the_inspection_fields():
    root = build_dec(order("gt-import-infant-formula.json"), CTX)
    line = root.find("d:DecLists/d:DecList", NS)
    get = lambda name: line.findtext(f"d:{name}", namespaces=NS)   # noqa: E731
    assert (get("GNo"), get("CodeTS"), get("CiqCode")) == ("1", "1901101000", "999")
    assert get("GModel").split("|")[4] == "800克/罐"
    assert (get("GQty"), get("GUnit"), get("FirstQty"), get("FirstUnit")) == ("24000", "122", "19200", "035")
    assert (get("DeclPrice"), get("DeclTotal")) == ("9.85", "236400")
    assert get("GoodsAttr") == "14,17,19" and get("Purpose") == "12"
    assert get("ProduceDate") == "20260814;20260815" and get("ProdValidDt") == "20280813"
    assert get("EngManEntCnm") == "Friesche Zuivel B.V." and get("NoDangFlag") == "1"
    limit = line.find("d:DecGoodsLimits/d:DecGoodsLimit", NS)
    assert [etree.QName(c).localname for c in limit] == ["GoodsNo", "LicTypeCode", "LicenceNo"]
    assert limit.findtext("d:LicTypeCode", namespaces=NS) == "519"


def test_export_line_has_second_unit_and_no_inspection_fields():
    line = build_dec(order("gt-export-apparel.json"), CTX).find("d:DecLists/d:DecList", NS)
    names = [etree.QName(c).localname for c in line]
    assert names[names.index("FirstUnit") + 1:names.index("FirstUnit") + 3] == ["SecondQty", "SecondUnit"]
    assert "GoodsAttr" not in names and "ProduceDate" not in names and "DecGoodsLimits" not in names


def test_sign_block_carries_the_client_reference():
    sign = build_dec(order(), CTX).find("d:DecSign", NS)
    assert [etree.QName(c).localname for c in sign] == [
        "OperType", "ClientSeqNo", "ICCode", "OperName", "CopCode", "SignDate", "DomainId"]
    assert sign.findtext("d:ClientSeqNo", namespaces=NS) == "WINE20261118000001"
    assert sign.findtext("d:SignDate", namespaces=NS) == "20261120103000"


def test_sign_date_is_china_time():
    utc = FilingContext(guid=CTX.guid, app_time=APP_TIME.astimezone(UTC), transfer=TRANSFER)
    assert build_dec(order(), utc).findtext("d:DecSign/d:SignDate", namespaces=NS) == "20261120103000"


def test_containers_and_attachments():
    root = build_dec(order("gt-import-infant-formula.json"), CTX)
    containers = root.findall("d:DecContainers/d:Container", NS)
    assert [c.findtext("d:ContainerId", namespaces=NS) for c in containers] == ["MSKU7321054", "MSKU7321069"]
    assert containers[0].findtext("d:GoodsNo", namespaces=NS) == "1"
    assert containers[0].findtext("d:GoodsContaWt", namespaces=NS) == "10920"
    edocs = root.findall("d:EdocRealation", NS)
    assert [e.findtext("d:EdocCode", namespaces=NS) for e in edocs] == ["00000001", "00000002", "00000003"]


def test_optional_values_are_omitted_not_sent_empty():
    for fixture in FIXTURES:
        for el in build_dec(order(fixture), CTX).iter():
            if len(el) == 0:
                assert el.text, f"{fixture}: empty element {el.tag}"


def test_schema_refuses_what_customs_would():
    root = build_dec(order(), CTX)
    root.find("d:DecLists/d:DecList/d:TradeCurr", NS).text = "978"           # numeric currency
    root.find("d:DecHead/d:TradeCountry", NS).text = "305"                   # numeric country
    sign = root.find("d:DecSign", NS)
    sign.remove(sign.find("d:ClientSeqNo", NS))                              # no idempotency key
    problems = schemas.validate(root)
    assert len(problems) == 3
    assert any("TradeCurr" in p for p in problems) and any("TradeCountry" in p for p in problems)
    assert any("ClientSeqNo" in p for p in problems)


def test_schema_refuses_blocks_out_of_order():
    root = build_dec(order(), CTX)
    root.append(root.find("d:DecHead", NS))       # DecHead moved to the end
    assert schemas.validate(root)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_declarer_signs_and_the_signed_bytes_validate_and_verify(fixture, signing_key):
    built = Declarer(XmlSigner(), SequentialIds()).declare(order(fixture), transfer=TRANSFER, key=signing_key,
                                                           app_time=APP_TIME, cop_no="GW000000000000000001")
    # one entry, four agencies: the declaration, then the tax record (import taxes or export rebate data,
    # after the declaration it taxes) and the FX record; general trade carries its inspection data inside
    # the DecMessage
    tax_record = "TaxRecord" if order(fixture).direction == "import" else "RebateRecord"
    assert [(b.message_type, b.agency, b.sequence) for b in built] == [
        ("DecMessage", "customs", 1), (tax_record, "tax", 2), ("FxRecord", "fx", 1)]
    signed = built[0].signed_bytes
    assert built[0].business_key == f"dec:{order(fixture).client_ref}"
    verified = verify(signed, trusted_certificates=[signing_key.certificate])
    assert etree.QName(verified.root).localname == "DecMessage"
    parsed = etree.fromstring(signed)
    assert etree.QName(parsed[-1]).localname == "Signature"          # last child, after EdocRealation
    assert schemas.validate(parsed) == []


def test_a_changed_byte_breaks_the_signature(signing_key):
    from gateway.signing import SignatureInvalid

    built = Declarer(XmlSigner(), SequentialIds()).declare(order(), transfer=TRANSFER, key=signing_key,
                                                           app_time=APP_TIME, cop_no="GW000000000000000001")
    tampered = built[0].signed_bytes.replace(b"<GQty>6000</GQty>", b"<GQty>6001</GQty>")
    assert tampered != built[0].signed_bytes
    with pytest.raises(SignatureInvalid):
        verify(tampered)


def test_declarer_refuses_a_built_document_its_schema_refuses_naming_the_line(signing_key, monkeypatch):
    """The declarer validates the signed tree in place; a refusal names lines of the signed bytes (the
    declaration on line 1, the document on line 2), as a receiver parsing them would see it."""
    from gateway.service.declare import FilingInvalid

    build = BUILDERS["DecMessage"]

    def with_a_stray_element(order_, ctx):
        root = build(order_, ctx)
        etree.SubElement(root, f"{{{DEC_NS}}}Stray").text = "x"
        return root

    monkeypatch.setitem(BUILDERS, "DecMessage", with_a_stray_element)
    with pytest.raises(FilingInvalid) as caught:
        Declarer(XmlSigner(), SequentialIds()).declare(order(), transfer=TRANSFER, key=signing_key,
                                                       app_time=APP_TIME, cop_no="GW000000000000000001")
    [problem] = [p for p in caught.value.problems if "Stray" in p.message]
    assert (problem.path, problem.rule) == ("DecMessage", "xsd")
    assert problem.message.startswith("line 2: ")
