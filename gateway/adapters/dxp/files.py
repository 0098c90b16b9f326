"""``dxp-files``: DXP through an OutBox / InBox folder pair; see the package docstring."""
from __future__ import annotations

import os
from pathlib import Path

from gateway.ports import AdapterError, Clock, LookupUnsupported, OutgoingMessage, RawReceipt, SendResult

from .. import dxpmsg
from ..fileio import move, write_atomically
from .common import FilesOptions, _DxpBase


class DxpFilesAdapter(_DxpBase):
    name = "dxp-files"

    def __init__(self, options: FilesOptions, clock: Clock):
        super().__init__(options, clock)
        self.options: FilesOptions = options
        assert options.outbox is not None and options.inbox is not None   # required options
        self.outbox = Path(options.outbox)
        self.inbox = Path(options.inbox)
        self.processed = self.inbox / "processed"
        self.quarantine = self.inbox / "quarantine"
        for folder in (self.outbox, self.inbox, self.processed, self.quarantine):
            folder.mkdir(parents=True, exist_ok=True)
        self._pending: dict[str, tuple[Path, RawReceipt]] = {}   # cursor -> (file, receipt)

    def close(self) -> None:
        pass

    def send(self, message: OutgoingMessage) -> SendResult:
        envelope, refused = self._wrapped(message)
        if refused is not None:
            return refused
        path = self.outbox / dxpmsg.file_name(message.message_type, message.message_id)
        try:
            write_atomically(path, envelope)
        except OSError as exc:
            return SendResult(message.message_id, accepted=False, retryable=True, request_bytes=envelope,
                              error=f"cannot write {path}: {exc}")
        return SendResult(message.message_id, accepted=True, request_bytes=envelope)

    def lookup(self, message_id: str) -> SendResult | None:
        for path in self.outbox.glob(f"*_{message_id}.xml"):
            try:
                return SendResult(message_id, accepted=True, request_bytes=path.read_bytes())
            except OSError:
                break          # taken by the DXP client meanwhile
        raise LookupUnsupported(f"{message_id} is not waiting in {self.outbox}: taken by the DXP client or never "
                                "written; DXP has no query (a resend keeps the CopMsgId)")

    def fetch_receipts(self, since: str | None) -> list[RawReceipt]:
        with self._lock:
            for cursor in sorted(self._pending):
                if since and cursor <= since:
                    path, _ = self._pending.pop(cursor)
                    try:
                        move(path, self.processed)
                    except FileNotFoundError:
                        pass
            out = [raw for cursor, (_, raw) in sorted(self._pending.items()) if not since or cursor > since]
            held = {path for path, _ in self._pending.values()}
            try:
                candidates = [p for p in self.inbox.iterdir()
                              if p.is_file() and not p.name.startswith(".") and p not in held]
                candidates.sort(key=_arrival)
            except OSError as exc:
                raise AdapterError(f"cannot read {self.inbox}: {exc}", retryable=True) from None
            for path in candidates:
                if len(out) >= self.options.receipts_limit:
                    break
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    self._to_quarantine(path, f"unreadable file: {exc}")
                    continue
                if path.suffix.lower() != ".xml":
                    self._to_quarantine(path, "not a .xml file")
                    continue
                try:
                    payload = dxpmsg.inbound(data)
                except dxpmsg.DxpError as exc:
                    self._to_quarantine(path, str(exc))
                    continue
                cursor = self._cursors.next(max([since or "", *self._pending]) or None)
                raw = RawReceipt(cursor=cursor, body=payload, received_at=self.clock.now(), source=self.name)
                self._pending[cursor] = (path, raw)
                out.append(raw)
            return out

    def _to_quarantine(self, path: Path, reason: str) -> None:
        try:
            target = move(path, self.quarantine)
        except OSError as exc:
            reason = f"{reason}; could not be moved: {exc}"
            target = path
        self._quarantine_note(str(target), reason)

    def health(self) -> dict:
        info = {"adapter": self.name, "outbox": str(self.outbox), "inbox": str(self.inbox),
                "quarantined": self.quarantined, "quarantined_recent": list(self.quarantined_recent)}
        problems = [f"{folder} is missing or not writable" for folder in (self.outbox, self.inbox)
                    if not folder.is_dir() or not _writable(folder)]
        waiting_out: int | None
        waiting_in: int | None
        in_quarantine: int | None
        try:
            waiting_out = sum(1 for p in self.outbox.iterdir() if p.is_file() and not p.name.startswith("."))
            waiting_in = sum(1 for p in self.inbox.iterdir() if p.is_file() and not p.name.startswith("."))
            in_quarantine = sum(1 for p in self.quarantine.iterdir() if p.is_file())
        except OSError as exc:
            problems.append(str(exc))
            waiting_out = waiting_in = in_quarantine = None
        return {**info, "ok": not problems, "problems": problems, "outbox_waiting": waiting_out,
                "inbox_waiting": waiting_in, "quarantine_files": in_quarantine}


def _arrival(path: Path) -> tuple[int, str]:
    try:
        return (path.stat().st_mtime_ns, path.name)
    except OSError:
        return (0, path.name)


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)
