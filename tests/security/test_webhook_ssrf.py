"""Issue 9, item 5: webhooks without SSRF.

Hostile URLs are refused when registered and again when delivered (after resolution, on the
address actually connected to, no redirects); the tenant's delivery log says only "delivered",
"failed (status N)" or "unreachable"; the signature covers the timestamp (Standard Webhooks);
subscriptions by event type; one registration per URL.

No packet leaves 127.0.0.0/8: host names are answered by a fake resolver, and every poster here
connects through a fence that lets only loopback through and records any other attempt.
"""
from __future__ import annotations

import ipaddress
import json
import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import standardwebhooks

from gateway.adapters.webhook_http import HttpWebhookPoster
from gateway.api import create_app
from gateway.egress import EgressPolicy, EgressRefused
from gateway.store import models as m
from tests.delivery_helpers import WebhookReceiver, drive, line_gateway
from tests.helpers import add_tenant, fixture_text

PUBLIC = "93.184.215.14"

# host name -> what the fake DNS answers (an exception: no answer)
DNS = {
    "public.example.com": [PUBLIC],
    "internal.example.com": ["10.1.2.3"],
    "mixed.example.com": [PUBLIC, "127.0.0.1"],
    "localtest.me": ["127.0.0.1"],
    "metadata-alias.example.com": ["169.254.169.254"],
    "v6-loop.example.com": ["::1"],
    "v6-mapped.example.com": ["::ffff:10.0.0.1"],
    "cgnat.example.com": ["100.64.12.1"],
    "nxdomain.example.com": OSError("Name or service not known"),
}

# (what it tries, url)
HOSTILE = [
    ("loopback literal", "http://127.0.0.1/"),
    ("loopback on a web port", "http://127.0.0.1:8080/hook"),
    ("localhost", "http://localhost/"),
    ("localhost with trailing dot", "http://localhost./"),
    ("IPv6 loopback [::1]", "http://[::1]/"),
    ("IPv6 loopback long form", "http://[0:0:0:0:0:0:0:1]/"),
    ("0.0.0.0", "http://0.0.0.0/"),
    ("IPv6 unspecified [::]", "http://[::]/"),
    ("decimal IP 2130706433", "http://2130706433/"),
    ("hex IP 0x7f000001", "http://0x7f000001/"),
    ("octal IP 0177.0.0.1", "http://0177.0.0.1/"),
    ("mixed hex 0x7f.0.0.1", "http://0x7f.0.0.1/"),
    ("short form 127.1", "http://127.1/"),
    ("zero-padded 127.000.000.001", "http://127.000.000.001/"),
    ("decimal zero http://0/", "http://0/"),
    ("IPv4-mapped [::ffff:127.0.0.1]", "http://[::ffff:127.0.0.1]/"),
    ("IPv4-mapped hex [::ffff:7f00:1]", "http://[::ffff:7f00:1]/"),
    ("IPv4-mapped metadata [::ffff:169.254.169.254]", "http://[::ffff:169.254.169.254]/"),
    ("IPv4-compatible [::127.0.0.1]", "http://[::127.0.0.1]/"),
    ("6to4 of 127.0.0.1 [2002:7f00:1::]", "http://[2002:7f00:1::]/"),
    ("NAT64 of 169.254.169.254", "http://[64:ff9b::a9fe:a9fe]/"),
    ("AWS/GCP metadata 169.254.169.254", "http://169.254.169.254/latest/meta-data/"),
    ("metadata.google.internal", "http://metadata.google.internal/computeMetadata/v1/"),
    ("bare 'metadata'", "http://metadata/"),
    ("Alibaba metadata 100.100.100.200 (CGNAT)", "http://100.100.100.200/latest/meta-data/"),
    ("CGNAT 100.64.0.1", "http://100.64.0.1/"),
    ("private 10/8", "http://10.0.0.1/"),
    ("private 172.16/12", "http://172.16.0.1/"),
    ("private 192.168/16", "http://192.168.1.1/"),
    ("IPv6 ULA [fd00::1]", "http://[fd00::1]/"),
    ("IPv6 link-local [fe80::1]", "http://[fe80::1]/"),
    ("IPv6 zone id [fe80::1%25eth0]", "http://[fe80::1%25eth0]/"),
    ("multicast 224.0.0.1", "http://224.0.0.1/"),
    ("IPv6 multicast [ff02::1]", "http://[ff02::1]/"),
    ("reserved 240.0.0.1", "http://240.0.0.1/"),
    ("broadcast 255.255.255.255", "http://255.255.255.255/"),
    ("benchmark 198.18.0.1", "http://198.18.0.1/"),
    ("IETF 192.0.0.1", "http://192.0.0.1/"),
    ("name resolving to private", "http://internal.example.com/"),
    ("name resolving to public and loopback", "http://mixed.example.com/"),
    ("name resolving to loopback (localtest.me)", "http://localtest.me/"),
    ("name resolving to metadata", "http://metadata-alias.example.com/"),
    ("name resolving to IPv6 loopback", "http://v6-loop.example.com/"),
    ("name resolving to IPv4-mapped private", "http://v6-mapped.example.com/"),
    ("name resolving to CGNAT", "http://cgnat.example.com/"),
    ("name that does not resolve", "http://nxdomain.example.com/"),
    ("cluster-internal name", "http://api.default.svc.cluster.local/"),
    ("mDNS .local name", "http://printer.local/"),
    ("odd port 22 on a public host", "http://public.example.com:22/"),
    ("odd port 6379 on a public host", "http://public.example.com:6379/"),
    ("odd port 25 on a public IP", f"http://{PUBLIC}:25/"),
    ("credentials in the URL", "http://user:pw@public.example.com/"),
    ("userinfo trick public@127.0.0.1", "http://public.example.com@127.0.0.1/"),
    ("gopher scheme", "gopher://127.0.0.1:25/"),
    ("file scheme", "file:///etc/passwd"),
]


