"""The HTTP side of webhooks: POST one signed JSON body to a vetted address, report what came back.

Before every POST the URL is vetted again by the egress policy (``gateway.egress``): its host is
resolved now and every address checked; the poster then connects to one of exactly those
addresses (never resolving again), checks the peer address of the connected socket, and speaks
HTTP (or TLS with the URL's host name for SNI and certificate checks) over that socket. Redirects
are not followed (a 3xx is a failed attempt: a webhook URL must answer itself); at most 4 KiB of
the answer is read.

What went wrong is logged for the operator; the result carries only the status, or None when
nothing answered (the tenant sees "unreachable", never a socket error: no port-scan oracle).
"""
from __future__ import annotations

import http.client
import logging
import socket
import ssl

from gateway.egress import EgressPolicy, EgressRefused, Target
from gateway.ports import PostResult

log = logging.getLogger("gateway.webhooks")


class HttpWebhookPoster:
    def __init__(self, policy: EgressPolicy | None = None, ssl_context: ssl.SSLContext | None = None,
                 connect=socket.create_connection) -> None:
        """``connect((address, port), timeout=)`` opens the TCP connection (tests pass a fence that
        lets only 127.0.0.0/8 through)."""
        self.policy = policy or EgressPolicy()
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.connect = connect

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> PostResult:
        try:
            target = self.policy.vet(url)
        except EgressRefused as exc:
            log.warning("webhook POST to %s refused by the egress policy: %s", url, exc)
            return PostResult(None, "refused")
        try:
            sock = self._connect(target, timeout)
        except (OSError, EgressRefused) as exc:
            log.info("webhook POST to %s: no connection: %s", url, exc)
            return PostResult(None, "unreachable")
        try:
            conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
            conn.sock = sock
            conn.request("POST", target.path, body=body, headers=headers)
            response = conn.getresponse()
            return PostResult(response.status, None, response.read(4096))
        except (OSError, http.client.HTTPException) as exc:
            log.info("webhook POST to %s: no answer: %s", url, exc)
            return PostResult(None, "unreachable")
        finally:
            sock.close()

    def _connect(self, target: Target, timeout: float) -> socket.socket:
        last: Exception = OSError("no address")
        for address in target.addresses:
            try:
                sock = self.connect((address, target.port), timeout=timeout)
            except OSError as exc:
                last = exc
                continue
            try:
                self.policy.check_address(sock.getpeername()[0], target.port)   # the address actually connected to
                if target.scheme == "https":
                    sock = self.ssl_context.wrap_socket(sock, server_hostname=target.host)
            except BaseException:
                sock.close()
                raise
            return sock
        raise last
