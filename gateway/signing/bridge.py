"""Remote signing bridge: the China E-Port client control's local WebSocket (ceb-messages.md §8.2),
or anything that speaks its protocol (a signing service in front of a UKey or crypto device).

Protocol (JSON text frames):

    → {"_method": "cus-sec_SpcSignDataAsPEM", "_id": 7, "args": {"inData": "<canonical SignedInfo>", "passwd": "…"}}
    ← {"_id": 7, "_method": "cus-sec_SpcSignDataAsPEM", "_status": "00",
       "_args": {"Result": true, "Data": ["<signature base64>", "<certNo>"], "Error": []}}
    → {"_method": "cus-sec_SpcGetSignCertAsPEM", "_id": 8, "args": {}}
    ← … "Data": ["<certificate base64 DER>"] …

The flat answer ``{"Result": …, "Data": …, "Error": …}`` is accepted too, and unsolicited frames
(the control's ``{"_method": "open"}`` greeting, answers to other ids) are skipped.

The card hashes what it signs: SM3-with-SM2 (user ID 1234567812345678, raw r||s) for SM2 cards,
SHA1-with-RSA for RSA cards, so the signer must be built with an SM2 variant or ``rsa-sha1``.

One connection is kept open and reused (per process: a forked child opens its own, never writing
on its parent's socket); every request has a timeout. A broken or refused
connection is reopened (``retries`` times, with a short back-off) before the call fails. Each
failure is logged with ``logging.error`` (the alert) and shows in ``health()`` until a call
succeeds again.
"""
from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from typing import TypedDict

from cryptography import x509

from . import sm2
from .algorithms import RSA_SHA1, SignatureAlgorithms, SigningError, UnsupportedAlgorithm
from .keys import SignerIdentity, serial_hex

log = logging.getLogger(__name__)

SIGN_METHOD = "cus-sec_SpcSignDataAsPEM"
CERT_METHOD = "cus-sec_SpcGetSignCertAsPEM"
DEFAULT_URL = "ws://127.0.0.1:61232"


class BridgeUnavailable(SigningError):
    """The bridge could not be reached or did not answer in time."""


class BridgeRefused(SigningError):
    """The bridge answered but refused (card error, wrong password, ...). ``errors`` holds its texts."""

    def __init__(self, message: str, errors: list[str]):
        super().__init__(message)
        self.errors = errors


class _Status(TypedDict):
    """What ``health()`` reports of the bridge: the last outcome, the failures since the last success."""
    ok: bool | None
    last_error: str | None
    failures: int
    last_ok_at: str | None
    last_error_at: str | None


