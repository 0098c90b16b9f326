"""The sandbox's general-trade desk: a DecMessage in, a DecImportResponse and then DEC_RESULT
receipts (one CHANNEL rung per poll) out, as a local stand-in for the single window
(general-trade-inspection-fx-tax.md §1.8, §5.3 point 8). Used by ``SandboxGovernment``.

    accepted            DecImportResponse 0 (SeqNo) → 7 申报成功 → L 海关入库 (ENTRY_ID) → J 审结 → P 放行 → R 结关
    inspected           … → J → C 查验通知 → P → R
    refused by customs  DecImportResponse 0 → 7 → E 退单 (reasons in NOTE)
    refused at upload   DecImportResponse 1 (ErrorMessage: schema, signature, ClientSeqNo already used)

Receipt layout is the gateway's best knowledge, not an official sample [U]: DecImportResponse in
the …/dec namespace; DEC_DATA/DEC_RESULT in no namespace with CLIENTSEQ_NO. Scripts: ``reject``
and ``inspect`` take the ClientSeqNo as the order number (``reject(..., on="DecMessage")``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from gateway import schemas, signing

from .documents import Unreadable, parse, verify_signature
from .receipts import CHINA_TZ, XML_DECLARATION, clean_text
from .rules import put_newest
from .script import SandboxScript

DEC_NS = "http://www.chinaport.gov.cn/dec"
MESSAGE_TYPE = "DecMessage"
ROUNDING = Decimal("0.005")
MAX_NOTE = 1000


def declaration_root(body: bytes):
    """The parsed root of ``body`` when it is a DecMessage, else None (anything unreadable is left to
    the CEB path; parsed once: ``DecDesk.receive`` takes it)."""
    body = bytes(body)
    if DEC_NS.encode() not in body:       # cheap first: CEB messages never mention the dec namespace
        return None
    try:
        root = parse(body)
    except Unreadable:
        return None
    return root if root.tag == f"{{{DEC_NS}}}{MESSAGE_TYPE}" else None


@dataclass(frozen=True)
class Rung:
    kind: str            # "response" (DecImportResponse) or "result" (DEC_RESULT)
    code: str            # ResponseCode or CHANNEL
    note: str
    assigns_entry_id: bool = False


@dataclass
class _Declaration:
    message_id: str
    client_seq_no: str
    head: dict[str, str]
    rungs: list[Rung]
    released: int = 0
    seq_no: str = ""
    entry_id: str = ""

    @property
    def pending(self) -> bool:
        return self.released < len(self.rungs)


@dataclass
class DecDesk:
    """Receives DecMessages and releases their receipts; state in memory (the government's lock
    is held by the caller)."""

    script: SandboxScript
    require_signatures: bool = True
    trusted_certificates: list | None = None
    _declarations: list[_Declaration] = field(default_factory=list)
    _accepted: dict[str, str] = field(default_factory=dict)     # ClientSeqNo -> message id
    _seq: int = 0
    _entry_seq: int = 0

    def receive(self, message_id: str, body: bytes, now: datetime, root=None) -> None:
        """``root``: ``body`` parsed already (``declaration_root``)."""
        root = parse(bytes(body)) if root is None else root
        sign = root.find(_q("DecSign"))
        client_seq_no = (sign.findtext(_q("ClientSeqNo")) or "").strip() if sign is not None else ""
        head = _children(root.find(_q("DecHead")))
        declaration = _Declaration(message_id, client_seq_no, head, [])
        self._declarations.append(declaration)
        refusal = self._upload_check(root, body, client_seq_no)
        if refusal is not None:
            declaration.rungs = [Rung("response", "1", refusal)]
            return
        put_newest(self._accepted, client_seq_no, message_id)
        self._seq += 1
        flag = head.get("IEFlag", "I")
        declaration.seq_no = f"{flag}{_china(now):%Y}{self._seq:013d}"   # 统一编号, 18 characters
        rungs = [Rung("response", "0", "通讯回执"), Rung("result", "7", "申报成功")]
        scripted = self.script.rejection_for(MESSAGE_TYPE, client_seq_no)
        reasons = [scripted.reason] if scripted is not None else _customs_check(root, head)
        if reasons:
            rungs.append(Rung("result", "E", _clip("退单: " + "; ".join(reasons))))
        else:
            rungs += [Rung("result", "L", "海关入库成功", assigns_entry_id=True), Rung("result", "J", "通关无纸化审结")]
            if self.script.inspects(client_seq_no):
                rungs.append(Rung("result", "C", "查验通知: 海关布控查验 (customs inspection ordered)"))
            rungs += [Rung("result", "P", "放行"), Rung("result", "R", "结关")]
        declaration.rungs = rungs

    def _upload_check(self, root, body: bytes, client_seq_no: str) -> str | None:
        problems = schemas.validate(root)
        if problems:
            return _clip("报文格式错误, 数据不能通过schema验证 (schema validation failed): " + "; ".join(problems))
        if self.require_signatures or root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None:
            try:
                verify_signature(bytes(body), self.trusted_certificates, root)   # root loses its ds:Signature
            except signing.SignatureInvalid as e:
                return _clip(f"数字签名无效 (invalid digital signature): {e.reason}")
        if client_seq_no in self._accepted:
            return (f"客户端编号已使用: ClientSeqNo {client_seq_no} (already used by message "
                    f"{self._accepted[client_seq_no]})")
        return None

    def pending(self) -> int:
        return sum(1 for d in self._declarations if d.pending)

    def release(self, now: datetime) -> list[bytes]:
        """The next receipt of every declaration still on its way, one receipt message each."""
        out = []
        for declaration in self._declarations:
            if not declaration.pending:
                continue
            rung = declaration.rungs[declaration.released]
            declaration.released += 1
            if rung.assigns_entry_id and not declaration.entry_id:
                self._entry_seq += 1
                flag = "1" if declaration.head.get("IEFlag") == "I" else "0"
                office = declaration.head.get("CustomMaster", "0000")
                declaration.entry_id = f"{office}{_china(now):%Y}{flag}{self._entry_seq:09d}"
            out.append(import_response(declaration.client_seq_no, rung.code, rung.note, declaration.seq_no)
                       if rung.kind == "response" else self._result(declaration, rung, now))
        self._declarations = [d for d in self._declarations if d.pending]   # finished ones are not kept
        return out

    @staticmethod
    def _result(declaration: _Declaration, rung: Rung, now: datetime) -> bytes:
        head = declaration.head
        return dec_result([
            ("CUS_CIQ_NO", declaration.seq_no), ("CLIENTSEQ_NO", declaration.client_seq_no),
            ("ENTRY_ID", declaration.entry_id), ("NOTICE_DATE", f"{_china(now):%Y-%m-%dT%H:%M:%S}"),
            ("CHANNEL", rung.code), ("NOTE", rung.note), ("CUSTOM_MASTER", head.get("CustomMaster")),
            ("I_E_DATE", head.get("IEDate")), ("D_DATE", f"{_china(now):%Y%m%d}" if declaration.entry_id else None),
        ])


# -- what the simulated customs checks -----------------------------------------------------------

def _customs_check(root, head: dict[str, str]) -> list[str]:
    reasons = []
    if head.get("TradeMode") != "0110":
        reasons.append(f"监管方式应为0110: TradeMode {head.get('TradeMode')} (the sandbox desk takes general trade)")
    gross, net = _dec(head.get("GrossWet")), _dec(head.get("NetWt"))
    if net.is_nan() or gross.is_nan() or net > gross:
        reasons.append(f"净重大于毛重: NetWt {net} > GrossWet {gross} (net weight exceeds gross weight)")
    for item in root.iterfind(f"{_q('DecLists')}/{_q('DecList')}"):
        line = _children(item)
        price, qty, total = (_dec(line.get(n)) for n in ("DeclPrice", "GQty", "DeclTotal"))
        if total.is_nan() or price.is_nan() or abs(total - price * qty) > ROUNDING:
            reasons.append(f"第{line.get('GNo')}项总价不等于单价×数量: DeclTotal {total} ≠ {price} × {qty}")
    return reasons


# -- receipt XML ----------------------------------------------------------------------------------

def import_response(client_seq_no: str, code: str, message: str, seq_no: str = "") -> bytes:
    root = etree.Element(_q("DecImportResponse"), nsmap={None: DEC_NS})
    for name, value in (("ResponseCode", code), ("ErrorMessage", clean_text(message)),
                        ("ClientSeqNo", client_seq_no), ("SeqNo", seq_no)):
        if value:
            etree.SubElement(root, _q(name)).text = value
    return _serialise(root)


def dec_result(fields: list[tuple[str, str | None]]) -> bytes:
    root = etree.Element("DEC_DATA")
    result = etree.SubElement(root, "DEC_RESULT")
    for name, value in fields:
        if value:
            etree.SubElement(result, name).text = clean_text(value)
    return _serialise(root)


def _serialise(root) -> bytes:
    etree.indent(root, space="    ")
    return XML_DECLARATION + etree.tostring(root, encoding="UTF-8", xml_declaration=False) + b"\n"


def _q(name: str) -> str:
    return f"{{{DEC_NS}}}{name}"


def _children(element) -> dict[str, str]:
    if element is None:
        return {}
    return {etree.QName(child).localname: (child.text or "").strip()
            for child in element if isinstance(child.tag, str) and len(child) == 0}


def _dec(text: str | None) -> Decimal:
    try:
        return Decimal(text or "")
    except InvalidOperation:
        return Decimal("NaN")


def _china(moment: datetime) -> datetime:
    return moment.astimezone(CHINA_TZ) if moment.tzinfo is not None else moment


def _clip(text: str) -> str:
    return text if len(text) <= MAX_NOTE else text[:MAX_NOTE - 1] + "…"
