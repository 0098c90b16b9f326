"""Reading what arrives at the sandbox government: hardened parsing and the declarations' entities.

A declaration message holds 1..100 entities (Order, Payment, Logistics, Inventory), each judged
and answered on its own. ``Filing`` is one such entity as plain strings by element local name.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

from lxml import etree

from gateway import signing

CEB_NS = "http://www.chinaport.gov.cn/ceb"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class Unreadable(Exception):
    """The bytes are not well-formed, safe XML (answered with CEB900 0001)."""


@dataclass(frozen=True)
class Layout:
    """Where the entities sit in one declaration type and which receipt answers it."""

    entity: str              # wrapper element under the root, e.g. "Order"
    head: str | None         # e.g. "OrderHead"; None when the entity is flat (export Receipts, Logistics)
    lines: str | None        # e.g. "OrderList"; None when the entity has no lines
    receipt: str             # e.g. "CEB312Message"
    return_entity: str       # e.g. "OrderReturn"


LAYOUTS: dict[str, Layout] = {
    "CEB311Message": Layout("Order", "OrderHead", "OrderList", "CEB312Message", "OrderReturn"),
    "CEB411Message": Layout("Payment", "PaymentHead", None, "CEB412Message", "PaymentReturn"),
    "CEB511Message": Layout("Logistics", "LogisticsHead", None, "CEB512Message", "LogisticsReturn"),
    "CEB621Message": Layout("Inventory", "InventoryHead", "InventoryList", "CEB622Message", "InventoryReturn"),
    # export (9610, 1210/1239): judged by export_rules
    "CEB303Message": Layout("Order", "OrderHead", "OrderList", "CEB304Message", "OrderReturn"),
    "CEB403Message": Layout("Receipts", None, None, "CEB404Message", "ReceiptsReturn"),
    "CEB505Message": Layout("Logistics", None, None, "CEB506Message", "LogisticsReturn"),
    "CEB603Message": Layout("Inventory", "InventoryHead", "InventoryList", "CEB604Message", "InventoryReturn"),
    "CEB607Message": Layout("WayBill", "WayBillHead", "WayBillList", "CEB608Message", "WayBillReturn"),
    "CEB507Message": Layout("Arrival", "ArrivalHead", "ArrivalList", "CEB508Message", "ArrivalReturn"),
    "CEB509Message": Layout("Departure", "DepartureHead", "DepartureList", "CEB510Message", "DepartureReturn"),
    "CEB701Message": Layout("SummaryApply", "SummaryApplyHead", "SummaryApplyList", "CEB702Message",
                            "SummaryReturn"),
    # reversals (docs/corrections.md): judged by corrections.py
    "CEB623Message": Layout("InvtCancel", None, None, "CEB624Message", "InvtCancelReturn"),
    "CEB625Message": Layout("InvtRefund", "InvtRefundHead", "InvtRefundList", "CEB626Message", "InvtRefundReturn"),
    "CEB605Message": Layout("InvtCancel", None, None, "CEB606Message", "InvtCancelReturn"),
    "CEB213Message": Layout("InvtRefund", "InvtRefundHead", "InvtRefundList", "CEB214Message", "RefundReturn"),
    # the other parties' filings (docs/site-filings.md): judged by site_rules.py
    "CEB513Message": Layout("LogisticsStatus", None, None, "CEB514Message", "LogisticsStatusReturn"),
    "CEB711Message": Layout("Delivery", "DeliveryHead", "DeliveryList", "CEB712Message", "DeliveryReturn"),
    "CEB215Message": Layout("InvtRefundDetail", None, None, "CEB216Message", "InvtRefundDetailReturn"),
}


@dataclass(frozen=True)
class Filing:
    """One business entity of a received declaration."""

    message_type: str                       # "CEB621Message"
    message_id: str                         # the transmission it came in
    head: dict[str, str]
    lines: list[dict[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str:
        return self.head.get(name, "")

    @property
    def order_no(self) -> str:
        return self.get("orderNo")

    @property
    def layout(self) -> Layout:
        return LAYOUTS[self.message_type]


# No entity expansion, no network, no DTD; a DOCTYPE is refused after parsing.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, dtd_validation=False,
    attribute_defaults=False, remove_comments=False, remove_pis=False)


def parse(data: bytes) -> etree._Element:
    if not isinstance(data, bytes):
        raise Unreadable(f"expected bytes, got {type(data).__name__}")
    if len(data) > MAX_MESSAGE_BYTES:
        raise Unreadable(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES} bytes")
    try:
        root = etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as e:
        raise Unreadable(f"not well-formed XML: {e}") from None
    except ValueError as e:
        raise Unreadable(f"not readable as XML: {e}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise Unreadable("document type declarations (DOCTYPE, entities) are not accepted")
    return root


def root_type(root: etree._Element) -> str:
    """The root's local name when it is in the CEB namespace, else "Unknown" (CEB900 wording)."""
    qname = etree.QName(root)
    if qname.namespace == CEB_NS and len(qname.localname) <= 15:
        return qname.localname
    return "Unknown"


def read_filings(root: etree._Element, message_type: str, message_id: str) -> list[Filing]:
    layout = LAYOUTS[message_type]
    filings = []
    for entity in root.iterchildren(_q(layout.entity)):
        head = entity if layout.head is None else entity.find(_q(layout.head))
        lines = [] if layout.lines is None else [_fields(line) for line in entity.iterchildren(_q(layout.lines))]
        filings.append(Filing(message_type, message_id, _fields(head) if head is not None else {}, lines))
    return filings


def _q(name: str) -> str:
    return f"{{{CEB_NS}}}{name}"


def _fields(element: etree._Element) -> dict[str, str]:
    prefix = f"{{{CEB_NS}}}"
    return {child.tag[len(prefix):]: (child.text or "").strip()
            for child in element if isinstance(child.tag, str) and child.tag.startswith(prefix)}


@functools.lru_cache(maxsize=16)
def _expectation(trusted: tuple | None) -> signing.Expectation:
    return signing.Expectation(trusted_certificates=trusted)


def verify_signature(body: bytes, trusted_certificates, root: etree._Element | None = None) -> etree._Element:
    """``signing.verify(body, trusted_certificates=...)`` with its Expectation built once per set of
    trusted signers, not once per message; the signed content's root comes back. ``root``: ``body``
    as ``parse`` read it (hardened, as the verifier's own parse), verified without parsing the bytes
    again; its ds:Signature is removed. Raises signing.SignatureInvalid."""
    expectation = _expectation(None if trusted_certificates is None else tuple(trusted_certificates))
    if root is None:
        return signing.verify_with(body, expectation).root
    return signing.verify_parsed(root.getroottree(), expectation).root
