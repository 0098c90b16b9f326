"""A summary application on its own (CEB701 listing inventories by invtNo, docs/site-filings.md): JSON in
(fixtures/site-filings/summary.json), signed message out; valid against our schema and the official XSD;
shaped as the official sample (SummaryApplyList/invtNo, no startTime/endTime); bad input refused with the
field and the rule named; the command line writes it."""
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
from gateway.declarations.ceb_export import build_summary_application
from gateway.declarations.common import CEB_NS, FilingContext, Transfer
from gateway.domain.cbec_export.summary import parse_summary_application
from gateway.domain.problems import OrderInvalid
from gateway.ports import SequentialIds
from gateway.service.declare import Declarer
from gateway.service.site_filings import prepare

ROOT = Path(__file__).resolve().parents[2]
INPUT = ROOT / "fixtures" / "site-filings" / "summary.json"
REFERENCE = Path(os.environ.get("CEB_REFERENCE_DIR") or ROOT.parent.parent / "shared/reference/ceb-202205")
if not REFERENCE.is_dir():
    REFERENCE = Path(__file__).resolve().parents[3] / "shared/reference/ceb-202205"
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
NS = {"c": CEB_NS}
NOW = datetime(2026, 12, 3, 10, 0, 0, tzinfo=timezone(timedelta(hours=8)))
TRANSFER = Transfer("4403980R3S", "深圳盐田一站通报关有限公司", "DXPENT0000458763")
GUID = "6F1C2A4E-0000-4000-8000-000000000701"


def data() -> dict:
    return json.loads(INPUT.read_text("utf-8"))


def built(d: dict | None = None):
    return build_summary_application(parse_summary_application(d or data()),
                                     FilingContext(guid=GUID, app_time=NOW, transfer=TRANSFER))


def official(relative: str):
    path = REFERENCE / relative
    if not path.is_file():
        pytest.skip(f"official CEB 202205 file not present at {path} (shared/reference absent)")
    return path


@pytest.fixture(scope="module")
def signed(signing_key):
    from gateway.signing import XmlSigner, by_name

    declarer = Declarer(XmlSigner(by_name("rsa-sha256")), SequentialIds())
    return prepare("summary", data(), declarer=declarer, key=signing_key, transfer=TRANSFER, app_time=NOW)


def test_signed_summary_is_valid_against_our_schema_and_the_official_xsd(signed):
    root = etree.fromstring(signed.signed_bytes, SAFE_PARSER)
    assert schemas.validate(root) == []
    xsd = etree.XMLSchema(etree.parse(str(official("xsd/ceb-export-202205.xsd")), SAFE_PARSER))
    assert xsd.validate(root), xsd.error_log
    assert signed.business_keys == (keys.summary_key("GS2026113000001"),)


def test_lists_the_inventories_by_number_and_sends_no_time_range():
    root = built()
    assert [e.text for e in root.iterfind("c:SummaryApply/c:SummaryApplyList/c:invtNo", NS)] == [
        "53162026E000004311", "53162026E000004312", "53162026E000004319"]
    assert root.find(".//c:startTime", NS) is None and root.find(".//c:endTime", NS) is None
    assert len(root.findall("c:SummaryApply", NS)) == 1


def test_field_by_field_as_the_official_sample():
    sample = etree.fromstring(official("samples/export/CEB701Message.xml").read_bytes().removeprefix(b"\xef\xbb\xbf"),
                              SAFE_PARSER)
    theirs = sample.find("c:SummaryApply", NS)
    ours = built().find("c:SummaryApply", NS)
    names = [etree.QName(e).localname for e in theirs.find("c:SummaryApplyHead", NS)]
    head = ours.find("c:SummaryApplyHead", NS)
    # every field of the sample's head, in its order; ours adds only loctNo (the fixture names its site)
    assert [etree.QName(e).localname for e in head if etree.QName(e).localname != "loctNo"] == names
    got = {n: head.findtext(f"c:{n}", namespaces=NS) for n in names}
    assert got == {"guid": GUID, "appType": "1", "appTime": "20261203100000", "appStatus": "2",
                   "customsCode": "5316", "copNo": "GS2026113000001",
                   "agentCode": "4403980R3S", "agentName": "深圳盐田一站通报关有限公司",
                   "ebcCode": "4403960M8Q", "ebcName": "深圳市鹏城家居用品有限公司",
                   "declAgentCode": "4403980R3S", "declAgentName": "深圳盐田一站通报关有限公司",
                   "summaryFlag": "1", "itemNameFlag": "1", "msgCount": "1", "msgSeqNo": "1"}
    # the list: one SummaryApplyList with one invtNo per inventory, as the sample
    assert [[etree.QName(e).localname for e in row] for row in theirs.findall("c:SummaryApplyList", NS)] == [["invtNo"]] * 2
    assert [[etree.QName(e).localname for e in row] for row in ours.findall("c:SummaryApplyList", NS)] == [["invtNo"]] * 3


def test_declaration_agent_defaults_to_the_declarant_and_by_owner_gives_summary_flag_2():
    d = data()
    del d["declaration_agent"]
    d["by_owner"] = True
    head = built(d).find("c:SummaryApply/c:SummaryApplyHead", NS)
    assert head.findtext("c:declAgentCode", namespaces=NS) == "4403980R3S"
    assert head.findtext("c:summaryFlag", namespaces=NS) == "2"


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.update(inventories=[]), ("$.inventories", "schema:minItems")),
    (lambda d: d["inventories"].append("53162026E000004311"), ("$.inventories[3]", "duplicate-inventory")),
    (lambda d: d["inventories"].__setitem__(0, "X" * 21), ("$.inventories[0]", "schema:maxLength")),
    (lambda d: d.pop("consignor"), ("$.consignor", "schema:required")),
    (lambda d: d.update(summary_no="GS 1"), ("$.summary_no", "schema:pattern")),
    (lambda d: d.update(start_time="20261120000000"), ("$.start_time", "schema:additionalProperties")),
])
def test_bad_input_is_refused_with_field_and_rule(change, expected):
    d = data()
    change(d)
    with pytest.raises(OrderInvalid) as exc:
        parse_summary_application(d)
    assert [(p.path, p.rule) for p in exc.value.problems] == [expected]


def test_gateway_file_summary_writes_the_signed_message(tmp_path):
    out = tmp_path / "CEB701.xml"
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "file", "summary", str(INPUT), "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env={**os.environ, "GATEWAY_INSTANCE_DIR": str(tmp_path / "instance")})
    assert r.returncode == 0, r.stderr
    root = etree.fromstring(out.read_bytes(), SAFE_PARSER)
    assert schemas.validate(root) == []
    assert root.findtext("c:BaseTransfer/c:copCode", namespaces=NS) == "4403980R3S"      # the declarant files
    assert len(root.findall(".//c:SummaryApplyList", NS)) == 3
