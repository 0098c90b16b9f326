"""Entry point ``http``: E-Port-style HTTP transport (requests, one Session per adapter and thread).

    POST {base_url}/messages        body = the exact signed bytes; X-Message-Id, X-Message-Type
    GET  {base_url}/receipts?since=<cursor>&limit=<n>
    GET  {base_url}/messages/<id>   lookup after an unknown outcome
    GET  {base_url}/health

Options::

    {"base_url": "https://eport.example/api",   required
     "connect_timeout": 5, "read_timeout": 30,  seconds (every request has both)
     "receipts_limit": 100,
     "client_cert": "client.pem", "client_key": "client.key",   mTLS (together)
     "ca_bundle": "ca.pem",                     trust for the server certificate (default: system)
     "headers": {"X-Api-Key": "..."}}           extra request headers

Outcomes of send:
    2xx accepted/duplicate                → accepted (duplicate=True when it had the id already)
    connection refused / connect timeout  → retryable (the request never left)
    5xx, 408, 429                         → retryable
    read timeout, connection dropped after the request was written
                                          → unknown (retryable, unknown=True): look it up first
    other 4xx                             → refused (not retryable)
No automatic retries inside: a resend is always the dispatcher's decision, with the same id.

Sends may run on several threads at once (``concurrent_sends``; GATEWAY_SEND_CONCURRENCY): requests
does not promise that a Session is thread-safe, so each thread has its own (``ThreadSessions``), all
configured alike, each with its own keep-alive connections.
"""
from __future__ import annotations

import base64
import json
import threading
import weakref
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeVar
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from gateway.ports import AdapterError, Clock, IdGenerator, OutgoingMessage, RawReceipt, SendResult

from .options import AdapterFactory, OptionReader

NAME = "http"
RETRYABLE_STATUS = {408, 425, 429}


class TransportOptions:
    """The options every HTTP-based channel (HTTP, SOAP) takes: timeouts, the receipts page size and
    mutual TLS (client certificate and key together, a CA bundle)."""

    connect_timeout: float
    read_timeout: float
    receipts_limit: int
    client_cert: Path | None
    client_key: Path | None
    ca_bundle: Path | None

    def read_transport(self, r: OptionReader) -> None:
        self.connect_timeout = r.seconds("connect_timeout", default=5.0)
        self.read_timeout = r.seconds("read_timeout", default=30.0)
        self.receipts_limit = r.integer("receipts_limit", default=100, maximum=1000)
        self.client_cert = r.file("client_cert")
        self.client_key = r.file("client_key")
        self.ca_bundle = r.file("ca_bundle")
        if (self.client_cert is None) != (self.client_key is None):
            r.problem("client_cert and client_key go together (mTLS)")


class HttpOptions(TransportOptions):
    def __init__(self, options: dict):
        r = OptionReader(NAME, options)
        self.base_url = r.url("base_url", required=True)
        self.read_transport(r)
        self.headers = r.mapping("headers")
        r.done()

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


