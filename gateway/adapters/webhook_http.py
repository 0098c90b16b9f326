"""The HTTP side of webhooks: POST one signed JSON body, report what came back.

Plain urllib with a timeout; redirects are not followed (a redirect is reported as a failed
attempt: a webhook URL must answer itself), and at most 4 KiB of the answer is kept.
"""
from __future__ import annotations

import socket
import urllib.error
import urllib.request

from gateway.ports import PostResult


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class HttpWebhookPoster:
    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirect)

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> PostResult:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=timeout) as response:
                return PostResult(response.status, None, response.read(4096))
        except urllib.error.HTTPError as exc:
            return PostResult(exc.code, f"HTTP {exc.code} {exc.reason}", exc.read(4096) if exc.fp else b"")
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return PostResult(None, f"{type(reason).__name__}: {reason}")
