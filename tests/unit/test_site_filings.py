"""The other parties' filings (docs/site-filings.md): CEB513 waybill status, CEB711 entry list of direct-mail
parcels, CEB215 return tally. JSON in (fixtures/site-filings/), signed message out; every message valid
against our schema AND the official 202205 XSD; field by field against the official samples; bad input
refused with the field and the rule named; the command line writes a signed message."""
import copy
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from gateway import schemas
from gateway.declarations import keys
from gateway.declarations.ceb_site_filings import BUILDERS, business_keys, entity_guid
from gateway.declarations.common import CEB_NS, FilingContext, Transfer
from gateway.domain.problems import OrderInvalid
from gateway.domain.site_filings import parse_entry_list, parse_logistics_status, parse_return_tally
from gateway.ports import SequentialIds
from gateway.service.declare import Declarer
from gateway.service.site_filings import KINDS, prepare

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ROOT / "fixtures" / "site-filings"
REFERENCE = Path(os.environ.get("CEB_REFERENCE_DIR") or ROOT.parent.parent / "shared/reference/ceb-202205")
if not REFERENCE.is_dir():
    REFERENCE = Path(__file__).resolve().parents[3] / "shared/reference/ceb-202205"
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
NS = {"c": CEB_NS}
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 3, 10, 0, 0, tzinfo=CST)
TRANSFER = Transfer("1101180326", "北京跨境速递物流有限公司", "DXPENT0000458763")
GUID = "6F1C2A4E-0000-4000-8000-000000000513"
OFFICIAL = {"CEB513Message": ("ceb-import-202205.xsd", "import/CEB513Message.xml"),
            "CEB711Message": ("ceb-import-202205.xsd", "import/CEB711Message.xml"),
            "CEB215Message": ("ceb-export-202205.xsd", "export/CEB215Message.xml")}
KIND_OF = {k.message_type: name for name, k in KINDS.items()}


def data(kind: str) -> dict:
    return json.loads((INPUTS / f"{kind}.json").read_text("utf-8"))


def document(message_type: str, d: dict | None = None):
    kind = KIND_OF[message_type]
    d = d if d is not None else data(kind)
    return KINDS[kind].parse(d, NOW)


def built(message_type: str, d: dict | None = None):
    ctx = FilingContext(guid=GUID, app_time=NOW, transfer=TRANSFER)
    return BUILDERS[message_type](document(message_type, d), ctx)


def official_xsd(message_type: str) -> etree.XMLSchema:
    path = REFERENCE / "xsd" / OFFICIAL[message_type][0]
    if not path.is_file():
        pytest.skip(f"official CEB 202205 XSD not present at {path} (shared/reference absent)")
    return etree.XMLSchema(etree.parse(str(path), SAFE_PARSER))


def official_sample(message_type: str) -> etree._Element:
    path = REFERENCE / "samples" / OFFICIAL[message_type][1]
    if not path.is_file():
        pytest.skip(f"official sample not present at {path}")
    return etree.fromstring(path.read_bytes().removeprefix(b"\xef\xbb\xbf"), SAFE_PARSER)


@pytest.fixture(scope="module")
def declarer():
    from gateway.signing import XmlSigner, by_name

    return Declarer(XmlSigner(by_name("rsa-sha256")), SequentialIds())


@pytest.fixture(scope="module")
def signed(declarer, signing_key):
    return {mt: prepare(KIND_OF[mt], data(KIND_OF[mt]), declarer=declarer, key=signing_key, transfer=TRANSFER,
                        app_time=NOW) for mt in BUILDERS}


# -- conformance ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("message_type", sorted(BUILDERS))
def test_signed_message_is_valid_against_our_schema_and_the_official_xsd(signed, message_type):
    root = etree.fromstring(signed[message_type].signed_bytes, SAFE_PARSER)
    assert etree.QName(root).localname == message_type
    assert schemas.validate(root) == []
    xsd = official_xsd(message_type)
    assert xsd.validate(root), xsd.error_log
    assert root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None


