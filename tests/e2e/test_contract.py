"""The OpenAPI contract against a live `gateway serve` process on 127.0.0.1: schemathesis generates
requests for every operation of the served /v1/openapi.json (a bounded number of examples each,
GATEWAY_CONTRACT_EXAMPLES, default 2: the suite must stay under 15 minutes on a 2-core machine), authenticated with a tenant key, and checks every answer:
no 5xx, the documented status codes, content types and response schemas. No failure is allowed.
The counts are printed (pytest -s) for the record."""
import os

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.runner import events, from_schema

from tests.helpers import fixture_text
from tests.live_server import start, stop

EXAMPLES = int(os.environ.get("GATEWAY_CONTRACT_EXAMPLES", "2"))
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance)


@pytest.fixture
def live(tmp_path):
    server = start(tmp_path / "instance")
    try:
        status, _, _ = server.call("POST", "/v1/orders", fixture_text("1210-single-line.json").encode())
        assert status == 201      # something to list and read
        yield server
    finally:
        stop(server)


@pytest.mark.slow
def test_schemathesis_finds_no_failure_against_the_live_server(live):
    schemathesis.experimental.OPEN_API_3_1.enable()
    schema = schemathesis.from_uri(f"{live.base}/v1/openapi.json", base_url=live.base)
    # registering a webhook makes the server resolve the generated host name with the system's DNS, off
    # this machine: that operation is fuzzed in process with a fake resolver (tests/integration/test_fuzz_api.py,
    # tests/security/test_webhook_ssrf.py), not here
    schema = schema.exclude(path="/v1/webhooks", method="POST")
    runner = from_schema(schema, checks=CHECKS, headers={"Authorization": f"Bearer {live.tenant_key}"},
                         request_timeout=30_000,
                         hypothesis_settings=hypothesis.settings(max_examples=EXAMPLES, deadline=None,
                                                                 derandomize=True, database=None,
                                                                 suppress_health_check=list(hypothesis.HealthCheck)))
    operations, examples, failures, errors, timings = 0, 0, [], [], []
    for event in runner.execute():
        if isinstance(event, events.AfterExecution):
            operations += 1
            timings.append((round(event.elapsed_time, 1), event.verbose_name))
            examples += sum(1 for c in event.result.checks if c.name == "not_a_server_error")
            failures += [f"{event.verbose_name}: {c.name}: {c.message} (got {c.response.status_code} "
                         f"{c.response.headers.get('Content-Type')}: {c.response.body[:300]!r})"
                         if c.response is not None else f"{event.verbose_name}: {c.name}: {c.message}"
                         for c in event.result.checks if c.value.name == "failure"]
            errors += [f"{event.verbose_name}: {e.exception}" for e in event.result.errors]
        elif isinstance(event, events.Finished):
            assert not event.generic_errors, event.generic_errors
    print(f"\nschemathesis: {operations} operations, {examples} examples, {len(failures)} failures; slowest:",
          sorted(timings, reverse=True)[:5])
    assert operations >= 30 and not any(name == "POST /v1/webhooks" for _, name in timings)
    assert not errors, "\n".join(errors[:20])
    assert not failures, "\n".join(sorted(set(failures))[:40])


def test_the_live_server_names_no_software_version(live):
    status, headers, _ = live.call("GET", "/v1/openapi.json")
    assert status == 200 and headers.get("Server") in ("gateway", "gunicorn")      # a name, no version
    status, headers, _ = live.call("GET", "/v1/orders", headers={"Authorization": "Bearer wrong"})
    assert status == 401 and headers.get("Server") in ("gateway", "gunicorn") and headers["WWW-Authenticate"].startswith("Bearer")


def test_a_request_gunicorn_cannot_parse_is_answered_with_problem_json(live):
    import json
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(live.base)
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(b"GET /v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n")
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"Content-Type: application/problem+json" in head
    answer = json.loads(body)
    assert answer["status"] == 400 and answer["type"].endswith("/malformed-request") and answer["detail"]
