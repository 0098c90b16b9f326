"""Builders of the receipt XML the sandbox government sends back, in the customs format:
a default namespace (``<CEB622Message xmlns="http://www.chinaport.gov.cn/ceb" guid=… version="1.0">``),
the return entities only, UTF-8 with an XML declaration (as the official receipt samples).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from lxml import etree

from .documents import CEB_NS

CHINA_TZ = timezone(timedelta(hours=8))   # customs' clock (Beijing time, no daylight saving)
VERSION = "1.0"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
MAX_900_INFO = 5000

# Characters XML 1.0 cannot carry (oriBizMessage may echo garbage that was sent to us).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def return_time(moment: datetime) -> str:
    """YYYYMMDDhhmmssSSS, Beijing time (C17)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(CHINA_TZ)
    return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"


@dataclass(frozen=True)
class ReturnEntity:
    """One OrderReturn / PaymentReturn / LogisticsReturn / InventoryReturn.

    ``identity`` lists the business fields between guid and returnStatus in schema order; fields
    whose value is None or "" are left out (they are optional in the receipt schemas), except those
    named in ``keep_empty`` (required by the schema, not yet known: e.g. CEB604 invtNo before 120).
    """

    entity: str
    guid: str
    identity: tuple[tuple[str, str | None], ...]
    status: str
    time: str
    info: str
    keep_empty: tuple[str, ...] = ()


def receipt_message(message_type: str, guid: str, entities: list[ReturnEntity]) -> bytes:
    """A CEB312/412/512/622 (…) message holding 1..100 return entities."""
    if not 1 <= len(entities) <= 100:
        raise ValueError(f"a receipt message holds 1..100 return entities, got {len(entities)}")
    root = _root(message_type, guid)
    for spec in entities:
        element = etree.SubElement(root, _q(spec.entity))
        _add(element, "guid", spec.guid)
        for name, value in spec.identity:
            if value or name in spec.keep_empty:
                _add(element, name, value or "")
        _add(element, "returnStatus", spec.status)
        _add(element, "returnTime", spec.time)
        _add(element, "returnInfo", clean_text(spec.info or "-"))
    return _serialise(root)


def ceb792(guid: str, entity_guid: str, head: list[tuple[str, str]],
           rows: list[list[tuple[str, str | None]]]) -> bytes:
    """CEB792 汇总结果单: one SummaryResult with its head (after guid, in schema order) and list rows."""
    root = _root("CEB792Message", guid)
    result = etree.SubElement(root, _q("SummaryResult"))
    head_element = etree.SubElement(result, _q("SummaryResultHead"))
    _add(head_element, "guid", entity_guid)
    for name, value in head:
        _add(head_element, name, value)
    for row in rows:
        row_element = etree.SubElement(result, _q("SummaryResultList"))
        for name, text in row:
            _add(row_element, name, text)
    return _serialise(root)


def ceb900(guid: str, entity_guid: str, status: str, info: str, time: str,
           ori_cop_msg_id: str, ori_message_type: str, ori_biz_message: str) -> bytes:
    """CEB900 报文格式校验回执: the original message comes back in oriBizMessage (CDATA)."""
    root = _root("CEB900Message", guid)
    entity = etree.SubElement(root, _q("MessageReturn"))
    _add(entity, "guid", entity_guid)
    _add(entity, "returnStatus", status)
    _add(entity, "returnInfo", clean_text(info)[:MAX_900_INFO])
    _add(entity, "returnTime", time)
    _add(entity, "oriCopMsgId", ori_cop_msg_id[:255])
    _add(entity, "oriMessageType", ori_message_type[:15])
    original = clean_text(ori_biz_message)
    etree.SubElement(entity, _q("oriBizMessage")).text = (
        etree.CDATA(original) if "]]>" not in original else original)
    return _serialise(root)


def clean_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _root(message_type: str, guid: str) -> etree._Element:
    root = etree.Element(_q(message_type), nsmap={None: CEB_NS})
    root.set("guid", guid)
    root.set("version", VERSION)
    return root


def _add(parent: etree._Element, name: str, value: str | None) -> None:
    etree.SubElement(parent, _q(name)).text = value


def _q(name: str) -> str:
    return f"{{{CEB_NS}}}{name}"


def _serialise(root: etree._Element) -> bytes:
    etree.indent(root, space="    ")
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False) + b"\n"