def test_the_entry_list_cannot_go_unsigned():
    """CEB711 is one of the four messages the XSD makes the signature mandatory for."""
    assert any("Signature" in p for p in schemas.validate(built("CEB711Message")))
    assert schemas.validate(built("CEB513Message")) == []       # optional there
    assert schemas.validate(built("CEB215Message")) == []


def _fields(entity) -> list[str]:
    return [etree.QName(child).localname for child in entity]


@pytest.mark.parametrize("message_type, entity", [
    ("CEB513Message", "c:LogisticsStatus"),
    ("CEB711Message", "c:Delivery/c:DeliveryHead"),
    ("CEB711Message", "c:Delivery/c:DeliveryList"),
    ("CEB215Message", "c:InvtRefundDetail"),
])
def test_same_fields_in_the_same_order_as_the_official_sample(message_type, entity):
    """Field by field: our entity carries every field the official sample fills, in the sample's order.
    Left aside: preNo / rkdNo (numbers the e-port and customs assign) and free-text notes."""
    ours = _fields(built(message_type).find(entity, NS))
    sample = official_sample(message_type).find(entity, NS)
    theirs = [name for name in _fields(sample)
              if name not in {"preNo", "rkdNo", "note"} and (sample.findtext(f"c:{name}", namespaces=NS) or "").strip()]
    assert len(ours) == len(set(ours))
    assert [n for n in ours if n in theirs] == theirs   # every filled sample field, in the sample's order
    assert set(ours) - set(theirs) <= {"note", "preNo", "unloadLocation"}


def test_waybill_status_fields():
    statuses = built("CEB513Message").findall("c:LogisticsStatus", NS)
    got = [[s.findtext(f"c:{n}", namespaces=NS) for n in ("guid", "logisticsCode", "logisticsNo", "logisticsStatus",
                                                         "logisticsTime", "appTime", "note")] for s in statuses]
    assert got == [
        [GUID, "1101180326", "L2026112000131", "S", "20261123152011", "20261203100000", None],
        [entity_guid(GUID, 1), "1101180326", "L2026112000132", "S", "20261123160245", "20261203100000", "前台代收"],
    ]
    assert entity_guid(GUID, 1) != GUID and entity_guid(GUID, 1) == entity_guid(GUID, 1).upper()


def test_entry_list_fields():
    root = built("CEB711Message")
    head = root.find("c:Delivery/c:DeliveryHead", NS)
    assert {n: head.findtext(f"c:{n}", namespaces=NS) for n in (
        "guid", "appStatus", "customsCode", "copNo", "operatorCode", "ieFlag", "trafMode", "trafNo", "voyageNo",
        "billNo", "logisticsCode", "unloadLocation")} == {
        "guid": GUID, "appStatus": "2", "customsCode": "3700", "copNo": "RK2026112000015",
        "operatorCode": "1101110326", "ieFlag": "I", "trafMode": "5", "trafNo": "CK261", "voyageNo": "20261120",
        "billNo": "784-20261120", "logisticsCode": "1105910159", "unloadLocation": "A区03库位"}
    rows = [(r.findtext("c:gnum", namespaces=NS), r.findtext("c:logisticsNo", namespaces=NS),
             r.findtext("c:note", namespaces=NS)) for r in root.findall("c:Delivery/c:DeliveryList", NS)]
    assert rows == [("1", "L2026112000131", None), ("2", "L2026112000132", None),
                    ("3", "L2026112000133", "外包装破损")]
    assert len(root.findall("c:Delivery", NS)) == 1


