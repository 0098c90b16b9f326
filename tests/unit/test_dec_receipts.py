"""General-trade receipts: DecImportResponse and DEC_DATA/DEC_RESULT through the one receipt parser
(gateway.declarations.receipts.parse_receipt), and CHANNEL codes to filing states."""
from itertools import pairwise

import pytest
from lxml import etree

from gateway import schemas
from gateway.adapters.sandbox.dec_rules import dec_result, import_response
from gateway.declarations import keys
from gateway.declarations.receipts import ReceiptUnreadable, parse_receipt
from gateway.domain import status as st

DEC_NS = "http://www.chinaport.gov.cn/dec"

IMPORT_OK = f"""<?xml version="1.0" encoding="UTF-8"?>
<DecImportResponse xmlns="{DEC_NS}">
  <ResponseCode>0</ResponseCode>
  <ErrorMessage>通讯回执</ErrorMessage>
  <ClientSeqNo>WINE20261118000001</ClientSeqNo>
  <SeqNo>I20260000000000001</SeqNo>
</DecImportResponse>""".encode()

RESULTS = b"""<?xml version="1.0" encoding="UTF-8"?>
<DEC_DATA>
  <DEC_RESULT>
    <CUS_CIQ_NO>I20260000000000001</CUS_CIQ_NO>
    <CLIENTSEQ_NO>WINE20261118000001</CLIENTSEQ_NO>
    <ENTRY_ID>220020261000000001</ENTRY_ID>
    <NOTICE_DATE>2026-11-20T10:31:02</NOTICE_DATE>
    <CHANNEL>L</CHANNEL>
    <NOTE>\xe6\xb5\xb7\xe5\x85\xb3\xe5\x85\xa5\xe5\xba\x93\xe6\x88\x90\xe5\x8a\x9f</NOTE>
    <CUSTOM_MASTER>2200</CUSTOM_MASTER>
    <FUTURE_FIELD>kept</FUTURE_FIELD>
  </DEC_RESULT>
  <DEC_RESULT>
    <CLIENTSEQ_NO>IFM20261119000007</CLIENTSEQ_NO>
    <NOTICE_DATE>2026-11-20 10:31:05.120</NOTICE_DATE>
    <CHANNEL>C</CHANNEL>
  </DEC_RESULT>
  <RESULT_INFO>2</RESULT_INFO>
</DEC_DATA>"""


def test_import_response_is_keyed_by_client_seq_no():
    [entry] = parse_receipt(IMPORT_OK)
    assert entry.message_type == "DecImportResponse" and entry.answers == "DecMessage"
    assert entry.business_key == keys.dec_key("WINE20261118000001") == "dec:WINE20261118000001"
    assert (entry.status_code, entry.status_time, entry.info) == ("0", "", "通讯回执")
    assert entry.fields["SeqNo"] == "I20260000000000001"
    assert st.state_for(entry.message_type, entry.status_code) == st.DECLARED


def test_every_dec_result_is_one_entry_in_document_order():
    first, second = parse_receipt(RESULTS)
    assert [e.message_type for e in (first, second)] == ["DEC_RESULT", "DEC_RESULT"]
    assert first.business_key == "dec:WINE20261118000001" and second.business_key == "dec:IFM20261119000007"
    assert (first.status_code, first.status_time, first.info) == ("L", "20261120103102", "海关入库成功")
    assert second.status_time == "20261120103105120"          # digits only, at most 17
    assert first.fields["ENTRY_ID"] == "220020261000000001" and first.fields["FUTURE_FIELD"] == "kept"
    assert [st.state_for(e.message_type, e.status_code) for e in (first, second)] == [st.ACCEPTED, st.INSPECTION]


def test_a_bare_dec_result_and_the_dec_namespace_are_read_too():
    bare = b"<DEC_RESULT><CLIENTSEQ_NO>A1</CLIENTSEQ_NO><CHANNEL>P</CHANNEL></DEC_RESULT>"
    assert [e.status_code for e in parse_receipt(bare)] == ["P"]
    namespaced = (f'<DEC_DATA xmlns="{DEC_NS}"><DEC_RESULT><CLIENTSEQ_NO>A1</CLIENTSEQ_NO>'
                  f'<CHANNEL>R</CHANNEL></DEC_RESULT></DEC_DATA>').encode()
    assert [(e.business_key, e.status_code) for e in parse_receipt(namespaced)] == [("dec:A1", "R")]