def fake_resolver(host: str, port: int) -> list[str]:
    answer = DNS.get(host)
    if answer is None:
        raise OSError(f"fake DNS has no {host}")
    if isinstance(answer, Exception):
        raise answer
    return list(answer)


class Fence:
    """``connect`` for the poster: real connections to 127.0.0.0/8 only; anything else is recorded
    and refused before a packet is sent. ``redirect``: connect to this loopback (host, port)
    instead (a NAT in front of the name's address)."""

    def __init__(self, redirect: tuple[str, int] | None = None):
        self.calls: list[tuple[str, int]] = []
        self.outside: list[tuple[str, int]] = []
        self.redirect = redirect

    def __call__(self, address, timeout=None):
        host, port = address
        self.calls.append((host, port))
        if self.redirect is not None:
            return socket.create_connection(self.redirect, timeout=timeout)
        if ipaddress.ip_address(host) not in ipaddress.ip_network("127.0.0.0/8"):
            self.outside.append((host, port))
            raise OSError("fenced: not sent")
        return socket.create_connection(address, timeout=timeout)


class Server:
    """A loopback HTTP server answering every POST with ``status`` (and ``headers``)."""

    def __init__(self, status=200, headers=None, host="127.0.0.1"):
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, host="127.0.0.1", path="/hook") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def strict(**kw) -> EgressPolicy:
    return EgressPolicy(resolver=fake_resolver, **kw)


# ---- registration --------------------------------------------------------------------------------
def test_every_hostile_url_is_refused_at_registration_and_nothing_is_stored(tmp_path, signing_key):
    gw, _line, _clock = line_gateway(tmp_path, f"sqlite:///{tmp_path}/g.sqlite3", signing_key, allow=(),
                                     resolver=fake_resolver)
    _tenant, key = add_tenant(gw)
    client = create_app(gw).test_client()
    accepted, leaky = [], []
    for what, url in HOSTILE:
        response = client.post("/v1/webhooks", json={"url": url}, headers=bearer(key))
        if response.status_code != 422:
            accepted.append((what, url, response.status_code))
        elif any(w in text for text in (response.json["detail"], *(p["message"] for p in response.json["problems"]))
                 for w in ("Errno", "refused", "timed out", "not known")):
            leaky.append((what, response.json["detail"]))
    assert accepted == [], f"{len(accepted)} of {len(HOSTILE)} hostile URLs registered: {accepted}"
    assert leaky == []
    assert client.get("/v1/webhooks", headers=bearer(key)).json["webhooks"] == []
    assert len(HOSTILE) >= 36
    # the same gateway takes a public URL on a web port (resolved by the fake DNS, never contacted)
    ok = client.post("/v1/webhooks", json={"url": "https://public.example.com/hooks"}, headers=bearer(key))
    assert ok.status_code == 201, ok.json