def test_return_tally_fields():
    details = built("CEB215Message").findall("c:InvtRefundDetail", NS)
    names = ("customsCode", "operatorCode", "operatorName", "logisticsCode", "logisticsNo", "invtNo", "coElNo",
             "preNo", "billNo", "ieFlag", "trafMode", "trafName", "voyageNo", "location")
    got = [[d.findtext(f"c:{n}", namespaces=NS) for n in names] for d in details]
    common = ["5316", "4403980S2K", "深圳盐田跨境电商监管场所运营有限公司", "4403980W6U"]
    tail = ["COSU6345519021", "I", "2", "COSCO SHIPPING ARIES", "052E", "B区12号堆位"]
    assert got == [
        common + ["HYT2026112000431", "53162026E000004312", "RT2026120300001", None] + tail,
        common + ["HYT2026112000432", "53162026E000004313", "RT2026120300002", "B20261120000000432"] + tail,
    ]


def test_business_keys_are_the_ones_the_receipts_carry(signed):
    assert signed["CEB513Message"].business_keys == (
        keys.logistics_status_key("1101180326", "L2026112000131", "S"),
        keys.logistics_status_key("1101180326", "L2026112000132", "S"))
    assert signed["CEB711Message"].business_keys == (keys.delivery_key("RK2026112000015"),)
    assert signed["CEB215Message"].business_keys == (
        keys.return_tally_key("4403980W6U", "HYT2026112000431", "RT2026120300001"),
        keys.return_tally_key("4403980W6U", "HYT2026112000432", "RT2026120300002"))
    with pytest.raises(KeyError):
        business_keys("CEB621Message", None)


def test_the_same_context_rebuilds_the_same_bytes():
    one = etree.tostring(built("CEB215Message"))
    assert one == etree.tostring(built("CEB215Message"))


# -- where we are stricter than the official XSD ----------------------------------------------------------

@pytest.mark.parametrize("message_type, path, value", [
    ("CEB513Message", "c:LogisticsStatus/c:logisticsStatus", "R"),     # the official sample's R: "限定S"
    ("CEB711Message", "c:Delivery/c:DeliveryHead/c:ieFlag", "E"),      # entry lists are direct-mail import
    ("CEB215Message", "c:InvtRefundDetail/c:ieFlag", "E"),             # "出口退货填I"
    ("CEB711Message", "c:Delivery/c:DeliveryList/c:gnum", "0"),        # "从1开始的递增序号"
])
def test_where_we_are_stricter_than_the_official_schema(signed, message_type, path, value):
    root = copy.deepcopy(etree.fromstring(signed[message_type].signed_bytes, SAFE_PARSER))
    root.find(path, NS).text = value
    xsd = official_xsd(message_type)
    assert xsd.validate(root), xsd.error_log
    assert schemas.validate(root), "our schema should refuse it"


# -- bad input: refused, the field and the rule named ------------------------------------------------------

def _refused(parse, d) -> list[tuple[str, str]]:
    with pytest.raises(OrderInvalid) as exc:
        parse(d)
    return [(p.path, p.rule) for p in exc.value.problems]


def test_a_status_other_than_signed_is_refused():
    d = data("logistics-status")
    d["statuses"][0]["status"] = "R"
    assert _refused(lambda x: parse_logistics_status(x, on=NOW), d) == [("$.statuses[0].status", "schema:enum")]


def test_a_status_in_the_future_is_refused():
    d = data("logistics-status")
    d["statuses"][1]["signed_at"] = "2026-12-03T10:00:01+08:00"
    assert _refused(lambda x: parse_logistics_status(x, on=NOW), d) == [("$.statuses[1].signed_at", "not-future")]


def test_an_impossible_date_is_refused():
    d = data("logistics-status")
    d["statuses"][0]["signed_at"] = "2026-11-31T10:00:00"
    assert _refused(lambda x: parse_logistics_status(x, on=NOW), d) == [("$.statuses[0].signed_at", "schema:format")]


