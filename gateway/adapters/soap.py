"""Entry point ``soap``: SOAP 1.1 transport with zeep, on the WSDL bundled in this package
(gateway/adapters/wsdl/gateway-sandbox.wsdl), never fetched at run time.

Operations: Submit(messageId, messageType, payload=base64 of the exact signed bytes) -> Ack,
GetReceipts(since, limit) -> receipt*, next; Lookup(messageId) -> found, Ack; Ping.

Options::

    {"endpoint": "https://eport.example/soap",   required: the service address
     "wsdl": "/path/to/local.wsdl",              default: the bundled WSDL (a local file only)
     "connect_timeout": 5, "read_timeout": 30,   seconds, on every operation
     "receipts_limit": 100,
     "client_cert": ..., "client_key": ..., "ca_bundle": ...}   as the http adapter

The client (WSDL parsed, service bound) is built once per adapter. Exact bytes: the egress hook of
``WirePlugin`` records the envelope exactly as zeep serialises it for the wire, and
``WireTransport.post`` records the bytes actually posted and the raw response body (an ingress
plugin only sees the parsed tree); both end up in SendResult.request_bytes / response_bytes.
Outcomes as the http adapter: soap:Server fault and 5xx -> retryable; soap:Client fault and
other 4xx -> refused; read timeout or a dropped connection after the request -> unknown.

Sends may run on several threads at once (``concurrent_sends``; GATEWAY_SEND_CONCURRENCY): the zeep
client keeps no per-call state of its own, the recorded bytes are per thread (``_Record``), and each
thread posts with its own ``requests.Session`` (``ThreadSessions``, as the http adapter).
"""
from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import urlsplit

import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault, TransportError
from zeep.plugins import Plugin
from zeep.wsdl.utils import etree_to_string

from gateway.ports import AdapterError, Clock, IdGenerator, OutgoingMessage, RawReceipt, SendResult

from .http import RETRYABLE_STATUS, SessionChannel, ThreadSessions, TransportOptions, _never_connected, received_at
from .options import AdapterFactory, OptionReader

NAME = "soap"
BUNDLED_WSDL = Path(__file__).resolve().parent / "wsdl" / "gateway-sandbox.wsdl"
TNS = "urn:gateway:sandbox:soap:v1"
BINDING = f"{{{TNS}}}GatewaySandboxBinding"


class SoapOptions(TransportOptions):
    def __init__(self, options: dict):
        r = OptionReader(NAME, options)
        self.endpoint = r.url("endpoint", required=True)
        wsdl = r.string("wsdl")
        self.wsdl = BUNDLED_WSDL
        if wsdl is not None:
            if urlsplit(wsdl).scheme in ("http", "https", "ftp"):
                r.problem(f"wsdl must be a local file (WSDLs are bundled, never fetched), got {wsdl!r}")
            elif not Path(wsdl).expanduser().is_file():
                r.problem(f"wsdl: file not found: {wsdl}")
            else:
                self.wsdl = Path(wsdl).expanduser()
        self.read_transport(r)
        r.done()


class _Record(threading.local):
    def reset(self) -> None:
        self.operation = None
        self.egress = b""      # the envelope as zeep serialises it (egress plugin)
        self.request = b""     # the bytes posted (transport)
        self.response = b""    # the raw response body (transport)


class WirePlugin(Plugin):
    """Records the outgoing envelope exactly as zeep's Transport.post_xml serialises it (this
    plugin must be the last one) and the operation of the incoming one."""

    def __init__(self, record: _Record):
        self.record = record

    def egress(self, envelope, http_headers, operation, binding_options):
        self.record.operation = operation.name
        self.record.egress = etree_to_string(envelope)
        return envelope, http_headers

    def ingress(self, envelope, http_headers, operation):
        return envelope, http_headers


class WireTransport(zeep.Transport):
    """A narrow zeep Transport: posts with (connect, read) timeouts, records the exact bytes both
    ways, and refuses to load anything from the network (WSDL and XSD are bundled)."""

    def __init__(self, record: _Record, sessions: ThreadSessions, timeout: tuple[float, float]):
        super().__init__(timeout=timeout[0], operation_timeout=timeout, session=sessions.get())
        self.record = record
        self.sessions = sessions

    def post(self, address, message, headers):
        self.record.request = message
        response = self.sessions.get().post(address, data=message, headers=headers, timeout=self.operation_timeout)
        self.record.response = response.content
        return response

    def load(self, url):
        if urlsplit(str(url)).scheme in ("http", "https", "ftp"):
            raise AdapterError(f"refusing to fetch {url}: WSDL and XSD documents are bundled, never fetched",
                               retryable=False)
        return super().load(url)


