"""The sandbox government: a simulated single window (e-port + customs) behind the Adapter port.

In-process and in memory; bytes in (``send``), bytes out (``fetch_receipts``), no transport of its
own, so an HTTP or queue front end can wrap the same object when it runs as its own process.

send(message)
  scripted transport error → SendResult(accepted=False, retryable=True), nothing kept
  message id seen before    → SendResult(accepted=True, duplicate=True), nothing new
  otherwise (accepted=True) → parse (hardened) → known declaration type → schema
                              (gateway.schemas.validate) → signature (gateway.signing.verify);
                              a failure there is answered by a CEB900 receipt;
                              else each entity is judged (rules.judge, or the script) and gets
                              its status ladder (ladder.py)
fetch_receipts(since)
  first releases at most one further rung per message (entities of one message that move in
  the same poll share one receipt message), then returns every receipt with cursor > since.

Memory is bounded (a long-running ``gateway serve`` stays flat): the newest ``MAX_RECEIPTS``
receipts before a poll are kept for polling (a poller further behind than that misses the older ones); once more
than ``MAX_MESSAGES`` messages are held, the oldest finished ones are slimmed to what duplicate
answers and lookups need (no bytes, no ladders: a correction of a document that old finds nothing),
and beyond ``MAX_SEEN`` they are forgotten. Only messages still on their ladders are walked per poll.

The other parties' filings (CEB513 waybill status, CEB711 entry list, CEB215 return tally) are judged by
site_rules.py against what customs holds (the waybills, the numbered export inventories).

Besides CEB messages: DecMessages go to the general-trade desk (dec_rules.py); inspection, tax and
FX records to the agency desks (agency_desk.py), which also issue the CEB816 tax bill of every CBEC
import inventory customs concludes (399).
"""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime
from itertools import islice

from gateway import schemas, signing
from gateway.ports import Clock, IdGenerator, OutgoingMessage, RawReceipt, SendResult

from . import corrections, export_rules, ladder, site_rules
from .agency_desk import AgencyDesk, record_root
from .dec_rules import DecDesk, declaration_root
from .documents import LAYOUTS, Filing, Unreadable, parse, read_filings, root_type, verify_signature
from .receipts import ReturnEntity, ceb792, ceb900, receipt_message, return_time
from .rules import Registry, Verdict, judge, put_newest
from .script import SandboxScript
from .tracks import IDENTITY, Submission, Track, ack, china, has_signature, is_pending

NAME = "sandbox"
# Kept in memory (bench/memory.py: a long-running gateway serve stays flat once these are full, after about
# 2,000 orders): receipts for polling, messages in full, message ids for duplicate answers
MAX_RECEIPTS = 10_000
MAX_MESSAGES = 2_000
MAX_SEEN = 10_000
TRANSPORT_ERROR = "503 Service Unavailable (sandbox: scripted transport error)"
FORMAT_STATUS = "-1"   # CEB900 returnStatus: "小于0数字表示报文格式校验异常"

