"""Announcement 2018 No.179: customs fetches the original payment data of a declared order in real
time (ceb-messages.md §9).

1. Customs POSTs ``/ceb179/<tenant id>/platDataOpen`` with form field ``openReq`` = {"orderNo",
   "sessionID", "serviceTime"}; ``open_call`` answers at once {"code": "10000", "message": "",
   "serviceTime": …} and queues the upload — once per (tenant, orderNo, sessionID), within the
   tenant's rate limit, from an allowed source address (``realtime179_calls.py``); every call that
   reaches a known tenant is audited once (``realtime179.called`` with its outcome).
2. ``upload`` builds ``payExInfoStr`` from the stored order and its raw payment data
   (POST /v1/orders/<id>/payment-raw), signs the ``||`` string of §9.3 with the tenant's key (SM2:
   SM3-with-SM2, raw r||s; RSA: SHA1-with-RSA, as the E-Port card does), and POSTs it as form field
   ``payExInfoStr`` to the configured realTimeDataUpload URL.

Byte-exactness: the head and list JSON texts are made once (compact, fixed key order, amounts as the
decimal text the order was submitted with) and the same texts go into the signed string and into
``payExInfoStr``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.domain.common.dates import CHINA_TZ as CHINA
from gateway.signing import RSA_SHA1, SigningError, Sm2Options, software_backend
from gateway.signing.algorithms import DEFAULT_SM2_OPTIONS, SM2_SM3
from gateway.store import models as m
from gateway.store.models import Realtime179Call

from .realtime179_calls import CallGuard, CallRefused, parse_open_req

log = logging.getLogger(__name__)

OK, FAILED = "10000", "20000"


class PaymentRawInvalid(ValueError):
    """The raw payment data sent for an order is incomplete or malformed; the message says why."""


@dataclass(frozen=True)
class UploadResult:
    order_no: str
    session_id: str
    ok: bool
    pay_ex_info_str: str | None
    status: int | None
    response: str | None
    error: str | None = None


def _text(value, name: str, limit: int, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            raise PaymentRawInvalid(f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise PaymentRawInvalid(f"{name} must be a string")
    if len(value) > limit:
        raise PaymentRawInvalid(f"{name} is longer than {limit} characters")
    return value


def check_payment_raw(body: dict, order_body: dict) -> dict:
    """The stored form of POST /v1/orders/<id>/payment-raw (raises PaymentRawInvalid)."""
    if not isinstance(body, dict):
        raise PaymentRawInvalid("the body must be a JSON object")
    out: dict[str, str | list[dict[str, str]]] = {
        "initalRequest": _text(body.get("initalRequest"), "initalRequest", 8000),
        "initalResponse": _text(body.get("initalResponse"), "initalResponse", 8000),
        "verDept": _text(body.get("verDept"), "verDept", 1),
        "payType": _text(body.get("payType"), "payType", 1, required=False),
        "tradingTime": _text(body.get("tradingTime"), "tradingTime", 14, required=False),
        "note": _text(body.get("note"), "note", 1000, required=False),
        "recpAccount": _text(body.get("recpAccount"), "recpAccount", 60),
        "recpCode": _text(body.get("recpCode"), "recpCode", 18, required=False),
        "recpName": _text(body.get("recpName"), "recpName", 100),
    }
    if out["verDept"] not in ("1", "2", "3"):
        raise PaymentRawInvalid("verDept must be 1 (UnionPay), 2 (NetsUnion) or 3 (other)")
    if out["payType"] and out["payType"] not in ("1", "2", "3", "4"):
        raise PaymentRawInvalid("payType must be 1 (APP), 2 (PC), 3 (QR code) or 4 (other)")
    trading_time = out["tradingTime"]
    if isinstance(trading_time, str) and trading_time and not re.fullmatch(r"\d{14}", trading_time):
        raise PaymentRawInvalid("tradingTime must be YYYYMMDDhhmmss")
    goods = body.get("goodsInfo")
    if goods is None and isinstance(body.get("itemLinks"), list):
        lines = order_body.get("lines") or []
        if len(body["itemLinks"]) != len(lines):
            raise PaymentRawInvalid(f"itemLinks needs one link per order line ({len(lines)})")
        goods = [{"gname": line.get("name", ""), "itemLink": link}
                 for line, link in zip(lines, body["itemLinks"], strict=True)]   # same length, checked above
    if not isinstance(goods, list) or not goods:
        raise PaymentRawInvalid("goodsInfo (a list of {gname, itemLink}) or itemLinks (one per order line) is required")
    out["goodsInfo"] = [{"gname": _text(g.get("gname") if isinstance(g, dict) else None, "goodsInfo.gname", 250),
                         "itemLink": _text(g.get("itemLink") if isinstance(g, dict) else None,
                                           "goodsInfo.itemLink", 3000)} for g in goods]
    return out


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _decimal_text(value) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"\d{1,14}(\.\d{1,5})?", text):
        raise PaymentRawInvalid(f"payment amount {text!r} is not a plain decimal (N19,5)")
    return text


def signing_string(session_id: str, head_json: str, lists_json: str, service_time: int) -> str:
    """§9.3: the first-level nodes joined with ``||``; the JSON texts inserted verbatim."""
    return (f'"sessionID":"{session_id}"||"payExchangeInfoHead":"{head_json}"||'
            f'"payExchangeInfoLists":"{lists_json}"||"serviceTime":"{service_time}"')


class Realtime179:
    """Answers platDataOpen and uploads the signed payment data; one instance per gateway."""

    def __init__(self, uow_factory, key_for, clock, ids, upload_url: str | None, *, timeout: float = 15.0,
                 sm2_options: Sm2Options = DEFAULT_SM2_OPTIONS, http=None, workers: int = 2,
                 guard: CallGuard | None = None):
        import requests

        self._uow_factory, self._key_for, self._clock, self._ids = uow_factory, key_for, clock, ids
        self.upload_url = upload_url
        self.timeout = timeout
        self._http = http or requests.Session()
        self._backends = {"sm2": software_backend(SM2_SM3, Sm2Options(encoding="raw", user_id=sm2_options.user_id)),
                          "rsa": software_backend(RSA_SHA1)}      # the card's SHA1-with-RSA
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ceb179")
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self.guard = guard or CallGuard(clock)

    # ---- payment raw data ---------------------------------------------------------------------
    def store_payment_raw(self, tenant_id: str, order_id: str, body: dict) -> dict:
        with self._uow_factory() as uow:
            order = uow.orders.get(tenant_id, order_id)
            if order is None:
                from gateway.service.orders import NotFound
                raise NotFound(f"order {order_id}")
            stored = check_payment_raw(body, json.loads(order.body))
            row = uow.session.get(m.PaymentRaw, order_id)
            now = self._clock.now()
            if row is None:
                uow.session.add(m.PaymentRaw(order_id=order_id, tenant_id=tenant_id, body=_json(stored),
                                             received_at=now))
            else:
                row.body, row.received_at = _json(stored), now
            uow.audit.record(tenant_id, "order", order_id, "payment_raw.stored",
                             {"sha256": hashlib.sha256(_json(stored).encode()).hexdigest()})
            uow.commit()
        return stored

    # ---- customs calls platDataOpen -------------------------------------------------------------
    def open_call(self, tenant_id: str, open_req, source: str | None) -> tuple[int, dict]:
        """(HTTP status, answer) for customs' call; the upload runs in the background, once per
        (order, sessionID). An unknown order gets the same answer as a known one (no oracle)."""
        service_time = self._ms()
        try:
            self.guard.check_source(source)
            with self._uow_factory() as uow:
                tenant = uow.tenants.get(tenant_id)
                if tenant is None or tenant.disabled_at is not None:
                    raise CallRefused(404, "unknown tenant")
            self.guard.take(tenant_id)
            order_no, session_id = parse_open_req(open_req)
        except CallRefused as exc:
            log.warning("179 call for tenant %s from %s refused (%d): %s", tenant_id, source, exc.status, exc)
            return exc.status, {"code": FAILED, "message": str(exc), "serviceTime": service_time}
        outcome = self._record_call(tenant_id, order_no, session_id, source or "")
        if outcome == "queued":
            future = self._executor.submit(self.upload, tenant_id, order_no, session_id)
            with self._lock:
                self._pending.add(future)
            future.add_done_callback(self._done)
        return 200, {"code": OK, "message": "", "serviceTime": service_time}

    def _record_call(self, tenant_id: str, order_no: str, session_id: str, source: str) -> str:
        """queued | duplicate | unknown-order, audited once; the call row makes the upload unique."""
        for _attempt in range(2):
            try:
                with self._uow_factory() as uow:
                    seen = uow.session.scalar(select(Realtime179Call.id).where(
                        Realtime179Call.tenant_id == tenant_id, Realtime179Call.order_no == order_no,
                        Realtime179Call.session_id == session_id))
                    known = uow.session.scalar(select(m.Order.id).where(
                        m.Order.tenant_id == tenant_id, m.Order.order_no == order_no).limit(1))
                    outcome = "duplicate" if seen else ("queued" if known else "unknown-order")
                    if outcome == "queued":
                        uow.session.add(Realtime179Call(tenant_id=tenant_id, order_no=order_no, session_id=session_id,
                                                        source=source[:45], received_at=self._clock.now()))
                    uow.audit.record(tenant_id, "order", order_no, "realtime179.called",
                                     {"session_id": session_id, "outcome": outcome, "source": source})
                    uow.commit()
                    return outcome
            except IntegrityError:      # the same call arrived twice at once: the other one queued it
                continue
        return "duplicate"

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)
        if future.exception() is not None:   # upload() catches its own errors; this is a bug
            log.error("179 upload crashed: %r", future.exception())

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for the queued uploads (tests, shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)

    # ---- building and uploading -----------------------------------------------------------------
    def build(self, tenant_id: str, order_no: str, session_id: str) -> tuple[str, str]:
        """(tenant id, payExInfoStr) for the tenant's ``order_no``; raises PaymentRawInvalid or
        SigningError. Only this tenant's orders are looked at."""
        with self._uow_factory() as uow:
            orders = uow.session.scalars(select(m.Order).where(m.Order.tenant_id == tenant_id,
                                                               m.Order.order_no == order_no)).all()
            if len(orders) != 1:
                raise PaymentRawInvalid(f"order {order_no}: {'not found' if not orders else 'ambiguous'}")
            order = orders[0]
            raw = uow.session.get(m.PaymentRaw, order.id)
            if raw is None:
                raise PaymentRawInvalid(f"order {order_no}: no raw payment data stored (POST /v1/orders/{order.id}/payment-raw)")
            tenant_id, body, extra = order.tenant_id, json.loads(order.body), json.loads(raw.body)
        payment = body.get("payment") or {}
        trading_time = extra["tradingTime"] or _china_compact(payment.get("paid_at"))
        head_items = [
            ("guid", _json(self._ids.new_guid().upper())),
            ("initalRequest", _json(extra["initalRequest"])),
            ("initalResponse", _json(extra["initalResponse"])),
            ("ebpCode", _json((body.get("platform") or {}).get("code", ""))),
            ("payCode", _json((payment.get("company") or {}).get("code", ""))),
            ("payTransactionId", _json(payment.get("transaction_no", ""))),
            ("totalAmount", _decimal_text(payment.get("amount", body.get("actual_paid", "")))),
            ("currency", _json("142")),
            ("verDept", _json(extra["verDept"])),
            ("payType", _json(extra["payType"])),
            ("tradingTime", _json(trading_time)),
            ("note", _json(extra["note"])),
        ]
        head_json = "{" + ",".join(f'"{k}":{v}' for k, v in head_items) + "}"
        lists_json = _json([{"orderNo": order_no, "goodsInfo": extra["goodsInfo"], "recpAccount": extra["recpAccount"],
                             "recpCode": extra["recpCode"], "recpName": extra["recpName"]}])
        service_time = self._ms()
        key = self._key_for(tenant_id)
        key_type = getattr(key, "key_type", None)
        backend = self._backends.get(key_type) if key_type is not None else None
        if backend is None:
            raise SigningError("the 179 upload signs with a software key (key store or gateway key)")
        text = signing_string(session_id, head_json, lists_json, service_time)
        import base64
        sign_value = base64.b64encode(backend.sign(text.encode("utf-8"), key)).decode("ascii")
        cert_no = backend.certificate(key).key_name
        payload = (f'{{"sessionID":{_json(session_id)},"payExchangeInfoHead":{head_json},'
                   f'"payExchangeInfoLists":{lists_json},"serviceTime":{service_time},'
                   f'"certNo":{_json(cert_no)},"signValue":{_json(sign_value)}}}')
        return tenant_id, payload

    def upload(self, tenant_id: str, order_no: str, session_id: str) -> UploadResult:
        """Build, sign and POST; never raises (the outcome is logged and audited)."""
        payload = None
        try:
            if not self.upload_url:
                raise PaymentRawInvalid("no realTimeDataUpload URL configured (GATEWAY_179_UPLOAD_URL)")
            tenant_id, payload = self.build(tenant_id, order_no, session_id)
            response = self._http.post(self.upload_url, data={"payExInfoStr": payload}, timeout=self.timeout)
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            ok = response.status_code == 200 and str(answer.get("code")) == OK
            result = UploadResult(order_no, session_id, ok, payload, response.status_code, response.text,
                                  None if ok else f"customs answered {response.status_code} {response.text[:200]}")
        except Exception as e:   # noqa: BLE001 - an upload failure must be reported, never crash the worker
            result = UploadResult(order_no, session_id, False, payload, None, None, f"{type(e).__name__}: {e}")
        if not result.ok:
            log.error("179 upload of order %s (session %s) failed: %s", order_no, session_id, result.error)
        if tenant_id is not None:
            try:
                with self._uow_factory() as uow:
                    uow.audit.record(tenant_id, "order", order_no, "realtime179.uploaded" if result.ok
                                     else "realtime179.failed",
                                     {"session_id": session_id, "status": result.status, "error": result.error,
                                      "sha256": hashlib.sha256(payload.encode()).hexdigest() if payload else None})
                    uow.commit()
            except Exception:  # noqa: BLE001
                log.exception("179 upload of order %s: audit record failed", order_no)
        return result

    def _ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)


def _china_compact(iso: str | None) -> str:
    if not iso:
        raise PaymentRawInvalid("tradingTime is required (the order has no payment time)")
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        raise PaymentRawInvalid("the order's payment time has no time zone")
    return moment.astimezone(CHINA).strftime("%Y%m%d%H%M%S")