def test_the_same_waybill_twice_is_refused():
    d = data("logistics-status")
    d["statuses"][1]["waybill_no"] = d["statuses"][0]["waybill_no"]
    assert _refused(lambda x: parse_logistics_status(x, on=NOW), d) == [("$.statuses[1].waybill_no", "duplicate-waybill")]
    e = data("entry-list")
    e["parcels"].append({"waybill_no": "L2026112000131"})
    assert _refused(parse_entry_list, e) == [("$.parcels[3].waybill_no", "duplicate-waybill")]


def test_more_than_a_hundred_statuses_are_refused():
    d = data("logistics-status")
    d["statuses"] = [{"waybill_no": f"L{i:08d}", "signed_at": "2026-11-23T15:20:11+08:00"} for i in range(101)]
    assert _refused(lambda x: parse_logistics_status(x, on=NOW), d) == [("$.statuses", "schema:maxItems")]


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.pop("entry_no"), ("$.entry_no", "schema:required")),
    (lambda d: d.update(customs_code="37000"), ("$.customs_code", "schema:pattern")),
    (lambda d: d["operator"].update(code="abc"), ("$.operator.code", "schema:pattern")),
    (lambda d: d.update(parcels=[]), ("$.parcels", "schema:minItems")),
    (lambda d: d.update(bill_no="B" * 38), ("$.bill_no", "schema:maxLength")),
    (lambda d: d.update(entry_no="RK 2026"), ("$.entry_no", "schema:pattern")),
    (lambda d: d.update(extra="x"), ("$.extra", "schema:additionalProperties")),
])
def test_entry_list_refusals_name_field_and_rule(change, expected):
    d = data("entry-list")
    change(d)
    assert _refused(parse_entry_list, d) == [expected]


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["parcels"][0].pop("invt_no"), ("$.parcels[0].invt_no", "schema:required")),
    (lambda d: d["parcels"][1].update(return_no="RT2026120300001"), ("$.parcels[1].return_no", "duplicate-return-no")),
    (lambda d: d["parcels"][0].update(invt_no="X" * 21), ("$.parcels[0].invt_no", "schema:maxLength")),
    (lambda d: d.update(transport_mode="22"), ("$.transport_mode", "schema:pattern")),
    (lambda d: d.pop("voyage_no"), ("$.voyage_no", "schema:required")),
])
def test_return_tally_refusals_name_field_and_rule(change, expected):
    d = data("return-tally")
    change(d)
    assert _refused(parse_return_tally, d) == [expected]


def test_input_that_is_not_an_object_is_refused(declarer, signing_key):
    with pytest.raises(OrderInvalid) as exc:
        prepare("entry-list", "[1, 2]", declarer=declarer, key=signing_key, transfer=TRANSFER, app_time=NOW)
    assert [(p.path, p.rule) for p in exc.value.problems] == [("$", "schema:type")]


# -- the command line ------------------------------------------------------------------------------------

def test_gateway_file_writes_a_signed_message_and_refuses_bad_input(tmp_path):
    env = {**os.environ, "GATEWAY_INSTANCE_DIR": str(tmp_path / "instance")}
    out = tmp_path / "CEB215.xml"
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "file", "return-tally",
                        str(INPUTS / "return-tally.json"), "--out", str(out)],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    root = etree.fromstring(out.read_bytes(), SAFE_PARSER)
    assert etree.QName(root).localname == "CEB215Message" and schemas.validate(root) == []
    assert root.findtext("c:BaseTransfer/c:copCode", namespaces=NS) == "4403980S2K"     # the site operator files
    bad = tmp_path / "bad.json"
    d = data("return-tally")
    del d["parcels"][0]["return_no"]
    bad.write_text(json.dumps(d, ensure_ascii=False), "utf-8")
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "file", "return-tally", str(bad),
                        "--out", str(tmp_path / "bad.xml")], capture_output=True, text=True, env=env, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 2
    assert "$.parcels[0].return_no: [schema:required]" in r.stderr
    assert not (tmp_path / "bad.xml").exists()
