"""The sandbox government end to end: signed declarations in, status ladders out as receipts that
our parser reads and our receipt schemas accept. Real signatures (gateway.signing), real schemas."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from ceb_samples import Line, find, import_set, set_text, signed
from lxml import etree

from gateway import schemas
from gateway.adapters.sandbox import SandboxGovernment, SandboxScript
from gateway.declarations import keys
from gateway.declarations.receipts import ReceiptEntry, parse_receipt
from gateway.ports import FixedClock, OutgoingMessage, SequentialIds
from gateway.signing import ensure_dev_key

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=8)))
CEB_NS = "http://www.chinaport.gov.cn/ceb"
EBP = EBC = "1105910159"
PAY = "1101110323"
LOGISTICS = "1101180326"
HEAD = {"CEB311Message": "ceb:Order/ceb:OrderHead", "CEB411Message": "ceb:Payment/ceb:PaymentHead",
        "CEB511Message": "ceb:Logistics/ceb:LogisticsHead", "CEB621Message": "ceb:Inventory/ceb:InventoryHead"}


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return ensure_dev_key(tmp_path_factory.mktemp("instance"))


def government(script: SandboxScript | None = None, **kwargs) -> SandboxGovernment:
    return SandboxGovernment(FixedClock(T0, step_seconds=1.5), SequentialIds(), script, **kwargs)


def keys_of(order_no: str) -> dict[str, str]:
    return {
        "order": keys.order_key(EBP, EBC, order_no),
        "payment": keys.payment_key(PAY, f"PAY{order_no}"),
        "waybill": keys.waybill_key(LOGISTICS, f"LN{order_no}"),
        "inventory": keys.inventory_key(f"COP{order_no}"[:20]),
    }


def send_all(gov, key, roots) -> list:
    results = [gov.send(signed(root, key)) for root in roots]
    assert all(r.accepted and not r.duplicate for r in results), results
    return results


def poll_all(gov, max_polls: int = 20) -> list[list[ReceiptEntry]]:
    """Poll with the last cursor until nothing new comes; every receipt is checked on the way."""
    polls, cursor = [], None
    for _ in range(max_polls):
        new = gov.fetch_receipts(cursor)
        if not new:
            return polls
        assert all(r.cursor > (cursor or "") for r in new)
        cursor = new[-1].cursor
        polls.append([entry for raw in new for entry in checked(raw)])
    raise AssertionError("the sandbox never stopped releasing receipts")


def checked(raw) -> list[ReceiptEntry]:
    """A receipt as customs writes it: declaration, default namespace, valid, readable."""
    assert raw.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert raw.source == "sandbox"
    root = etree.fromstring(raw.body)
    assert root.nsmap == {None: CEB_NS}
    assert schemas.validate(root) == [], raw.body.decode()
    return parse_receipt(raw.body)


def statuses(polls, business_key: str) -> list[str]:
    return [e.status_code for poll in polls for e in poll if e.business_key == business_key]


def entries(polls, business_key: str) -> list[ReceiptEntry]:
    return [e for poll in polls for e in poll if e.business_key == business_key]


# -- the happy path ---------------------------------------------------------------------------

def test_valid_set_goes_all_the_way(key):
    gov, docs = government(), import_set("ORD-1")
    send_all(gov, key, docs.in_order())
    polls = poll_all(gov)
    k = keys_of("ORD-1")
    assert statuses(polls, k["order"]) == ["2", "120"]
    assert statuses(polls, k["payment"]) == ["2", "120"]
    assert statuses(polls, k["waybill"]) == ["2", "120"]
    assert statuses(polls, k["inventory"]) == ["2", "120", "399", "800"]
    assert len(polls) == 4   # one rung per message per poll
    for poll in polls:
        assert len({e.business_key for e in poll}) == len(poll)

    inventory = entries(polls, k["inventory"])
    assert inventory[0].info == f"新增申报成功[{docs.inventory.get('guid')}]"
    assert [e.info for e in inventory[1:]] == ["逻辑校验通过", "海关审结", "放行"]
    pre_nos = {e.fields["preNo"] for e in inventory}
    assert len(pre_nos) == 1 and re.fullmatch(r"B20260301\d{9}", pre_nos.pop())
    assert "invtNo" not in inventory[0].fields
    invt_nos = {e.fields["invtNo"] for e in inventory[1:]}
    assert len(invt_nos) == 1 and re.fullmatch(r"53492026I\d{9}", invt_nos.pop())
    assert {e.answers for e in inventory} == {"CEB621Message"}
    order = entries(polls, k["order"])
    assert order[0].info == f"新增申报成功[{docs.order.get('guid')}]" and order[1].info == "逻辑校验通过"
    assert gov.health()["pending_messages"] == 0


def test_history_can_be_reread_and_is_deterministic(key):
    bodies = []
    for _ in range(2):
        gov = government()
        send_all(gov, key, import_set("ORD-2").in_order())
        poll_all(gov)
        everything = gov.fetch_receipts(None)
        # 2 + 120 for order, payment, waybill; 2, 120, 399, 800 for the inventory, and the CEB816 tax bill
        # customs issues when it concludes the inventory (399)
        assert [r.cursor for r in everything] == [f"{n:012d}" for n in range(1, 12)]
        assert sum(b"<CEB816Message" in r.body for r in everything) == 1
        assert gov.fetch_receipts(everything[-1].cursor) == []
        assert [r.body for r in gov.fetch_receipts(everything[4].cursor)] == [r.body for r in everything[5:]]
        bodies.append([r.body for r in everything])
    assert bodies[0] == bodies[1]   # FixedClock + SequentialIds: the same bytes every time


def test_one_message_with_two_orders_gets_one_receipt_per_poll(key):
    first, second = import_set("ORD-3A"), import_set("ORD-3B")
    order = first.order
    order.insert(1, find(second.order, "ceb:Order"))   # second Order before BaseTransfer
    gov = government()
    send_all(gov, key, [order])
    raws = [gov.fetch_receipts(None), gov.fetch_receipts("000000000001")]
    assert [len(r) for r in raws] == [1, 1]
    assert [e.status_code for e in checked(raws[0][0])] == ["2", "2"]
    assert [e.fields["orderNo"] for e in checked(raws[1][0])] == ["ORD-3A", "ORD-3B"]


# -- customs and e-port refusals --------------------------------------------------------------

def test_inventory_before_its_waybill_fails_the_three_document_match(key):
    gov, docs = government(), import_set("ORD-4")
    send_all(gov, key, [docs.order, docs.payment, docs.inventory])
    polls = poll_all(gov)
    k = keys_of("ORD-4")
    assert statuses(polls, k["inventory"]) == ["2", "100"]
    reason = entries(polls, k["inventory"])[1].info
    assert "三单对碰" in reason and "运单" in reason and "waybill" in reason and "LNORD-4" in reason
    assert "订单 order" not in reason and "支付单" not in reason


def test_over_limit_two_line_inventory_is_refused_by_the_eport(key):
    gov = government()
    docs = import_set("ORD-5", lines=[Line("相机 Camera", "1", "3000"), Line("镜头 Lens", "1", "2500")])
    send_all(gov, key, docs.in_order())
    polls = poll_all(gov)
    k = keys_of("ORD-5")
    assert statuses(polls, k["order"]) == ["2", "120"]
    assert statuses(polls, k["inventory"]) == ["-621005"]
    (refusal,) = entries(polls, k["inventory"])
    assert "单笔限额" in refusal.info and "5510" in refusal.info


def test_over_limit_single_line_inventory_passes(key):
    gov = government()
    docs = import_set("ORD-6", lines=[Line("手表 Watch", "1", "6000")])
    send_all(gov, key, docs.in_order())
    assert statuses(poll_all(gov), keys_of("ORD-6")["inventory"]) == ["2", "120", "399", "800"]


def _resign(root, message_type, field, value):
    set_text(root, f"{HEAD[message_type]}/ceb:{field}", value)
    return root


@pytest.mark.parametrize("which, message_type, field, value, expect", [
    ("order", "CEB311Message", "acturalPaid", "999", "acturalPaid"),
    ("order", "CEB311Message", "goodsValue", "150", "goodsValue"),
    ("payment", "CEB411Message", "amountPaid", "1", "amountPaid"),
    ("waybill", "CEB511Message", "packNo", "2", "packNo"),
    ("waybill", "CEB511Message", "consigneeTelephone", "13900000000", "consigneeTelephone"),
])
def test_customs_checks_on_order_payment_waybill(key, which, message_type, field, value, expect):
    gov, docs = government(), import_set("ORD-7")
    _resign(getattr(docs, which), message_type, field, value)
    send_all(gov, key, docs.in_order())
    polls = poll_all(gov)
    k = keys_of("ORD-7")
    assert statuses(polls, k[which]) == ["2", "100"]
    assert expect in entries(polls, k[which])[1].info
    assert statuses(polls, k["inventory"]) == ["2", "100"]   # its partner was not accepted


def test_order_line_total_must_be_price_times_qty(key):
    gov, docs = government(), import_set("ORD-8")
    set_text(docs.order, "ceb:Order/ceb:OrderList/ceb:totalPrice", "190")
    set_text(docs.order, "ceb:Order/ceb:OrderHead/ceb:goodsValue", "190")
    set_text(docs.order, "ceb:Order/ceb:OrderHead/ceb:acturalPaid", "200")
    send_all(gov, key, [docs.order])
    polls = poll_all(gov)
    assert statuses(polls, keys_of("ORD-8")["order"]) == ["2", "100"]
    assert "price × quantity" in entries(polls, keys_of("ORD-8")["order"])[1].info


def test_line_total_may_be_rounded_to_the_fen(key):
    gov, docs = government(), import_set("ORD-8R", lines=[Line("红酒 Wine", "1.36078", "58.8")])
    for root, path in ((docs.order, "ceb:Order/ceb:OrderList/ceb:totalPrice"),
                       (docs.order, "ceb:Order/ceb:OrderHead/ceb:goodsValue"),
                       (docs.inventory, "ceb:Inventory/ceb:InventoryList/ceb:totalPrice")):
        set_text(root, path, "80.01")   # 58.8 × 1.36078 = 80.013864
    set_text(docs.order, "ceb:Order/ceb:OrderHead/ceb:acturalPaid", "90.01")
    set_text(docs.payment, "ceb:Payment/ceb:PaymentHead/ceb:amountPaid", "90.01")
    send_all(gov, key, docs.in_order())
    polls = poll_all(gov)
    assert statuses(polls, keys_of("ORD-8R")["order"]) == ["2", "120"]
    assert statuses(polls, keys_of("ORD-8R")["inventory"]) == ["2", "120", "399", "800"]


@pytest.mark.parametrize("path, value, expect", [
    ("ceb:Inventory/ceb:InventoryHead/ceb:buyerName", "李四", "buyerName"),
    ("ceb:Inventory/ceb:InventoryList/ceb:qty", "3", "qty"),
    ("ceb:Inventory/ceb:InventoryList/ceb:gname", "别的商品", "gname"),
    ("ceb:Inventory/ceb:InventoryHead/ceb:packNo", "2", "packNo"),
])
def test_customs_checks_on_inventory(key, path, value, expect):
    gov, docs = government(), import_set("ORD-9")
    set_text(docs.inventory, path, value)
    send_all(gov, key, docs.in_order())
    polls = poll_all(gov)
    assert statuses(polls, keys_of("ORD-9")["inventory"]) == ["2", "100"]
    assert expect in entries(polls, keys_of("ORD-9")["inventory"])[1].info


def test_bonded_and_direct_mail_required_fields(key):
    gov = government()
    bonded, direct = import_set("ORD-10"), import_set("ORD-11", trade_mode="9610")
    head = find(bonded.inventory, "ceb:Inventory/ceb:InventoryHead")
    head.remove(find(head, "ceb:emsNo"))
    line = find(bonded.inventory, "ceb:Inventory/ceb:InventoryList")
    line.remove(find(line, "ceb:itemRecordNo"))
    head = find(direct.inventory, "ceb:Inventory/ceb:InventoryHead")
    head.remove(find(head, "ceb:voyageNo"))
    send_all(gov, key, bonded.in_order() + direct.in_order())
    polls = poll_all(gov)
    bonded_info = entries(polls, keys_of("ORD-10")["inventory"])[-1]
    direct_info = entries(polls, keys_of("ORD-11")["inventory"])[-1]
    assert bonded_info.status_code == direct_info.status_code == "100"
    assert "1210" in bonded_info.info and "emsNo" in bonded_info.info and "itemRecordNo" in bonded_info.info
    assert "9610" in direct_info.info and "voyageNo" in direct_info.info


def test_same_order_number_twice_is_refused_by_the_eport(key):
    gov = government()
    first, again = import_set("ORD-12"), import_set("ORD-12")
    again.order.set("guid", "00000000-0000-4000-8000-0000000000AA")   # a new transmission
    set_text(again.order, "ceb:Order/ceb:OrderHead/ceb:guid", "00000000-0000-4000-8000-0000000000AA")
    send_all(gov, key, [first.order, again.order])
    polls = poll_all(gov)
    assert statuses(polls, keys_of("ORD-12")["order"]) == ["2", "-301010", "120"]
    assert "同编号订单已存在" in entries(polls, keys_of("ORD-12")["order"])[1].info


# -- format errors: CEB900 --------------------------------------------------------------------

def ceb900_of(gov, message: OutgoingMessage) -> ReceiptEntry:
    polls = poll_all(gov)
    (entry,) = [e for poll in polls for e in poll]
    assert entry.message_type == "CEB900Message"
    assert entry.business_key == keys.message_key(message.message_id)
    assert int(entry.status_code) < 0
    assert entry.fields["oriCopMsgId"] == message.message_id
    assert entry.fields["oriBizMessage"] == message.body.decode("utf-8")
    return entry


def test_tampered_signature_gets_a_ceb900(key):
    gov = government()
    message = signed(import_set("ORD-13").order, key)
    tampered = OutgoingMessage(message.message_id, message.message_type,
                               message.body.replace("张三".encode(), "王五".encode(), 1))
    result = gov.send(tampered)
    assert result.accepted and not result.duplicate and not result.retryable
    entry = ceb900_of(gov, tampered)
    assert entry.answers == "CEB311Message"
    assert entry.info.startswith("1001 数字签名无效") and "digest" in entry.info


def test_unsigned_declaration_gets_a_ceb900(key):
    gov, root = government(), import_set("ORD-14").payment
    message = OutgoingMessage(root.get("guid"), "CEB411Message", etree.tostring(root, xml_declaration=True,
                                                                                  encoding="UTF-8"))
    assert gov.send(message).accepted
    entry = ceb900_of(gov, message)
    assert entry.info.startswith("1001") and "no ds:Signature" in entry.info


def test_schema_invalid_declaration_gets_a_ceb900(key):
    gov, docs = government(), import_set("ORD-15")
    set_text(docs.order, "ceb:Order/ceb:OrderHead/ceb:currency", "USD")
    message = signed(docs.order, key)
    assert gov.send(message).accepted
    entry = ceb900_of(gov, message)
    assert entry.answers == "CEB311Message"
    assert entry.info.startswith("0002 数据包不能通过schema验证") and "currency" in entry.info


@pytest.mark.parametrize("body, expect", [
    (b"not xml at all", "0001"),
    (b'<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', "DOCTYPE"),
    (b'<CEB312Message xmlns="http://www.chinaport.gov.cn/ceb" guid="x" version="1.0"/>', "CEB312Message"),
])
def test_unreadable_or_unknown_messages_get_a_ceb900(body, expect):
    gov = government()
    message = OutgoingMessage("00000000-0000-4000-8000-0000000000BB", "CEB311Message", body)
    assert gov.send(message).accepted
    polls = poll_all(gov)
    (entry,) = [e for poll in polls for e in poll]
    assert entry.business_key == keys.message_key(message.message_id)
    assert expect in entry.info
    assert entry.answers in ("Unknown", "CEB312Message")


# -- exactly once -----------------------------------------------------------------------------

def test_duplicate_send_is_acknowledged_and_ignored(key):
    gov, docs = government(), import_set("ORD-16")
    message = signed(docs.order, key)
    first = gov.send(message)
    assert first.accepted and not first.duplicate
    again = gov.send(message)
    assert again.accepted and again.duplicate and again.message_id == message.message_id
    polls = poll_all(gov)
    everything = gov.fetch_receipts(None)
    assert gov.send(message).duplicate
    assert gov.fetch_receipts(everything[-1].cursor) == []    # nothing new
    assert gov.fetch_receipts(None) == everything
    assert statuses(polls, keys_of("ORD-16")["order"]) == ["2", "120"]
    assert gov.deliveries(message.message_id) == 3
    assert gov.received() == {message.message_id: 3}
    assert gov.lookup(message.message_id) == first
    assert gov.received_bytes(message.message_id) == message.body
    assert gov.lookup("00000000-0000-4000-8000-00000000FFFF") is None


def test_transport_errors_keep_nothing(key):
    gov = government(SandboxScript().transport_error(times=2))
    message = signed(import_set("ORD-17").order, key)
    for _ in range(2):
        result = gov.send(message)
        assert (result.accepted, result.retryable) == (False, True)
        assert result.error.startswith("503")
        assert gov.lookup(message.message_id) is None
        assert gov.deliveries(message.message_id) == 0
    assert gov.fetch_receipts(None) == []
    result = gov.send(message)
    assert result.accepted and not result.duplicate
    assert statuses(poll_all(gov), keys_of("ORD-17")["order"]) == ["2", "120"]
    assert gov.received() == {message.message_id: 1}


# -- scripts ----------------------------------------------------------------------------------

def test_scripted_rejection_of_the_inventory(key):
    gov = government(SandboxScript().reject("ORD-18", "商品归类不符 (HS code does not match the goods)"))
    send_all(gov, key, import_set("ORD-18").in_order() + import_set("ORD-19").in_order())
    polls = poll_all(gov)
    k = keys_of("ORD-18")
    assert statuses(polls, k["order"]) == ["2", "120"]
    assert statuses(polls, k["inventory"]) == ["2", "100"]
    assert entries(polls, k["inventory"])[1].info == "商品归类不符 (HS code does not match the goods)"
    assert statuses(polls, keys_of("ORD-19")["inventory"]) == ["2", "120", "399", "800"]


def test_scripted_rejection_of_the_order_with_an_eport_code(key):
    script = SandboxScript().reject("ORD-20", "订购人身份信息校验失败 (buyer identity check failed)",
                                    code="-301004", on="CEB311Message")
    gov = government(script)
    send_all(gov, key, import_set("ORD-20").in_order())
    polls = poll_all(gov)
    assert statuses(polls, keys_of("ORD-20")["order"]) == ["-301004"]
    assert statuses(polls, keys_of("ORD-20")["inventory"]) == ["2", "100"]


def test_scripted_inspection(key):
    gov = government(SandboxScript().inspect("ORD-21"))
    send_all(gov, key, import_set("ORD-21").in_order())
    polls = poll_all(gov)
    assert statuses(polls, keys_of("ORD-21")["inventory"]) == ["2", "120", "500", "399", "800"]


def test_scripted_format_error_hits_the_next_message_of_that_type_once(key):
    gov = government(SandboxScript().format_error("CEB311Message"))
    first, second = signed(import_set("ORD-22").order, key), signed(import_set("ORD-23").order, key)
    payment = signed(import_set("ORD-22").payment, key)
    for message in (payment, first, second):
        assert gov.send(message).accepted
    polls = poll_all(gov)
    (error,) = entries(polls, keys.message_key(first.message_id))
    assert error.message_type == "CEB900Message" and error.answers == "CEB311Message"
    assert statuses(polls, keys_of("ORD-23")["order"]) == ["2", "120"]
    assert statuses(polls, keys_of("ORD-22")["payment"]) == ["2", "120"]


def test_scripted_duplicate_receipts(key):
    gov = government(SandboxScript().duplicate_receipts())
    send_all(gov, key, [import_set("ORD-24").order])
    raws = gov.fetch_receipts(None) + gov.fetch_receipts("000000000002")
    assert [r.cursor for r in raws] == ["000000000001", "000000000002", "000000000003", "000000000004"]
    assert raws[0].body == raws[1].body and raws[2].body == raws[3].body and raws[0].body != raws[2].body


def test_script_as_data():
    data = {"reject": [{"order_no": "A", "reason": "r", "code": "-621005", "on": ["CEB621Message"]}],
            "inspect": ["B"], "format_error": ["CEB511Message"], "transport_error": 2,
            "duplicate_receipts": True, "misbill": [{"order_no": "C", "vat": "-1.50"}]}
    script = SandboxScript.from_dict(data)
    assert script.to_dict() == data
    import json
    assert SandboxScript.from_json(json.dumps(data)).to_dict() == data
    assert SandboxScript.from_dict(None).to_dict()["transport_error"] == 0
    with pytest.raises(ValueError, match="unknown sandbox script keys"):
        SandboxScript.from_dict({"rejects": []})
    with pytest.raises(ValueError, match="rejection code"):
        SandboxScript().reject("A", "r", code="120")
    with pytest.raises(ValueError, match="declaration types"):
        SandboxScript().reject("A", "r", on="CEB312Message")