def test_the_policy_refuses_each_hostile_url_and_passes_public_ones():
    policy = strict()
    passed = []
    for what, url in HOSTILE:
        try:
            policy.vet(url)
            passed.append(what)
        except EgressRefused:
            pass
    assert passed == []
    for url in ("https://public.example.com/x", f"http://{PUBLIC}/", f"https://{PUBLIC}:8443/a?b=c",
                "http://[2606:4700:4700::1111]/"):
        assert policy.vet(url).addresses


def test_the_allow_list_admits_loopback_only_when_set():
    with pytest.raises(EgressRefused):
        strict().vet("http://127.0.0.1:5000/hook")
    loop = EgressPolicy.from_networks(["127.0.0.0/8"], fake_resolver)
    assert loop.vet("http://127.0.0.1:5000/hook").addresses == ("127.0.0.1",)
    with pytest.raises(EgressRefused):
        loop.vet("http://10.0.0.1/")                 # the allow-list opens 127/8, nothing else
    with pytest.raises(EgressRefused):
        loop.vet("http://2130706433:5000/")            # nor a disguised form of it


# ---- delivery ------------------------------------------------------------------------------------
def test_every_hostile_url_is_refused_again_at_delivery_without_a_connection():
    fence = Fence()
    poster = HttpWebhookPoster(strict(), connect=fence)
    answered = []
    for what, url in HOSTILE:
        res = poster.post(url, b"{}", {"Content-Type": "application/json"}, 2.0)
        if res.status is not None:
            answered.append((what, res.status))
    assert answered == []
    assert fence.calls == [] and fence.outside == []


def test_dns_rebinding_between_registration_and_delivery_is_refused(tmp_path, signing_key):
    """The name resolves to a public address when registered, to loopback (where something
    listens) when delivered: the poster re-resolves, refuses, never connects."""
    target = Server()
    answers = {"rebind.example.com": [PUBLIC]}
    policy = EgressPolicy(resolver=lambda host, port: list(answers[host]), ports=frozenset({target.port}))
    fence = Fence()
    try:
        gw, _line, clock = line_gateway(tmp_path, f"sqlite:///{tmp_path}/g.sqlite3", signing_key, allow=(),
                                        webhook_poster=HttpWebhookPoster(policy, connect=fence))
        gw.egress = policy
        tenant, key = add_tenant(gw)
        client = create_app(gw).test_client()
        hook = client.post("/v1/webhooks", json={"url": f"http://rebind.example.com:{target.port}/h"},
                           headers=bearer(key))
        assert hook.status_code == 201, hook.json
        answers["rebind.example.com"] = ["127.0.0.1"]          # the attacker's DNS flips
        gw.submit(tenant, fixture_text("1210-single-line.json"))
        gw.dispatcher.run_once()
        log = client.get(f"/v1/webhooks/{hook.json['id']}/deliveries", headers=bearer(key)).json["deliveries"]
        assert log and all(a["error"] == "unreachable" for d in log for a in d["log"])
        assert target.requests == [] and fence.calls == []
    finally:
        target.close()


def test_the_address_actually_connected_to_is_checked():
    """The name's address is allowed (127.0.0.2), but the connection lands on 127.0.0.1 (a NAT,
    a proxy): the peer address is checked and the request is not sent."""
    target = Server()
    try:
        policy = EgressPolicy.from_networks(["127.0.0.2/32"], lambda host, port: ["127.0.0.2"])
        poster = HttpWebhookPoster(policy, connect=Fence(redirect=("127.0.0.1", target.port)))
        res = poster.post(f"http://peer.example.com:{target.port}/h", b"{}", {}, 2.0)
        assert res.status is None and target.requests == []
    finally:
        target.close()


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "INTERNAL"])
def test_redirects_are_not_followed(location):
    internal = Server()
    hop = Server(status=302, headers={"Location": internal.url() if location == "INTERNAL" else location})
    try:
        fence = Fence()
        poster = HttpWebhookPoster(EgressPolicy.from_networks(["127.0.0.0/8"], fake_resolver), connect=fence)
        res = poster.post(hop.url(), b"{}", {}, 2.0)
        assert res.status == 302
        assert len(hop.requests) == 1 and internal.requests == []
        assert fence.calls == [("127.0.0.1", hop.port)] and fence.outside == []
    finally:
        hop.close()
        internal.close()


