"""Pure parts of delivery: which receipts apply, how send outcomes are classified, cool-downs,
webhook signatures and URLs."""
import pytest

from gateway.domain import status as st
from gateway.ports import SendResult
from gateway.service.delivery.breaker import BreakerPolicy
from gateway.service.delivery.receipts import should_apply
from gateway.service.delivery.sender import Outcome, classify
from gateway.service.delivery.webhooks import WebhookInvalid, check_url, sign, verify_signature


@pytest.mark.parametrize("current, current_time, current_code, new, new_time, new_code, applies", [
    (st.SENT, None, None, st.DECLARED, "20261120100000000", "2", True),          # higher rank
    (st.ACCEPTED, "20261120100500000", "120", st.DECLARED, "20261120110000000", "2", False),   # lower rank, newer
    (st.DECLARED, "20261120100000000", "2", st.ACCEPTED, "20261120090000000", "120", True),    # higher rank, older
    (st.REVIEW, "20261120100000000", "300", st.REVIEW, "20261120100001000", "500", True),     # same rank, newer
    (st.REVIEW, "20261120100001000", "500", st.REVIEW, "20261120100000000", "300", False),    # same rank, older
    (st.REVIEW, "20261120100000000", "500", st.REVIEW, "20261120100009000", "500", False),    # same code again
    (st.REVIEW, "20261120100000000", "300", st.REVIEW, "", "500", False),                     # no time: not newer
    (st.REJECTED, "20261120100000000", "100", st.RELEASED, "20261120120000000", "800", False),  # final
    (st.RETURNED, None, "700", st.RELEASED, "20261120120000000", "800", False),
])
def test_receipts_apply_by_rank_then_by_time(current, current_time, current_code, new, new_time, new_code, applies):
    assert should_apply(current, current_time, current_code, new, new_time, new_code) is applies


@pytest.mark.parametrize("result, outcome", [
    (SendResult("m", accepted=True), Outcome.SENT),
    (SendResult("m", accepted=True, duplicate=True), Outcome.DUPLICATE),
    (SendResult("m", accepted=False, duplicate=True), Outcome.DUPLICATE),
    (SendResult("m", accepted=False, retryable=True, error="503"), Outcome.RETRY),
    (SendResult("m", accepted=False, retryable=True, unknown=True, error="read timeout"), Outcome.UNKNOWN),
    (SendResult("m", accepted=False, retryable=False, error="HTTP 400"), Outcome.BLOCKING),
])
def test_send_outcomes_are_classified(result, outcome):
    assert classify(result) is outcome


def test_the_cool_down_doubles_per_failed_probe_up_to_the_cap():
    policy = BreakerPolicy(cooldown_seconds=30, max_cooldown_seconds=600)
    assert [policy.cooldown(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 600, 600]
    assert policy.cooldown(10_000) == 600


def test_webhook_signature_is_the_standard_webhooks_hmac_of_id_timestamp_and_body():
    import base64
    import hashlib
    import hmac

    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = '{"id":"E1","data":{"to":"released","info":"放行"}}'.encode()
    signature = sign(secret, "E1", 1796000000, body)
    # an independent computation of the same value (standardwebhooks.com: id.timestamp.body)
    mac = hmac.new(b"k" * 32, b"E1.1796000000." + body, hashlib.sha256).digest()
    assert signature == "v1," + base64.b64encode(mac).decode()
    headers = {"webhook-id": "E1", "webhook-timestamp": "1796000000", "webhook-signature": signature}
    assert verify_signature(secret, body, headers)
    assert verify_signature(secret, body, headers, now=1796000100)
    assert not verify_signature(secret, body, headers, now=1796000000 + 301)       # too old: a replay
    assert not verify_signature(secret, body, {**headers, "webhook-timestamp": "1796000001"})
    assert not verify_signature("whsec_" + base64.b64encode(b"x" * 32).decode(), body, headers)
    assert not verify_signature(secret, body + b" ", headers)
    assert not verify_signature(secret, body, {})


@pytest.mark.parametrize("url, ok", [
    ("https://erp.example.com/hooks/gateway", True),
    ("http://127.0.0.1:8080/x", True),
    ("ftp://example.com/x", False),
    ("/relative/path", False),
    ("https://user:secret@example.com/x", False),
    ("https://" + "a" * 2000 + ".com/", False),
    ("", False),
    (None, False),
])
def test_webhook_urls_are_checked(url, ok):
    if ok:
        assert check_url(url) == url
    else:
        with pytest.raises(WebhookInvalid):
            check_url(url)