class ThreadSessions:
    """One ``requests.Session`` per thread, made by ``make`` when a thread first asks; ``close`` closes
    every one still alive (a thread's own goes with the thread)."""

    def __init__(self, make: Callable[[], requests.Session]):
        self._make = make
        self._local = threading.local()
        self._all: weakref.WeakSet[requests.Session] = weakref.WeakSet()
        self._lock = threading.Lock()

    def get(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._make()
            with self._lock:
                self._all.add(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions = list(self._all)
        for session in sessions:
            session.close()


def new_session(options: TransportOptions, headers: dict | None = None) -> requests.Session:
    """A Session as every HTTP-based channel uses it: no retries of its own, nothing from the
    environment (proxies, netrc), the client certificate and the trusted CAs of ``options``."""
    session = requests.Session()
    no_retries = HTTPAdapter(max_retries=Retry(total=0, connect=0, read=0, redirect=0, status=0,
                                               raise_on_status=False, raise_on_redirect=False))
    session.mount("http://", no_retries)
    session.mount("https://", no_retries)
    session.headers.update(headers or {})
    session.trust_env = False        # no proxies or netrc from the environment
    if options.client_cert is not None:
        session.cert = (str(options.client_cert), str(options.client_key))
    session.verify = str(options.ca_bundle) if options.ca_bundle is not None else True
    return session


Opts = TypeVar("Opts", bound=TransportOptions)


class SessionChannel(Generic[Opts]):
    """What every HTTP-based channel (HTTP, SOAP) is made of: its options, the clock, and one Session
    per thread (``new_session`` with the channel's headers), closed together."""

    concurrent_sends = True     # the dispatcher may send on several threads (one Session each)

    def __init__(self, options: Opts, clock: Clock, headers: dict):
        self.options = options
        self.clock = clock
        self.sessions = ThreadSessions(lambda: new_session(options, headers))

    def close(self) -> None:
        self.sessions.close()


class HttpAdapter(SessionChannel[HttpOptions]):
    name = NAME

    def __init__(self, options: HttpOptions, clock: Clock):
        super().__init__(options, clock, {"User-Agent": "gateway-http-adapter/1", **options.headers})

    @property
    def session(self) -> requests.Session:
        """This thread's Session."""
        return self.sessions.get()

    # -- Adapter port ----------------------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> SendResult:
        body = bytes(message.body)
        headers = {"Content-Type": "application/xml; charset=utf-8", "X-Message-Id": message.message_id,
                   "X-Message-Type": message.message_type}
        try:
            response = self.session.post(f"{self.options.base_url}/messages", data=body, headers=headers,
                                         timeout=self.options.timeout, allow_redirects=False)
        except requests.exceptions.ConnectTimeout as exc:
            return _failed(message, body, f"connect timeout after {self.options.connect_timeout} s: {exc}")
        except requests.exceptions.ReadTimeout:
            return _unknown(message, body, f"no answer within the read timeout of {self.options.read_timeout} s "
                                           "(the message may have arrived)")
        except requests.exceptions.SSLError as exc:
            return _failed(message, body, f"TLS error: {exc}")
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                return _failed(message, body, f"cannot connect: {exc}")
            return _unknown(message, body, f"connection dropped before an answer (the message may have arrived): {exc}")
        except requests.exceptions.RequestException as exc:
            return _failed(message, body, f"request failed: {exc}")
        content = response.content
        if 200 <= response.status_code < 300:
            ack = _json(content)
            if ack.get("messageId") not in (None, message.message_id):
                return SendResult(message.message_id, accepted=False, retryable=False, request_bytes=body,
                                  response_bytes=content,
                                  error=f"the answer is for message {ack.get('messageId')!r}, not {message.message_id!r}")
            return SendResult(message.message_id, accepted=True, duplicate=ack.get("status") == "duplicate",
                              request_bytes=body, response_bytes=content)
        error = f"HTTP {response.status_code}: {content[:300].decode('utf-8', 'replace')}"
        retryable = response.status_code >= 500 or response.status_code in RETRYABLE_STATUS
        return SendResult(message.message_id, accepted=False, retryable=retryable, error=error,
                          request_bytes=body, response_bytes=content)

    def lookup(self, message_id: str) -> SendResult | None:
        response = self._get(f"/messages/{quote(message_id, safe='')}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise AdapterError(f"lookup of {message_id}: HTTP {response.status_code}",
                               retryable=response.status_code >= 500 or response.status_code in RETRYABLE_STATUS)
        ack = _json(response.content)
        return SendResult(message_id, accepted=ack.get("status") in ("accepted", "duplicate"),
                          response_bytes=response.content)

    def fetch_receipts(self, since: str | None) -> list[RawReceipt]:
        params = {"limit": str(self.options.receipts_limit)}
        if since:
            params["since"] = since
        response = self._get("/receipts", params)
        if response.status_code != 200:
            raise AdapterError(f"receipts: HTTP {response.status_code}",
                               retryable=response.status_code >= 500 or response.status_code in RETRYABLE_STATUS)
        data = _json(response.content)
        receipts, highest = [], since or ""
        try:
            for item in data.get("receipts", []):
                cursor = str(item["cursor"])
                highest = max(highest, cursor)  # never hand back a cursor lower than one already seen
                receipts.append(RawReceipt(cursor=highest, body=base64.b64decode(item["body"], validate=True),
                                           received_at=received_at(item.get("receivedAt"), self.clock),
                                           source=NAME))
        except (KeyError, TypeError, ValueError) as exc:
            raise AdapterError(f"receipts: unreadable answer: {exc}", retryable=True) from None
        return receipts

    def health(self) -> dict:
        info = {"adapter": NAME, "endpoint": self.options.base_url,
                "timeouts": {"connect": self.options.connect_timeout, "read": self.options.read_timeout},
                "mtls": self.options.client_cert is not None}
        try:
            response = self._get("/health")
        except AdapterError as exc:
            return {**info, "ok": False, "error": str(exc)}
        return {**info, "ok": response.status_code == 200, "status": response.status_code}

    # -- helpers ---------------------------------------------------------------------------------

    def _get(self, path: str, params: dict | None = None) -> requests.Response:
        try:
            return self.session.get(f"{self.options.base_url}{path}", params=params, timeout=self.options.timeout,
                                    allow_redirects=False)
        except requests.exceptions.RequestException as exc:
            raise AdapterError(f"GET {path}: {type(exc).__name__}: {exc}", retryable=True) from None


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection was never made (refused, no route, DNS): the request never left."""
    from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (NewConnectionError, NameResolutionError, ConnectionRefusedError))


def _failed(message: OutgoingMessage, body: bytes, error: str) -> SendResult:
    return SendResult(message.message_id, accepted=False, retryable=True, error=error, request_bytes=body)


def _unknown(message: OutgoingMessage, body: bytes, error: str) -> SendResult:
    return SendResult(message.message_id, accepted=False, retryable=True, unknown=True, error=error,
                      request_bytes=body)


def _json(content: bytes) -> dict:
    try:
        data = json.loads(content or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def received_at(text: str | None, clock: Clock) -> datetime:
    """A receipt's receive time as the channel gives it (ISO 8601), else now (also the SOAP channel's)."""
    if text:
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    return clock.now()


def _create(options: dict, *, clock: Clock, ids: IdGenerator) -> HttpAdapter:
    return HttpAdapter(HttpOptions(options), clock)


def check_options(options: dict) -> None:
    HttpOptions(options)


create = AdapterFactory(_create, check_options)