class SandboxGovernment:
    name = NAME

    def __init__(self, clock: Clock, ids: IdGenerator, script: SandboxScript | None = None, *,
                 require_signatures: bool = True, trusted_certificates: list | None = None,
                 receipt_key=None):
        """``require_signatures``: every declaration must carry a valid ds:Signature (public gateways
        sign all of them; CEB621 must by schema). ``trusted_certificates``: if given, only these
        signers are accepted. ``receipt_key``: when given (a gateway.signing.KeyMaterial), the
        sandbox signs every receipt it issues, as a government that signs its answers would."""
        self.clock = clock
        self.ids = ids
        self.script = script or SandboxScript()
        self.require_signatures = require_signatures
        self.trusted_certificates = trusted_certificates
        self._receipt_key = receipt_key
        self._receipt_signer = None
        if receipt_key is not None:
            self._receipt_signer = signing.XmlSigner()      # RSA-SHA256 with the sandbox's own key
        self._lock = threading.RLock()
        self._submissions: dict[str, Submission] = {}   # insertion order = arrival order
        self._registry = Registry()
        self._log: list[RawReceipt] = []
        self._log_base = 0                                 # receipts dropped from the front of _log
        self._pending: dict[str, Submission] = {}        # still on their ladders, in arrival order
        self._full = 0                                      # submissions not slimmed yet
        self._pre_no_seq = 0
        self._invt_no_seq = 0
        self._export_registry = export_rules.ExportRegistry()   # export (9610, 1210/1239)
        self._sum_no_seq = 0
        # waybill statuses, entry lists, return tallies (site_rules.py)
        self._site = site_rules.SiteDesk(self._registry.waybills, self._export_registry.waybills,
                                         self._export_inventory)
        self._dec = DecDesk(self.script, require_signatures, trusted_certificates)   # general trade
        self._corrections = corrections.CorrectionDesk(self)   # appType 2/3 and reversals (docs/corrections.md)
        # inspection, tax and FX records, and the customs tax bill (CEB816) of CBEC import inventories
        self._agency = AgencyDesk(self.script, require_signatures, trusted_certificates)
        self._tax_bills: list[tuple[Filing, str]] = []   # (inventory, invtNo) concluded in this poll
        self._export_inventories: dict[str, Track] = {}   # invtNo -> CEB603 track (the newest MAX_REGISTERED)

    # -- Adapter port ----------------------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> SendResult:
        with self._lock:
            if self.script.take_transport_error():
                return SendResult(message.message_id, accepted=False, retryable=True, error=TRANSPORT_ERROR,
                                  request_bytes=message.body, response_bytes=TRANSPORT_ERROR.encode())
            known = self._submissions.get(message.message_id)
            if known is not None:
                known.deliveries += 1
                return replace(known.result, duplicate=True, request_bytes=message.body,
                               response_bytes=ack(known, "duplicate"))
            if (declaration := declaration_root(message.body)) is not None:   # general trade: the
                submission = self._receive_dec(message, declaration)               # DecMessage desk (dec_rules.py)
            elif (record := record_root(message.body)) is not None:   # inspection / tax / FX record
                submission = self._receive_record(message, record)            # (agency_desk.py)
            else:
                submission = self._receive(message)
            self._submissions[message.message_id] = submission
            self._pending[message.message_id] = submission
            self._full += 1
            if self._full > MAX_MESSAGES or len(self._submissions) > MAX_SEEN:
                self._forget()
            return submission.result

    def lookup(self, message_id: str) -> SendResult | None:
        """The outcome of the first delivery of ``message_id``, or None if it never arrived."""
        with self._lock:
            known = self._submissions.get(message_id)
            return None if known is None else known.result

    def fetch_receipts(self, since: str | None) -> list[RawReceipt]:
        with self._lock:
            if len(self._log) > MAX_RECEIPTS:    # before releasing more: what this call releases is returned
                drop = len(self._log) - MAX_RECEIPTS
                del self._log[:drop]
                self._log_base += drop
            self._release_next_rungs()
            self._release_dec()
            self._release_records()
            if since is None:
                return list(self._log)
            if since.isdigit():   # our cursors count receipts: the index is the cursor
                return self._log[max(0, int(since) - self._log_base):]
            return [r for r in self._log if r.cursor > since]

    def health(self) -> dict:
        with self._lock:
            return {
                "adapter": NAME,
                "ok": True,
                "messages": len(self._submissions),
                "receipts": self._log_base + len(self._log),
                "pending_messages": sum(1 for s in self._pending.values() if is_pending(s)),
                "accepted_filings": (self._registry.count() + self._export_registry.count()
                                     + self._site.count()),
            }

    # -- for tests and operators ---------------------------------------------------------------

    def deliveries(self, message_id: str) -> int:
        """How many times ``message_id`` reached the government (processing happens on the first)."""
        with self._lock:
            known = self._submissions.get(message_id)
            return 0 if known is None else known.deliveries

    def received_bytes(self, message_id: str) -> bytes | None:
        """The exact bytes of the first delivery of ``message_id`` (None if it never arrived)."""
        with self._lock:
            known = self._submissions.get(message_id)
            return None if known is None else known.body

    def received(self) -> dict[str, int]:
        """Every message id received, with its number of deliveries."""
        with self._lock:
            return {message_id: s.deliveries for message_id, s in self._submissions.items()}

    # -- receiving -------------------------------------------------------------------------------

    def _receive(self, message: OutgoingMessage) -> Submission:
        now = self.clock.now()
        body = bytes(message.body)   # a memoryview from a database row is welcome too
        submission = Submission(message.message_id, "Unknown", body,
                                 SendResult(message.message_id, accepted=True, request_bytes=body))
        filings, submission.format_error = self._format_check(submission)
        submission.tracks = [self._judge(filing, now) for filing in filings]
        submission.result = replace(submission.result, response_bytes=ack(submission, "accepted", now))
        return submission

    def _format_check(self, submission: Submission) -> tuple[list[Filing], str | None]:
        """(the entities to judge, None), or ([], the CEB900 returnInfo). Sets the message type."""
        try:
            root = parse(submission.body)
        except Unreadable as e:
            return [], f"0001 报文格式错误: {e} (message format error)"
        submission.message_type = message_type = root_type(root)
        if message_type not in LAYOUTS:
            name = root.tag if isinstance(root.tag, str) else "?"
            return [], (f"0001 报文格式错误: 不支持的报文类型 {name} "
                        f"(not a declaration the sandbox accepts: {', '.join(LAYOUTS)})")
        if self.script.take_format_error(message_type):
            return [], "0001 报文格式错误 (scripted format error)"
        problems = schemas.validate(root)
        if problems:
            return [], f"0002 数据包不能通过schema验证 (schema validation failed): {'; '.join(problems)}"
        if self.require_signatures or has_signature(root):
            try:
                root = verify_signature(submission.body, self.trusted_certificates, root)   # what was signed
            except signing.SignatureInvalid as e:
                return [], f"1001 数字签名无效 (invalid digital signature): {e.reason}"
        filings = read_filings(root, message_type, submission.message_id)
        missing = [i for i, f in enumerate(filings, 1) if message_type == "CEB621Message" and not f.get("copNo")]
        if missing:
            return [], f"0999 其他格式错误: Inventory #{missing[0]} 缺少 copNo (copNo is needed to answer)"
        return filings, None

    def _judge(self, filing: Filing, now: datetime) -> Track:
        if corrections.handles(filing):   # appType 2/3 and reversals: their own state checks and ladders
            return self._corrections.judge(filing, now, Track)
        scripted = self.script.rejection_for(filing.message_type, filing.order_no)
        export = export_rules.handles(filing.message_type)
        site = site_rules.handles(filing.message_type)
        registry = self._export_registry if export else self._site if site else self._registry
        verdict = (Verdict(scripted.code, scripted.reason) if scripted
                   else export_rules.judge(filing, self._export_registry) if export
                   else self._site.judge(filing, now) if site else judge(filing, self._registry))
        if verdict is None:
            registry.register(filing)
            rungs = ladder.accepted(filing, inspect=self.script.inspects(filing.order_no))
        else:
            rungs = ladder.refused(filing, verdict)
        track = Track(filing, rungs)
        if (filing.message_type == "CEB621Message" or filing.message_type in export_rules.NUMBERED
                or filing.message_type in site_rules.NUMBERED):
            # the e-port numbers every inventory (and export bill list, arrival, departure, summary)
            self._pre_no_seq += 1
            track.pre_no = f"B{china(now):%Y%m%d}{self._pre_no_seq:09d}"
        return track

    def _receive_dec(self, message: OutgoingMessage, root) -> Submission:
        now = self.clock.now()
        body = bytes(message.body)
        self._dec.receive(message.message_id, body, now, root=root)
        submission = Submission(message.message_id, "DecMessage", body,
                                 SendResult(message.message_id, accepted=True, request_bytes=body))
        submission.result = replace(submission.result, response_bytes=ack(submission, "accepted", now))
        return submission

    def _receive_record(self, message: OutgoingMessage, root) -> Submission:
        now = self.clock.now()
        body = bytes(message.body)
        self._agency.receive(message.message_id, body, now, inventory_refusal=self._inventory_refusal, root=root)
        submission = Submission(message.message_id, "AgencyRecord", body,
                                 SendResult(message.message_id, accepted=True, request_bytes=body))
        submission.result = replace(submission.result, response_bytes=ack(submission, "accepted", now))
        return submission

    def _inventory_refusal(self, order_no: str) -> str | None:
        """Customs' reason when the latest CEB621 of ``order_no`` was refused, else None."""
        for submission in reversed(self._submissions.values()):
            for track in submission.tracks:
                if track.filing.message_type == "CEB621Message" and track.filing.order_no == order_no:
                    last = track.rungs[-1] if track.rungs else None
                    refused = last is not None and (last.status == "100" or last.status.startswith("-"))
                    return f"[{last.status}] {last.info}" if last is not None and refused else None
        return None

    def _export_inventory(self, invt_no: str) -> tuple[datetime | None] | None:
        """(when customs released it, or None) of the export inventory numbered ``invt_no``; None if unknown.
        By index, so a message slimmed since (MAX_MESSAGES) is still found."""
        track = self._export_inventories.get(invt_no)
        return None if track is None else (track.released_at,)

    # -- releasing -------------------------------------------------------------------------------

    def _release_records(self) -> None:
        if self._agency.pending():
            now = self.clock.now()
            for body in self._agency.release(now, self.ids.new_guid):
                self._append(body, now)

    def _release_dec(self) -> None:
        if self._dec.pending():
            now = self.clock.now()
            for body in self._dec.release(now):
                self._append(body, now)

    def _release_next_rungs(self) -> None:
        now: datetime | None = None
        for message_id, submission in list(self._pending.items()):
            if not is_pending(submission):
                del self._pending[message_id]
                continue
            if now is None:
                now = self.clock.now()
            if submission.format_error is not None:
                body = ceb900(self.ids.new_guid(), self.ids.new_guid(), FORMAT_STATUS, submission.format_error,
                              return_time(now), submission.message_id, submission.message_type,
                              submission.body.decode("utf-8", errors="replace"))
                submission.format_error = None
                self._append(body, now)
                continue
            guid = self.ids.new_guid()
            pending = [track for track in submission.tracks if track.pending]
            results = [track for track in pending if track.rungs[track.released].summary_result]
            entities = [self._next_rung(track, now) for track in pending if track not in results]
            if entities:
                self._append(receipt_message(LAYOUTS[submission.message_type].receipt, guid, entities), now)
            for track in results:   # export summaries: the CEB792 summary result is its own message
                self._append(self._summary_result(track, now), now)
            for inventory, invt_no in self._tax_bills:   # customs concluded a CBEC inventory: its tax bill
                bill = self._agency.tax_bill(inventory, invt_no, self._registry, now, self.ids.new_guid)
                if bill is not None:
                    self._append(bill, now)
            self._tax_bills.clear()

    def _next_rung(self, track: Track, now: datetime) -> ReturnEntity:
        rung = track.rungs[track.released]
        track.released += 1
        filing = track.filing
        if rung.status == "800" and track.released_at is None:
            track.released_at = now
        if rung.effect and track.target is not None:
            track.target.mark = rung.effect
            if rung.effect == "cancelled" or corrections.returns_everything(filing, track.target.filing):
                self._registry.give_back(track.target.filing)   # no longer counts toward the annual limit
        if rung.assigns_invt_no and track.invt_no is None:
            self._invt_no_seq += 1
            flag = filing.get("ieFlag") or "I"
            track.invt_no = f"{filing.get('customsCode')}{china(now):%Y}{flag}{self._invt_no_seq:09d}"
            if filing.message_type == "CEB603Message":
                put_newest(self._export_inventories, track.invt_no, track)
        if rung.assigns_sum_no and track.sum_no is None:
            self._sum_no_seq += 1
            track.sum_no = f"S{china(now):%Y%m%d}{self._sum_no_seq:09d}"
        layout = filing.layout
        keep_empty: tuple[str, ...] = ()
        identity: list[tuple[str, str | None]]
        if layout.receipt in corrections.RECEIPT_IDENTITY:
            fields, keep_empty = corrections.receipt_identity(layout.receipt, filing, track)
            identity = list(fields)
        elif layout.receipt in site_rules.RECEIPT_IDENTITY:
            identity = list(site_rules.receipt_identity(layout.receipt, filing, track.pre_no, rung.status))
        elif layout.receipt in export_rules.RECEIPT_IDENTITY:
            identity, keep_empty = export_rules.receipt_identity(
                layout.receipt, filing, {"preNo": track.pre_no, "invtNo": track.invt_no, "sumNo": track.sum_no})
        else:
            identity = [(name, filing.get(name)) for name in IDENTITY[layout.receipt]]
        if layout.receipt == "CEB622Message":
            identity += [("preNo", track.pre_no), ("invtNo", track.invt_no)]
            if rung.status == "399" and track.invt_no:
                self._tax_bills.append((filing, track.invt_no))
        drawn = self.ids.new_guid()      # drawn anyway: the sandbox's id sequence stays as it was
        # the entity echoes the guid of the declaration it answers, as the official sample receipts do
        return ReturnEntity(layout.return_entity, filing.get("guid") or drawn, tuple(identity), rung.status,
                            return_time(now), rung.info, keep_empty)

    def _summary_result(self, track: Track, now: datetime) -> bytes:
        """The CEB792 that follows a concluded export summary application: sumNo, a new declSeqNo
        (汇总统一编号), and the numbered inventories it covers (those it lists by invtNo, else those
        declared in its time window)."""
        track.released += 1
        listed = {line.get("invtNo") for line in track.filing.lines}   # listed by number, else by its window
        covered = [] if listed else self._export_registry.summarised(track.filing)
        inventories = [(t.filing, t.invt_no) for s in self._submissions.values() for t in s.tracks
                       if t.invt_no and t.filing.message_type == "CEB603Message"
                       and (t.invt_no in listed if listed else t.filing in covered)]
        decl_seq_no = f"{track.filing.get('customsCode')}{china(now):%Y}0{(track.sum_no or '')[-9:]:0>9}"
        head, rows = export_rules.summary_result(track.filing, inventories, track.sum_no or "", decl_seq_no,
                                                 return_time(now))
        return ceb792(self.ids.new_guid(), self.ids.new_guid(), head, rows)

    def _append(self, body: bytes, now: datetime) -> None:
        if self._receipt_signer is not None:
            from lxml import etree

            body = self._receipt_signer.sign(etree.fromstring(body), self._receipt_key)
        for _ in range(2 if self.script.duplicates_receipts else 1):
            cursor = f"{self._log_base + len(self._log) + 1:012d}"
            self._log.append(RawReceipt(cursor=cursor, body=body, received_at=now, source=NAME))

    def _forget(self) -> None:
        """Slim the oldest finished messages to their outcome (duplicates and lookups still answer),
        and forget the oldest ones beyond MAX_SEEN."""
        for message_id, s in self._submissions.items():
            if self._full <= MAX_MESSAGES * 9 // 10:
                break
            if s.tracks or s.body:
                if message_id in self._pending and is_pending(s):
                    continue
                self._pending.pop(message_id, None)
                s.body, s.tracks = b"", []
                s.result = replace(s.result, request_bytes=b"", response_bytes=b"")
                self._full -= 1
        excess = len(self._submissions) - MAX_SEEN * 9 // 10
        if len(self._submissions) > MAX_SEEN:
            forget = list(islice((m for m, s in self._submissions.items() if not s.body), excess))  # slimmed ones
            for message_id in forget:
                del self._submissions[message_id]