def test_the_delivery_log_shows_only_delivered_failed_status_or_unreachable(tmp_path, db_url, signing_key):
    failing = Server(status=500)
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()                                    # nothing listens there: connection refused
    try:
        gw, _line, clock = line_gateway(tmp_path, db_url, signing_key)
        tenant, key = add_tenant(gw)
        client = create_app(gw).test_client()
        hooks = [client.post("/v1/webhooks", json={"url": u}, headers=bearer(key)).json["id"]
                 for u in (failing.url(), f"http://127.0.0.1:{dead_port}/h")]
        gw.submit(tenant, fixture_text("1210-single-line.json"))
        gw.dispatcher.run_once()
        seen = set()
        for hook_id in hooks:
            text = client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=bearer(key)).get_data(as_text=True)
            for word in ("Errno", "refused", "Connection", "Timeout", "URLError", "OSError"):
                assert word not in text
            for d in json.loads(text)["deliveries"]:
                seen |= {a["error"] for a in d["log"]} | {d["last_error"]}
        assert seen == {"failed (status 500)", "unreachable"}
    finally:
        failing.close()


# ---- signature, subscriptions, one URL -----------------------------------------------------------
def test_the_timestamp_is_signed_with_the_body(tmp_path, signing_key):
    receiver = WebhookReceiver()
    try:
        gw, _line, clock = line_gateway(tmp_path, f"sqlite:///{tmp_path}/g.sqlite3", signing_key)
        tenant, key = add_tenant(gw)
        hook = create_app(gw).test_client().post("/v1/webhooks", json={"url": receiver.url},
                                                 headers=bearer(key)).json
        receiver.secret = hook["secret"]
        gw.submit(tenant, fixture_text("1210-single-line.json"))
        gw.dispatcher.run_once()
        r = receiver.accepted()[0]
        headers = {k.lower(): v for k, v in r.headers.items()}
        wh = standardwebhooks.Webhook(hook["secret"])
        stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=UTC)
        assert headers["webhook-signature"] == wh.sign(headers["webhook-id"], stamp, r.body)
        # a replay with a fresh timestamp does not verify (the package checks against the wall clock)
        now = int(datetime.now(UTC).timestamp())
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            wh.verify(r.body, {**headers, "webhook-timestamp": str(now)})
        forged = wh.sign(headers["webhook-id"], datetime.fromtimestamp(now, tz=UTC), r.body)
        assert wh.verify(r.body, {**headers, "webhook-timestamp": str(now), "webhook-signature": forged})
    finally:
        receiver.close()


def test_subscriptions_by_event_type_and_one_registration_per_url(tmp_path, db_url, signing_key):
    receiver = WebhookReceiver()
    try:
        gw, _line, clock = line_gateway(tmp_path, db_url, signing_key)
        tenant, key = add_tenant(gw)
        client = create_app(gw).test_client()
        hook = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["order.status_changed"]},
                           headers=bearer(key))
        assert hook.status_code == 201 and hook.json["events"] == ["order.status_changed"]
        again = client.post("/v1/webhooks", json={"url": receiver.url}, headers=bearer(key))
        assert again.status_code == 409
        same_url_other_case = receiver.url.replace("http://", "HTTP://")
        assert client.post("/v1/webhooks", json={"url": same_url_other_case}, headers=bearer(key)).status_code == 409
        assert client.post("/v1/webhooks", json={"url": receiver.url + "x", "events": ["nope"]},
                           headers=bearer(key)).status_code == 422
        receiver.secret = hook.json["secret"]
        gw.submit(tenant, fixture_text("1210-single-line.json"))
        drive(gw, clock)
        gw.dispatcher.run_once()
        types = {r.event["type"] for r in receiver.accepted()}
        assert types == {"order.status_changed"}
        with gw.uow_factory() as uow:
            assert {d.event_type for d in uow.session.query(m.WebhookDelivery)} == {"order.status_changed"}
        assert client.delete(f"/v1/webhooks/{hook.json['id']}", headers=bearer(key)).status_code == 204
        assert client.post("/v1/webhooks", json={"url": receiver.url}, headers=bearer(key)).status_code == 201
    finally:
        receiver.close()
