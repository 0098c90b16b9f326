"""The sandbox's inspection, tax and FX desks: an agency record in, ``AgencyReceipt``s out (one rung
per poll), and the customs tax bill (CEB816) of every CBEC import inventory customs concludes.
Used by ``SandboxGovernment``; state in memory, the government's lock is held by the caller.

Records are our own XML (``gateway/schemas/inspection-record.xsd``, ``tax-record.xsd``,
``fx-record.xsd``): each is checked against its schema and its signature, then judged:

    InspectionRecord   accepted → released;  accepted → inspection → released   SandboxScript().inspect(order no.)
                       rejected when a line lacks what its requirement needs (food, CCC, quarantine)
    TaxRecord (CBEC)   accepted; customs' CEB816 tax bill of the order's inventory releases it (the record
                       follows the inventory: when customs refused that, accepted → rejected)
    TaxRecord (general-trade import), RebateRecord      accepted → released
    FxRecord           accepted → released; rejected over USD 50,000 through a payment institution
    any                rejected: bad schema, bad signature, SandboxScript().reject(order no., reason,
                       on="InspectionRecord" | "TaxRecord" | "RebateRecord" | "FxRecord")

The tax bill: when a CEB621 inventory reaches 399 海关审结 the desk computes its tax with the
sandbox's OWN reading of the published rules (taxbill.py: the inventory's lines, freight and insured
fee, on the date of the payment from the CEB411, else the declaration date) and issues a CEB816
(status 1 已生成) keyed by the inventory's invtNo. ``SandboxScript().misbill(order no., vat)`` makes
that bill disagree with the right amount (the gateway compares the bill with its own quote).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from lxml import etree

from gateway import schemas, signing

from . import rules, taxbill
from .documents import CEB_NS, Filing, Unreadable, parse, verify_signature
from .ladder import Climbing
from .receipts import CHINA_TZ, XML_DECLARATION, clean_text, return_time
from .script import SandboxScript

AGENCY_NS = "urn:gateway:agency:1"
RECORD_NAMESPACES = {"urn:gateway:inspection:1": "inspection", "urn:gateway:tax:1": "tax", "urn:gateway:fx:1": "fx"}
RECORD_TYPES = ("InspectionRecord", "TaxRecord", "RebateRecord", "FxRecord")
MAX_INFO = 1000
PAYMENT_INSTITUTION_LIMIT_USD = Decimal("50000")


def is_record(body: bytes) -> bool:
    """Whether ``body`` is one of our agency records (anything unreadable is left to the CEB path)."""
    return record_root(body) is not None


def record_root(body: bytes):
    """The parsed root of ``body`` when it is one of our agency records, else None (parsed once:
    ``AgencyDesk.receive`` takes it)."""
    body = bytes(body)
    if b"urn:gateway:" not in body[:2048]:     # cheap first: customs messages never use our namespaces
        return None
    try:
        root = parse(body)
    except Unreadable:
        return None
    qname = etree.QName(root)
    return root if qname.namespace in RECORD_NAMESPACES and qname.localname in RECORD_TYPES else None


@dataclass
class _Record(Climbing):
    message_id: str
    record_type: str
    agency: str
    reference: str
    rungs: list[tuple[str, str]]      # (status, info)
    released: int = 0


@dataclass
class AgencyDesk:
    script: SandboxScript
    require_signatures: bool = True
    trusted_certificates: list | None = None
    _records: list[_Record] = field(default_factory=list)
    _tax_bill_seq: int = 0

    # -- records ---------------------------------------------------------------------------------

    def receive(self, message_id: str, body: bytes, now: datetime, inventory_refusal=None, root=None) -> None:
        """``inventory_refusal(order_no)``: customs' reason when the inventory of that order was refused
        (a CBEC tax record then gets no tax bill: it is rejected), else None. ``root``: ``body``
        parsed already (``record_root``)."""
        root = parse(bytes(body)) if root is None else root
        qname = etree.QName(root)
        record_type, agency = qname.localname, RECORD_NAMESPACES[qname.namespace]
        ns = qname.namespace
        reference = (root.findtext(f"{{{ns}}}reference") or root.findtext(f"{{{ns}}}Head/{{{ns}}}reference")
                     or root.findtext(f"{{{ns}}}Head/{{{ns}}}declarationNo") or "").strip()
        record = _Record(message_id, record_type, agency, reference, [])
        self._records.append(record)
        refusal = self._check(root, body, record_type)
        scripted = self.script.rejection_for(record_type, reference) if reference else None
        if refusal is None and scripted is not None:
            refusal = scripted.reason
        if refusal is not None:
            record.rungs = [("rejected", _clip(refusal))]
            return
        accepted = ("accepted", f"{_NAMES[record_type]}已接收 (record received)")
        if record_type == "InspectionRecord":
            record.rungs = [accepted]
            if self.script.inspects(reference):
                record.rungs.append(("inspection", "查验: 检验检疫布控查验 (inspection of the goods ordered)"))
            record.rungs.append(("released", "检验检疫放行 (released by the inspection agency)"))
        elif record_type == "TaxRecord" and (root.findtext(f"{{{ns}}}Head/{{{ns}}}kind") or "") == "cbec-import":
            refusal = inventory_refusal(reference) if inventory_refusal and reference else None
            if refusal:
                record.rungs = [accepted, ("rejected", _clip(f"清单未通过, 不生成电子税单 (the inventory was refused, "
                                                             f"no tax bill): {refusal}"))]
            else:
                record.rungs = [accepted]     # the customs tax bill (CEB816) of the inventory releases it
        else:
            record.rungs = [accepted, ("released", "已办结 (done)")]

    def _check(self, root, body: bytes, record_type: str) -> str | None:
        problems = schemas.validate(root)
        if problems:
            return "0002 数据包不能通过schema验证 (schema validation failed): " + "; ".join(problems)
        if self.require_signatures or root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None:
            try:
                verify_signature(bytes(body), self.trusted_certificates, root)   # root loses its ds:Signature
            except signing.SignatureInvalid as e:
                return f"1001 数字签名无效 (invalid digital signature): {e.reason}"
        if record_type == "InspectionRecord":
            return _inspection_check(root)
        if record_type == "FxRecord":
            return _fx_check(root)
        return None

    def pending(self) -> bool:
        return any(r.pending for r in self._records)

    def release(self, now: datetime, new_guid) -> list[bytes]:
        """The next rung of every record still on its way, in AgencyReceipt messages of up to 100."""
        entities = []
        for record in self._records:
            if record.pending:
                status, info = record.rungs[record.released]
                record.released += 1
                entities.append((record, status, info))
        self._records = [r for r in self._records if r.pending]   # finished ones are not kept
        return [agency_receipt(new_guid(), [(new_guid(), r, status, info, return_time(now))
                                            for r, status, info in entities[i:i + 100]])
                for i in range(0, len(entities), 100)]

    # -- the customs tax bill -----------------------------------------------------------------------

    def tax_bill(self, inventory: Filing, invt_no: str, registry, now: datetime, new_guid) -> bytes | None:
        """The CEB816 of a concluded CBEC import inventory, or None when its tax cannot be computed."""
        g = inventory.get
        payment = registry.payments_by_order.get((inventory.order_no, g("ebpCode")))
        try:
            day = rules.transaction_day(payment.get("payTime") if payment is not None else None,
                                        g("declTime")) or _china(now).date()     # an impossible date: the next
            bill = taxbill.compute(inventory, day)
        except taxbill.NoBill:
            return None
        bill = bill.with_vat_added(self.script.misbilled_vat(inventory.order_no))
        self._tax_bill_seq += 1
        root = etree.Element(_ceb("CEB816Message"), nsmap={None: CEB_NS})
        root.set("guid", new_guid())
        root.set("version", "1.0")
        tax = etree.SubElement(root, _ceb("Tax"))
        head = etree.SubElement(tax, _ceb("TaxHeadRd"))
        for name, value in (("guid", new_guid()), ("returnTime", return_time(now)), ("invtNo", invt_no),
                            ("taxNo", f"{g('customsCode')}{_china(now):%Y}T{self._tax_bill_seq:09d}"),
                            ("customsTax", bill.duty), ("valueAddedTax", bill.vat),
                            ("consumptionTax", bill.consumption_tax), ("status", "1"),
                            ("note", "电子税单已生成 (" + ("全额征税 taxed in full" if bill.full else "限值以内 70%") + ")"),
                            ("assureCode", g("assureCode")), ("ebcCode", g("ebcCode")),
                            ("logisticsCode", g("logisticsCode")), ("agentCode", g("agentCode")),
                            ("customsCode", g("customsCode"))):
            if value not in (None, ""):
                etree.SubElement(head, _ceb(name)).text = str(value)
        for line in bill.lines:
            row = etree.SubElement(tax, _ceb("TaxListRd"))
            for name, value in (("gnum", line.gnum), ("gcode", line.gcode), ("taxPrice", line.tax_price),
                                ("customsTax", line.duty), ("valueAddedTax", line.vat),
                                ("consumptionTax", line.consumption_tax)):
                etree.SubElement(row, _ceb(name)).text = str(value)
        return _serialise(root)


_NAMES = {"InspectionRecord": "检验检疫数据", "TaxRecord": "税款数据", "RebateRecord": "退税数据",
          "FxRecord": "国际收支申报数据"}


def _inspection_check(root) -> str | None:
    ns = "urn:gateway:inspection:1"
    direction = root.findtext(f"{{{ns}}}direction")
    problems = []
    for line in root.iterchildren(f"{{{ns}}}Line"):
        gnum = line.findtext(f"{{{ns}}}gnum")
        has = {etree.QName(child).localname for child in line if isinstance(child.tag, str)}
        needs = {child.text for child in line.iterchildren(f"{{{ns}}}requirement")}
        missing = []
        if "food" in needs:
            missing += [n for n in ("producerRegistration", "batchNo", "productionDate") if n not in has]
        if "ccc" in needs and not {"cccCertificate", "licenceNo"} & has:
            missing.append("cccCertificate")
        if "quarantine" in needs:
            wanted = ("quarantinePermitNo", "originRegion", "purpose") if direction == "import" else ("originRegion", "purpose")
            missing += [n for n in wanted if n not in has]
        if missing:
            problems.append(f"第{gnum}项缺少 {', '.join(missing)} (line {gnum} lacks {', '.join(missing)})")
    return ("检验检疫数据不全: " + "; ".join(problems)) if problems else None


def _fx_check(root) -> str | None:
    ns = "urn:gateway:fx:1"
    if root.findtext(f"{{{ns}}}channel") != "payment_institution":
        return None
    usd = _dec(root.findtext(f"{{{ns}}}usdEquivalent") or "0")
    if usd > PAYMENT_INSTITUTION_LIMIT_USD:
        return (f"超过支付机构单笔限额: USD {usd} > {PAYMENT_INSTITUTION_LIMIT_USD} "
                "(over the payment-institution limit per transaction)")
    return None


def agency_receipt(guid: str, entities: list[tuple[str, _Record, str, str, str]]) -> bytes:
    """An AgencyReceipt holding 1..100 Return entities: (entity guid, record, status, info, time)."""
    root = etree.Element(_ag("AgencyReceipt"), nsmap={None: AGENCY_NS})
    root.set("guid", guid)
    root.set("version", "1.0")
    for entity_guid, record, status, info, time in entities:
        ret = etree.SubElement(root, _ag("Return"))
        for name, value in (("guid", entity_guid), ("messageId", record.message_id), ("recordType", record.record_type),
                            ("agency", record.agency), ("reference", record.reference[:60] or None),
                            ("status", status), ("time", time), ("info", clean_text(info or "-"))):
            if value is not None:
                etree.SubElement(ret, _ag(name)).text = value
    return _serialise(root)


def _dec(text) -> Decimal:
    return Decimal(str(text))   # schema-checked before


def _china(moment: datetime) -> datetime:
    return moment.astimezone(CHINA_TZ) if moment.tzinfo is not None else moment


def _clip(text: str) -> str:
    return text if len(text) <= MAX_INFO else text[:MAX_INFO - 1] + "…"


def _ceb(name: str) -> str:
    return f"{{{CEB_NS}}}{name}"


def _ag(name: str) -> str:
    return f"{{{AGENCY_NS}}}{name}"


def _serialise(root) -> bytes:
    etree.indent(root, space="    ")
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False) + b"\n"
