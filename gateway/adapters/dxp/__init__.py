"""Entry points ``dxp-amqp`` and ``dxp-files``: the DXP terminal-node transport (ceb-messages.md §10).

One module per transport (amqp_transport.py, files.py) on what they share (common.py).

Every message goes out wrapped in a DxpMsg (gateway/adapters/dxpmsg.py): CopMsgId = our message id,
SenderId = the tenant's DXP id (BaseTransfer/dxpId of the signed message; option ``sender_id``
when the message has none), ReceiverId = DXPEDCCEB0000002 (import) / DXPEDCCEB0000003 (export),
MsgType = the root name, Data = base64 of the exact signed bytes, AddInfo/FileName =
``<MsgType>_<CopMsgId>.xml``. Receipts come back wrapped the same way (``Data`` is unwrapped), in a
transport node's DxpMsgSv, as raw CEB messages, or as DxpRep answers (``dxpmsg.inbound``).

Hand-over: a receipt is acknowledged (AMQP ack / file moved to processed/) only once the caller
passes a cursor at or past it back to ``fetch_receipts`` — the dispatcher stores the cursor only
after it stored the receipts — so a crash in between loses nothing (it comes again; duplicates
are normal downstream). Unreadable receipts are quarantined (AMQP: republished to the quarantine
queue, then acked; files: moved to quarantine/), logged with logging.error, counted in health(),
and never block the ones behind them.

DXP has no query: ``lookup`` raises AdapterError(retryable=False) for AMQP; for files it finds a
message still waiting in the OutBox. A resend keeps the CopMsgId, which the receiver deduplicates.

Options, both::

    {"sender_id": "DXPENT0000458763",          used when a message has no BaseTransfer/dxpId
     "receivers": {"CEB311Message": "..."},    per message type, overriding the import/export default
     "default_receiver": "DXPEDC...",          for message types that are neither import nor export CEB
     "receipts_limit": 100}

``dxp-amqp``::

    {"url": "amqp://guest:guest@127.0.0.1:5672//",            required
     "queue_prefix": "dxp",                                    queues <prefix>.declarations / .receipts
     "declaration_queue": "...", "receipt_queue": "...",      or name them one by one
     "quarantine_queue": "...",                                default <receipt_queue>.quarantine
     "connect_timeout": 5, "read_timeout": 10}                 socket reads/writes and publisher confirms

``dxp-files``::

    {"outbox": "/dxp/OutBox", "inbox": "/dxp/InBox"}          required; processed/ and quarantine/
                                                               are made inside the inbox
"""
from __future__ import annotations

from gateway.ports import Clock, IdGenerator

from .amqp_transport import DxpAmqpAdapter, body_bytes
from .common import AmqpOptions, FilesOptions
from .files import DxpFilesAdapter

__all__ = ["AmqpOptions", "DxpAmqpAdapter", "DxpFilesAdapter", "FilesOptions", "body_bytes", "create_amqp", "create_files"]


def create_amqp(options: dict, *, clock: Clock, ids: IdGenerator) -> DxpAmqpAdapter:
    return DxpAmqpAdapter(AmqpOptions(options), clock)


def create_files(options: dict, *, clock: Clock, ids: IdGenerator) -> DxpFilesAdapter:
    return DxpFilesAdapter(FilesOptions(options), clock)


def _check_amqp(options: dict) -> None:
    AmqpOptions(options)


def _check_files(options: dict) -> None:
    FilesOptions(options)


create_amqp.check_options = _check_amqp   # type: ignore[attr-defined]  # read by adapters.registry
create_files.check_options = _check_files   # type: ignore[attr-defined]
