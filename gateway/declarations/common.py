"""Shared pieces of every CEB declaration: the root, BaseTransfer, element helpers, formats.

Pure: builds lxml trees, does no I/O. The builder is the only place where code names
(glossary) turn into the standard's XML names.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from lxml import etree

from gateway.domain.common.dates import CHINA_TZ
from gateway.domain.common.money import xml_decimal

CEB_NS = "http://www.chinaport.gov.cn/ceb"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"ceb": CEB_NS, "xsi": XSI_NS}
VERSION = "1.0"


class QualifiedNames(dict[str, str]):
    """Local element name -> Clark name ``{namespace}name`` of one namespace, each made once (this runs
    for every element we build): ``names[name]`` makes it on first use (``get`` does not).
    The CEB builders, the DEC builder and each of our own record formats (records.py) keep one."""

    def __init__(self, namespace: str) -> None:
        super().__init__()
        self.namespace = namespace

    def __missing__(self, name: str) -> str:
        self[name] = value = f"{{{self.namespace}}}{name}"
        return value


_Q = QualifiedNames(CEB_NS)


def q(name: str) -> str:
    """Qualified CEB element name."""
    return _Q[name]


@dataclass(frozen=True)
class Transfer:
    """BaseTransfer: who transmits (the tenant's enterprise and its DXP id)."""

    cop_code: str
    cop_name: str
    dxp_id: str
    dxp_mode: str = "DXP"


@dataclass(frozen=True)
class FilingContext:
    """What a builder needs besides the order: ids and times fixed by the caller (so a replay with
    the same context rebuilds the same bytes)."""

    guid: str                 # the message id, kept for life (root guid and head guid)
    app_time: datetime        # when we declare
    transfer: Transfer
    cop_no: str | None = None  # enterprise-internal number (inventory)
    app_type: str = "1"       # 1 add, 2 modify, 3 delete
    app_status: str = "2"     # 1 draft at the e-port, 2 declare


@lru_cache(maxsize=256)
def ceb_time(value: datetime) -> str:
    """YYYYMMDDhhmmss in China Standard Time (cached: every message of an order has the same appTime)."""
    if value.tzinfo is not None:
        value = value.astimezone(CHINA_TZ)
    return value.strftime("%Y%m%d%H%M%S")


def ceb_date(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(CHINA_TZ)
    return value.strftime("%Y%m%d")


def new_root(message_type: str, guid: str) -> etree._Element:
    return etree.Element(q(message_type), {"guid": guid, "version": VERSION}, nsmap=NSMAP)


def new_head_and_list(message_type: str, ctx: FilingContext,
                      entity: str) -> tuple[etree._Element, etree._Element, etree._Element]:
    """The frame of a head-and-list message: its root, the ``entity`` element under it and that
    element's ``<entity>Head``, as (root, wrapper, head); the lists go under the wrapper."""
    root = new_root(message_type, ctx.guid)
    wrapper = etree.SubElement(root, q(entity))
    return root, wrapper, etree.SubElement(wrapper, q(f"{entity}Head"))


def _text(value) -> str:
    if isinstance(value, Decimal):
        return xml_decimal(value)
    return value if isinstance(value, str) else str(value)


def add(parent: etree._Element, name: str, value) -> None:
    """Append <ceb:name>value</ceb:name>; values that are None are omitted (the standard says:
    omit optional elements rather than send them empty)."""
    if value is not None:
        etree.SubElement(parent, q(name)).text = _text(value)


def add_fields(parent: etree._Element, fields) -> None:
    """``add`` for a sequence of (name, value): the hot loop of every builder, kept lean."""
    sub, names, text = etree.SubElement, _Q, _text
    for name, value in fields:
        if value is None:
            continue
        tag = names.get(name) or q(name)
        sub(parent, tag).text = value if value.__class__ is str else text(value)


def head_and_list(message_type: str, ctx: FilingContext, entity: str, head: list, rows=()) -> etree._Element:
    """A whole head-and-list message: the ``entity`` element holding ``<entity>Head`` (``head_start``
    and ``head``) and an ``<entity>List`` for each row of (name, value) fields in ``rows`` (an OrderList
    or InventoryList a goods line), then BaseTransfer."""
    root, wrapper, head_element = new_head_and_list(message_type, ctx, entity)
    add_fields(head_element, head_start(ctx) + head)
    for fields in rows:
        add_fields(etree.SubElement(wrapper, q(entity + "List")), fields)
    add_base_transfer(root, ctx.transfer)
    return root


def packing(lg) -> list:
    """wrapType, packNo, grossWeight, netWeight: how an inventory (CEB621, CEB603) says the parcel is
    packed, from its logistics."""
    return [("wrapType", lg.wrap_type), ("packNo", lg.packages),
            ("grossWeight", lg.gross_weight), ("netWeight", lg.net_weight)]


def head_start(ctx: FilingContext) -> list:
    """guid, appType, appTime, appStatus: the four fields that open every declaration head."""
    return [("guid", ctx.guid), ("appType", ctx.app_type), ("appTime", ceb_time(ctx.app_time)),
            ("appStatus", ctx.app_status)]


def add_base_transfer(root: etree._Element, transfer: Transfer) -> None:
    bt = etree.SubElement(root, q("BaseTransfer"))
    add_fields(bt, [("copCode", transfer.cop_code), ("copName", transfer.cop_name),
                    ("dxpMode", transfer.dxp_mode), ("dxpId", transfer.dxp_id)])