class SoapAdapter(SessionChannel[SoapOptions]):
    name = NAME

    def __init__(self, options: SoapOptions, clock: Clock):
        # the User-Agent zeep's own Session sends
        super().__init__(options, clock, {"User-Agent": f"Zeep/{zeep.__version__} (www.python-zeep.org)"})
        self.record = _Record()
        settings = zeep.Settings(strict=True, raw_response=False, forbid_dtd=True, forbid_entities=True,
                                 forbid_external=True, xml_huge_tree=True)
        self.transport = WireTransport(self.record, self.sessions, (options.connect_timeout, options.read_timeout))
        self.client = zeep.Client(str(options.wsdl), transport=self.transport, settings=settings,
                                  plugins=[WirePlugin(self.record)])
        self.service = self.client.create_service(BINDING, options.endpoint)

    # -- Adapter port ----------------------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> SendResult:
        body = bytes(message.body)
        self.record.reset()
        try:
            ack = self.service.Submit(messageId=message.message_id, messageType=message.message_type, payload=body)
        except requests.exceptions.ConnectTimeout as exc:
            return self._result(message, retryable=True, error=f"connect timeout: {exc}")
        except requests.exceptions.ReadTimeout:
            return self._result(message, retryable=True, unknown=True,
                                error=f"no answer within the read timeout of {self.options.read_timeout} s "
                                      "(the message may have arrived)")
        except requests.exceptions.SSLError as exc:
            return self._result(message, retryable=True, error=f"TLS error: {exc}")
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                return self._result(message, retryable=True, error=f"cannot connect: {exc}")
            return self._result(message, retryable=True, unknown=True,
                                error=f"connection dropped before an answer (the message may have arrived): {exc}")
        except Fault as fault:
            server_side = (fault.code or "").rsplit(":", 1)[-1] in ("Server", "Receiver")
            return self._result(message, retryable=server_side, error=f"SOAP fault {fault.code}: {fault.message}")
        except TransportError as exc:
            retryable = exc.status_code >= 500 or exc.status_code in RETRYABLE_STATUS
            return self._result(message, retryable=retryable, error=f"HTTP {exc.status_code}: {str(exc)[:300]}")
        except (zeep.exceptions.Error, etree.XMLSyntaxError, requests.exceptions.RequestException) as exc:
            # an answer came but could not be read: the message may have been taken
            return self._result(message, retryable=True, unknown=True,
                                error=f"unreadable answer: {type(exc).__name__}: {exc}")
        if ack is None or ack.messageId != message.message_id:
            return self._result(message, retryable=False,
                                error=f"the answer is for message {getattr(ack, 'messageId', None)!r}, "
                                      f"not {message.message_id!r}")
        return self._result(message, accepted=True, duplicate=ack.status == "duplicate")

    def lookup(self, message_id: str) -> SendResult | None:
        self.record.reset()
        answer = self._call("Lookup", messageId=message_id)
        if not answer.found:
            return None
        return SendResult(message_id, accepted=answer.ack.status in ("accepted", "duplicate"),
                          response_bytes=self.record.response)

    def fetch_receipts(self, since: str | None) -> list[RawReceipt]:
        self.record.reset()
        answer = self._call("GetReceipts", since=since, limit=self.options.receipts_limit)
        receipts, highest = [], since or ""
        for item in answer.receipt or []:
            highest = max(highest, item.cursor)
            receipts.append(RawReceipt(cursor=highest, body=bytes(item.payload),
                                       received_at=received_at(item.receivedAt, self.clock), source=NAME))
        return receipts

    def health(self) -> dict:
        info = {"adapter": NAME, "endpoint": self.options.endpoint, "wsdl": str(self.options.wsdl),
                "timeouts": {"connect": self.options.connect_timeout, "read": self.options.read_timeout}}
        try:
            status = self._call("Ping")
        except AdapterError as exc:
            return {**info, "ok": False, "error": str(exc)}
        return {**info, "ok": status == "ok", "status": status}

    # -- helpers ---------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs):
        try:
            return getattr(self.service, operation)(**kwargs)
        except Fault as fault:
            raise AdapterError(f"{operation}: SOAP fault {fault.code}: {fault.message}",
                               retryable=(fault.code or "").endswith("Server")) from None
        except TransportError as exc:
            raise AdapterError(f"{operation}: HTTP {exc.status_code}", retryable=exc.status_code >= 500) from None
        except (zeep.exceptions.Error, etree.XMLSyntaxError, requests.exceptions.RequestException) as exc:
            raise AdapterError(f"{operation}: {type(exc).__name__}: {exc}", retryable=True) from None

    def _result(self, message: OutgoingMessage, *, accepted: bool = False, duplicate: bool = False,
                retryable: bool = False, unknown: bool = False, error: str | None = None) -> SendResult:
        request = self.record.request or self.record.egress
        return SendResult(message.message_id, accepted=accepted, duplicate=duplicate, retryable=retryable,
                          unknown=unknown, error=error, request_bytes=bytes(request),
                          response_bytes=bytes(self.record.response))


def _create(options: dict, *, clock: Clock, ids: IdGenerator) -> SoapAdapter:
    return SoapAdapter(SoapOptions(options), clock)


def check_options(options: dict) -> None:
    SoapOptions(options)


create = AdapterFactory(_create, check_options)