@pytest.mark.parametrize("data,reason", [
    (b"<DEC_DATA><DEC_RESULT><CLIENTSEQ_NO>A1</CLIENTSEQ_NO></DEC_RESULT></DEC_DATA>", "no CHANNEL"),
    (b"<DEC_DATA><DEC_RESULT><CUS_CIQ_NO>I2026</CUS_CIQ_NO><CHANNEL>L</CHANNEL></DEC_RESULT></DEC_DATA>",
     "no CLIENTSEQ_NO"),
    (b"<DEC_DATA><RESULT_INFO>1</RESULT_INFO></DEC_DATA>", "no DEC_RESULT"),
    (f'<DecImportResponse xmlns="{DEC_NS}"><ClientSeqNo>A1</ClientSeqNo></DecImportResponse>'.encode(),
     "no ResponseCode"),
    (f'<DecImportResponse xmlns="{DEC_NS}"><ResponseCode>0</ResponseCode></DecImportResponse>'.encode(),
     "no ClientSeqNo"),
    (b'<DecImportResponse xmlns="urn:other"><ResponseCode>0</ResponseCode></DecImportResponse>', "namespace"),
    (b'<!DOCTYPE d [<!ENTITY x "y">]><DEC_DATA><DEC_RESULT><CHANNEL>&x;</CHANNEL></DEC_RESULT></DEC_DATA>',
     "DOCTYPE"),
])
def test_unreadable_dec_receipts_are_refused_with_a_reason(data, reason):
    with pytest.raises(ReceiptUnreadable, match=reason):
        parse_receipt(data)


def test_ceb_receipts_still_go_their_way():
    ceb = (b'<CEB622Message xmlns="http://www.chinaport.gov.cn/ceb" guid="g" version="1.0"><InventoryReturn>'
           b'<copNo>GW1</copNo><returnStatus>800</returnStatus></InventoryReturn></CEB622Message>')
    [entry] = parse_receipt(ceb)
    assert entry.business_key == "inventory:GW1" and st.state_for(entry.message_type, "800") == st.RELEASED


@pytest.mark.parametrize("code,state", [
    ("3", st.DECLARED), ("7", st.DECLARED), ("4", st.REJECTED), ("8", st.REJECTED), ("9", st.REJECTED),
    ("Y", st.REJECTED), ("E", st.REJECTED), ("A", st.REJECTED), ("D", st.REJECTED),
    ("L", st.ACCEPTED), ("G", st.REVIEW), ("V", st.REVIEW), ("J", st.CONCLUDED), ("W", st.CONCLUDED),
    ("T", st.CONCLUDED), ("C", st.INSPECTION), ("B", st.RELEASED), ("K", st.RELEASED), ("I", st.RELEASED),
    ("P", st.RELEASED), ("F", st.RELEASED), ("R", st.RELEASED), ("X", st.DECLARED), ("N", st.DECLARED),
    ("?", st.DECLARED),
])
def test_channel_codes_map_to_states(code, state):
    assert st.state_for("DEC_RESULT", code) == state


def test_letters_map_the_same_through_state_for_code_but_digits_keep_their_ceb_meaning():
    assert st.state_for_code("L") == st.ACCEPTED and st.state_for_code("C") == st.INSPECTION
    assert st.state_for_code("8") == st.DECLARED               # CEB has no 8; only DEC_RESULT says rejected
    assert st.state_for("CEB622Message", "100") == st.REJECTED


def test_import_response_other_than_0_is_a_rejection():
    assert st.state_for("DecImportResponse", "1") == st.REJECTED
    assert st.state_for("DecImportResponse", " 0 ") == st.DECLARED


def test_the_channel_ladder_only_moves_forward():
    ladder = ["7", "L", "J", "C", "P"]
    states = [st.state_for("DEC_RESULT", c) for c in ladder]
    assert all(st.moves_forward(a, b) for a, b in pairwise(states))
    assert not st.moves_forward(st.INSPECTION, st.state_for("DEC_RESULT", "J"))   # a late 审结 after 查验
    assert st.moves_forward(st.RELEASED, st.state_for("DEC_RESULT", "D"))         # deleted after release
    assert st.is_done("DecMessage", st.RELEASED) and not st.is_done("DecMessage", st.INSPECTION)


def test_combined_status_has_one_customs_view_for_a_declaration():
    views = [st.FilingView("DecMessage", "customs", st.INSPECTION)]
    assert st.combined_status(views) == (st.IN_PROGRESS, None)
    assert st.per_agency(views) == {"customs": st.IN_PROGRESS}
    assert st.combined_status([st.FilingView("DecMessage", "customs", st.RELEASED)])[0] == st.ORDER_RELEASED


def test_the_sandbox_receipts_are_valid_against_our_receipt_schemas():
    response = import_response("A1", "0", "通讯回执", "I20260000000000001")
    result = dec_result([("CUS_CIQ_NO", "I20260000000000001"), ("CLIENTSEQ_NO", "A1"), ("CHANNEL", "L")])
    for data in (response, result, IMPORT_OK, RESULTS.replace(b"<FUTURE_FIELD>kept</FUTURE_FIELD>", b"")):
        assert schemas.validate(etree.fromstring(data)) == []
    assert [e.status_code for e in parse_receipt(result)] == ["L"]
