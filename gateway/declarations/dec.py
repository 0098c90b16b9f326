"""Builder of the general-trade customs declaration (报关单): a ``GtOrder`` -> ``DecMessage`` (unsigned).

Default namespace ``http://www.chinaport.gov.cn/dec``; blocks in the order of the domain notes
(general-trade-inspection-fx-tax.md §1.2): DecHead, DecLists/DecList, DecContainers/Container,
DecLicenseDocus/LicenseDocu, DecRequestCerts/DecRequestCert, DecOtherPacks/DecOtherPack,
DecCopLimits/DecCopLimit, DecCopPromises/DecCopPromise, DecFreeTxt, DecSign, EdocRealation*; the
XML-DSig ``ds:Signature`` is appended last when signing.

What is not confirmed by an official spec is tagged [U] next to it (see docs/general-trade.md §5):
the official XSD was not found, so element ORDER inside each block is our choice from the field
tables of the notes; element NAMES are the notes' [P] names unless tagged.

Pure: builds an lxml tree, does no I/O. This module is the only place where the order's names
(glossary) turn into DecMessage names.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from lxml import etree

from gateway.domain.common.dates import CHINA_TZ
from gateway.domain.common.money import xml_decimal
from gateway.domain.general_trade.order import CHARGE_MARKS, TERMS, Charge, Dangerous, GtLine, GtOrder, Inspection

from . import keys
from .common import FilingContext, QualifiedNames

DEC_NS = "http://www.chinaport.gov.cn/dec"
MESSAGE_TYPE = "DecMessage"
# The notes (§1.1) report "3.1" (an Odoo module) and "4.8" (a Go service); the official value for the
# current spec is not known [U]. Recorded with each filing through the schema version.
DEC_VERSION = "4.8"
OPER_TYPE = "C"            # DecSign/OperType: C = lodge the declaration (申报) [P]
DOMAIN_ID = "1"            # DecSign/DomainId: 1 = entry clerk [P]
ENTRY_TYPE = "M"           # DecHead/EntryType: M = 通关无纸化, the normal value today [P]
DECL_TRN_REL = "0"         # ordinary declaration, not advance transit [P]
EDI_ID = "1"               # 报关标志: 1 ordinary [P]
DEFAULT_LEVY_NATURE = "101"  # CutMode 一般征税 [P]
# DecCopPromise/DeclaratioMaterialCode by direction (§1.2) [P]
COP_PROMISE = {"import": "101040", "export": "102053"}

_Q = QualifiedNames(DEC_NS)


def q(name: str) -> str:
    return _Q[name]


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return xml_decimal(value)
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    return str(value)


def _add(parent: etree._Element, name: str, value) -> None:
    """Append <name>value</name>; None and "" are omitted (never sent empty)."""
    text = _text(value)
    if text is None or text == "":
        return
    etree.SubElement(parent, q(name)).text = text


def _fields(parent: etree._Element, fields) -> etree._Element:
    for name, value in fields:
        _add(parent, name, value)
    return parent


def _block(root: etree._Element, wrapper: str | None, item: str, rows: list[list]) -> None:
    """A repeated block: <wrapper><item>…</item>…</wrapper> (or bare <item>s when wrapper is None);
    nothing at all when there are no rows."""
    if not rows:
        return
    parent = etree.SubElement(root, q(wrapper)) if wrapper else root
    for fields in rows:
        _fields(etree.SubElement(parent, q(item)), fields)


def _yes_no(value: bool | None) -> str:
    return "9" if value is None else ("1" if value else "0")


def _charge(prefix: str, charge: Charge | None) -> list:
    """FeeMark/FeeRate/FeeCurr (freight), InsurMark/… , OtherMark/…: mark 1 rate, 2 per unit, 3 total."""
    if charge is None:
        return []
    return [(f"{prefix}Mark", CHARGE_MARKS[charge.mark]), (f"{prefix}Rate", charge.value),
            (f"{prefix}Curr", charge.currency)]


def _org_code(scc: str | None) -> str | None:
    """The 9-character organisation code inside an 18-character unified social credit code
    (positions 9-17). DecHead/CopCode is C9 [U: derived, not from the spec]."""
    return scc[8:17] if scc and len(scc) == 18 else None


def _head(order: GtOrder, ctx: FilingContext) -> list:
    tr, trader, owner, declarant = order.transport, order.trader, order.owner, order.declarant
    pd = order.price_declaration
    overseas = order.overseas_party
    consignor = overseas if overseas is not None and order.is_import else None
    consignee = overseas if overseas is not None and not order.is_import else None
    return [
        ("IEFlag", "I" if order.is_import else "E"),
        ("CustomMaster", order.declaration_office),
        ("IEPort", order.port_office),
        ("IEDate", order.ie_date),
        ("AgentCode", declarant.code), ("AgentName", declarant.name), ("AgentCodeScc", declarant.scc),
        ("TradeCode", trader.code), ("TradeName", trader.name), ("TradeCoScc", trader.scc),
        ("TradeCiqCode", trader.ciq_code),
        ("OwnerCode", owner.code), ("OwnerName", owner.name), ("OwnerCodeScc", owner.scc),
        ("OwnerCiqCode", owner.ciq_code),
        ("CopCode", _org_code(declarant.scc)), ("CopName", declarant.name), ("CopCodeScc", declarant.scc),
        ("DeclCiqCode", declarant.ciq_code),
        ("TradeMode", order.regime),
        ("CutMode", order.levy_nature or DEFAULT_LEVY_NATURE),
        ("TransMode", TERMS[order.terms]),
        *_charge("Fee", order.freight), *_charge("Insur", order.insurance), *_charge("Other", order.other_charges),
        ("TrafMode", tr.mode), ("TrafName", tr.conveyance), ("BillNo", tr.bill_no),
        ("TradeCountry", order.shipping_country),
        ("TradeAreaCode", order.trade_country),
        ("DistinatePort", tr.destination_port),
        ("DespPortCode", tr.departure_port),
        ("EntyPortCode", order.entry_port),
        ("GoodsPlace", order.goods_place),
        ("PackNo", order.packages), ("WrapType", order.wrap_type),
        ("GrossWet", order.gross_weight), ("NetWt", order.net_weight),
        ("ContrNo", order.contract_no), ("LicenseNo", order.license_no),
        ("EntryType", ENTRY_TYPE), ("DeclTrnRel", DECL_TRN_REL), ("EdiId", EDI_ID),
        ("PromiseItmes", "".join(_yes_no(v) for v in (pd.special_relationship, pd.price_influence, pd.royalties,
                                                         pd.formula_pricing, pd.provisional_price))),
        ("MarkNo", order.marks or "N/M"),
        ("NoteS", order.note),
        ("InputerName", order.operator.name), ("TypistNo", order.operator.ic_card),
        ("DeclareName", order.operator.name),
        # CIQ header fields (§2.2)
        ("PurpOrgCode", order.destination_office),
        ("DespDate", tr.departure_date),
        # overseas consignor (import) / consignee (export): names [U]
        ("OverseasConsignorCode", consignor.code if consignor else None),
        ("OverseasConsignorEname", consignor.name if consignor else None),
        ("OverseasConsignorAddr", consignor.address if consignor else None),
        ("OverseasConsigneeCode", consignee.code if consignee else None),
        ("OverseasConsigneeEname", consignee.name if consignee else None),
    ]


# A line without CIQ data leaves every CIQ field out (the joined lists too: an empty list is an empty element).
_NOT_INSPECTED = Inspection()


def _line(line: GtLine) -> list:
    inspected = line.inspection is not None
    ciq = line.inspection or _NOT_INSPECTED
    return [
        ("GNo", line.number),
        ("CodeTS", line.hs_code), ("CiqCode", line.ciq_code), ("CiqName", line.ciq_name),
        ("GName", line.name), ("GModel", line.spec),
        ("GQty", line.quantity), ("GUnit", line.unit),
        ("FirstQty", line.legal_quantity), ("FirstUnit", line.legal_unit),
        ("SecondQty", line.second_quantity), ("SecondUnit", line.second_unit),
        ("DeclPrice", line.unit_price), ("DeclTotal", line.total_price), ("TradeCurr", line.currency),
        ("OriginCountry", line.origin_country), ("DestinationCountry", line.destination_country),
        ("DutyMode", line.duty_mode),
        ("DistrictCode", line.district), ("DestCode", line.destination_code),
        # CIQ item fields (§2.2); separators of GoodsAttr (",") and ProduceDate (";") and the date
        # format of ProduceDate / ProdValidDt (yyyyMMdd) are [U]
        ("GoodsAttr", ",".join(ciq.goods_attributes) if inspected else None),
        ("Purpose", ciq.purpose),
        ("OrigPlaceCode", ciq.origin_region),
        ("DeclGoodsEname", ciq.english_name),
        ("GoodsSpec", ciq.goods_spec),
        ("GoodsModel", ciq.goods_model),
        ("GoodsBrand", ciq.brand),
        ("ProduceDate", ";".join(d.strftime("%Y%m%d") for d in ciq.production_dates) if inspected else None),
        ("ProdBatchNo", ciq.batch_no),
        ("ProdValidDt", ciq.valid_until),
        ("ProdQgp", ciq.shelf_life),
        ("Stuff", ciq.ingredients),
        *_dangerous(ciq.dangerous),
        ("NoDangFlag", ciq.not_dangerous),
        ("EngManEntCnm", ciq.manufacturer),
        ("MnufctrRegNo", ciq.producer_registration_no),
        ("MnufctrRegName", ciq.producer_registration_name),
    ]


def _dangerous(goods: Dangerous | None) -> list:
    if goods is None:
        return []
    return [("Uncode", goods.un_code), ("DangName", goods.name),
            ("DangPackType", goods.pack_type), ("DangPackSpec", goods.pack_spec)]


def _numbers(lines: tuple[int, ...]) -> str | None:
    return ",".join(str(n) for n in lines) or None


def sign_time(ctx: FilingContext) -> str:
    """DecSign/SignDate: yyyyMMddHHmmss in China Standard Time [U: format]."""
    moment = ctx.app_time.astimezone(CHINA_TZ) if ctx.app_time.tzinfo else ctx.app_time
    return moment.strftime("%Y%m%d%H%M%S")


def build_dec(order: GtOrder, ctx: FilingContext) -> etree._Element:
    """The DecMessage of a general-trade order, unsigned."""
    root = etree.Element(q(MESSAGE_TYPE), {"version": DEC_VERSION}, nsmap={None: DEC_NS})
    _fields(etree.SubElement(root, q("DecHead")), _head(order, ctx))

    lists = etree.SubElement(root, q("DecLists"))
    for line in order.lines:
        item = _fields(etree.SubElement(lists, q("DecList")), _line(line))
        # 产品资质 of the line: DecGoodsLimits/DecGoodsLimit (GoodsNo, LicTypeCode, LicenceNo) [U: names]
        _block(item, "DecGoodsLimits", "DecGoodsLimit",
               [[("GoodsNo", line.number), ("LicTypeCode", d.code), ("LicenceNo", d.number)]
                for d in line.product_licences])

    _block(root, "DecContainers", "Container", [
        [("ContainerId", c.number), ("ContainerMd", c.size_type), ("GoodsNo", _numbers(c.lines)),
         ("LclFlag", c.lcl), ("GoodsContaWt", c.goods_weight), ("ContainerWt", c.tare_weight)]
        for c in order.containers])
    _block(root, "DecLicenseDocus", "LicenseDocu",
           [[("DocuCode", d.code), ("CertCode", d.number)] for d in order.licence_documents])
    _block(root, "DecRequestCerts", "DecRequestCert",
           [[("AppCertCode", r.code), ("ApplOri", r.originals), ("ApplCopyQuan", r.copies)]
            for r in order.requested_certificates])
    _block(root, "DecOtherPacks", "DecOtherPack",
           [[("PackQty", p.quantity), ("PackType", p.wrap_type)] for p in order.other_packs])
    _block(root, "DecCopLimits", "DecCopLimit",
           [[("EntQualifTypeCode", d.code), ("EntQualifNo", d.number)] for d in order.qualifications])
    _block(root, "DecCopPromises", "DecCopPromise",
           [[("DeclaratioMaterialCode", COP_PROMISE[order.direction])]])
    if order.transport.voyage_no:
        _fields(etree.SubElement(root, q("DecFreeTxt")), [("VoyNo", order.transport.voyage_no)])

    op = order.operator
    # Sign (the card's signature value) is left out: how it is computed is not known (§1.5, [U]);
    # the document carries an enveloped XML-DSig signature instead.
    _fields(etree.SubElement(root, q("DecSign")), [
        ("OperType", OPER_TYPE), ("ClientSeqNo", order.client_ref), ("ICCode", op.ic_card),
        ("OperName", op.name), ("CopCode", order.declarant.code), ("Certificate", op.certificate),
        ("SignDate", sign_time(ctx)), ("DomainId", DOMAIN_ID),
    ])
    _block(root, None, "EdocRealation", [
        [("EdocID", a.file_id), ("EdocCode", a.code), ("EdocFomatType", a.format), ("GNoStr", _numbers(a.lines)),
         ("EdocCopId", order.declarant.scc), ("EdocOwnerCode", order.trader.scc), ("EdocOwnerName", order.trader.name)]
        for a in order.attachments])
    return root


def business_key(message_type: str, order: GtOrder, ctx: FilingContext) -> str:
    if message_type != MESSAGE_TYPE:
        raise KeyError(message_type)
    return keys.dec_key(order.client_ref)


BUILDERS = {MESSAGE_TYPE: build_dec}