class BridgeBackend:
    def __init__(self, url: str = DEFAULT_URL, *, algorithms: SignatureAlgorithms, password: str | None = None,
                 timeout: float = 10.0, connect_timeout: float = 5.0, retries: int = 2, backoff: float = 0.2,
                 sm2_encoding: str = "raw"):
        if algorithms.key_type == "rsa" and algorithms != RSA_SHA1:
            raise UnsupportedAlgorithm("the E-Port control signs SHA1-with-RSA: build the signer with rsa-sha1")
        if sm2_encoding not in ("raw", "der"):
            raise UnsupportedAlgorithm(f"sm2_encoding must be raw or der, not {sm2_encoding!r}")
        self.url = url
        self.key_type = algorithms.key_type
        self._password = password
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self.retries, self.backoff = retries, backoff
        self._sm2_encoding = sm2_encoding
        self._lock = threading.RLock()
        self._connection = None
        self._pid = os.getpid()
        self._ids = itertools.count(1)
        self._identity: SignerIdentity | None = None
        self._status: _Status = {"ok": None, "last_error": None, "failures": 0, "last_ok_at": None,
                                 "last_error_at": None}

    def __repr__(self) -> str:   # never shows the card password
        return f"BridgeBackend({self.url!r}, {self.key_type})"

    # ---- the SignatureBackend port -------------------------------------------------------------
    def sign(self, signed_info_c14n: bytes, key_ref=None) -> bytes:
        args = {"inData": signed_info_c14n.decode("utf-8")}
        if self._password is not None:
            args["passwd"] = self._password
        data = self._call(SIGN_METHOD, args)
        try:
            value = base64.b64decode("".join(str(data[0]).split()), validate=True)
        except (IndexError, binascii.Error, ValueError):
            raise self._failed(BridgeRefused("the bridge's signature is not base64", [])) from None
        if len(data) > 1 and self._identity is not None and not _same_serial(str(data[1]), self._identity):
            raise self._failed(BridgeRefused(f"the bridge signed with certificate {data[1]}, not with "
                                             f"{self._identity.key_name} (card changed?)", []))
        if self.key_type == "sm2":
            if len(value) != 64:
                try:
                    value = sm2.from_der(value)          # some bridges answer DER
                except sm2.der.DerError:
                    raise self._failed(BridgeRefused(f"SM2 signature of {len(value)} bytes from the bridge", [])) from None
            return value if self._sm2_encoding == "raw" else sm2.to_der(value)
        return value

    def certificate(self, key_ref=None) -> SignerIdentity:
        if self._identity is None:
            data = self._call(CERT_METHOD, {})
            text = str(data[0]) if data else ""
            text = text.replace("-----BEGIN CERTIFICATE-----", "").replace("-----END CERTIFICATE-----", "")
            try:
                certificate = x509.load_der_x509_certificate(base64.b64decode("".join(text.split()), validate=True))
            except (binascii.Error, ValueError):
                raise self._failed(BridgeRefused("the bridge's certificate is not a base64 DER certificate", [])) from None
            self._identity = SignerIdentity.of(certificate)
        return self._identity

    # ---- health and alerting -----------------------------------------------------------------
    def health(self, probe: bool = True) -> dict:
        """{"backend": "bridge", "ok": …, "url", "failures", "last_error", …}; with ``probe`` a
        certificate request checks the bridge now."""
        if probe:
            try:
                self._call(CERT_METHOD, {})
            except SigningError:
                pass
        with self._lock:
            return {"backend": "bridge", "url": self.url, **self._status}

    def close(self) -> None:
        if self._pid != os.getpid():
            self._connection = None           # the parent's socket: not ours to close
            return
        with self._lock:
            self._drop()

    # ---- the wire -----------------------------------------------------------------------------
    def _call(self, method: str, args: dict) -> list:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

        if self._pid != os.getpid():          # forked: the connection (and the lock's state) are the parent's
            self._lock, self._connection, self._pid = threading.RLock(), None, os.getpid()
        with self._lock:
            last: Exception | None = None
            for attempt in range(self.retries + 1):
                if attempt:
                    time.sleep(self.backoff * attempt)
                try:
                    connection = self._connect()
                    request_id = next(self._ids)
                    connection.send(json.dumps({"_method": method, "_id": request_id, "args": args},
                                               ensure_ascii=False))
                    answer = self._answer(connection, request_id, method)
                except TimeoutError:
                    self._drop()             # a late answer must not be taken for the next request
                    raise self._failed(BridgeUnavailable(
                        f"the signing bridge {self.url} did not answer {method} within {self.timeout:g} s")) from None
                except (ConnectionClosed, InvalidHandshake, InvalidURI, OSError) as e:
                    self._drop()
                    last = e
                    continue
                result, data, errors = _unpack(answer)
                if not result:
                    raise self._failed(BridgeRefused(
                        f"the signing bridge refused {method}: {'; '.join(errors) or 'no reason given'}", errors))
                self._succeeded()
                return data
            raise self._failed(BridgeUnavailable(
                f"the signing bridge {self.url} is not reachable ({type(last).__name__}: {last}); "
                f"tried {self.retries + 1} times"))

    def _connect(self):
        if self._connection is None:
            from websockets.sync.client import connect

            # entered as a context manager (closed in _drop), as websockets wants; kept open between calls
            self._connection = connect(self.url, open_timeout=self.connect_timeout, close_timeout=1,
                                       proxy=None, max_size=4 * 1024 * 1024).__enter__()
        return self._connection

    def _answer(self, connection, request_id: int, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            frame = connection.recv(timeout=remaining)
            try:
                message = json.loads(frame)
            except (TypeError, ValueError):
                log.warning("signing bridge %s sent a frame that is not JSON; skipped", self.url)
                continue
            if not isinstance(message, dict):
                continue
            if "_id" not in message and "Result" in message:
                return message                               # flat answer
            if str(message.get("_id")) == str(request_id) and message.get("_method", method) == method:
                return message
            # the greeting {"_method": "open"} or an answer to something else: skip

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.__exit__(None, None, None)
            except Exception:  # already broken
                pass
            self._connection = None

    def _failed(self, error: SigningError) -> SigningError:
        with self._lock:
            self._status.update({"ok": False, "last_error": str(error), "failures": self._status["failures"] + 1,
                                 "last_error_at": datetime.now(UTC).isoformat()})
        log.error("ALERT signing bridge %s: %s", self.url, error)
        return error

    def _succeeded(self) -> None:
        if self._status["ok"] is False:
            log.warning("signing bridge %s works again after %d failure(s)", self.url, self._status["failures"])
        self._status.update({"ok": True, "failures": 0, "last_ok_at": datetime.now(UTC).isoformat()})


def _unpack(message: dict) -> tuple[bool, list, list[str]]:
    body = message.get("_args", message)
    if not isinstance(body, dict):
        return False, [], ["malformed answer"]
    status = message.get("_status")
    errors = [str(e) for e in body.get("Error") or []]
    if status not in (None, "00", 0):
        errors.insert(0, f"status {status}")
        return False, [], errors
    data = body.get("Data") or []
    return bool(body.get("Result")) and bool(data), list(data), errors


def _same_serial(cert_no: str, identity: SignerIdentity) -> bool:
    try:
        return int(cert_no, 16) == identity.certificate.serial_number
    except ValueError:
        return cert_no == serial_hex(identity.certificate)
