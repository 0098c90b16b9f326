"""A client generated from the served OpenAPI document by openapi-python-client (into a temporary
folder, at test time: nothing generated is committed) submits an order to a live `gateway serve`
process, finds it in the order list and reads it back."""
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import fixture_json
from tests.live_server import start, stop


@pytest.fixture
def live(tmp_path):
    server = start(tmp_path / "instance")
    yield server
    stop(server)


@pytest.mark.slow
def test_a_generated_client_submits_lists_and_reads_back_an_order(live, tmp_path, monkeypatch):
    status, _, document = live.call("GET", "/v1/openapi.json")
    assert status == 200
    spec = tmp_path / "openapi.json"
    spec.write_bytes(document)
    generator = Path(sys.executable).with_name("openapi-python-client")
    out = subprocess.run([str(generator), "generate", "--path", str(spec), "--output-path",
                          str(tmp_path / "gateway_client"), "--meta", "none"], capture_output=True, text=True,
                         timeout=300)
    assert (tmp_path / "gateway_client" / "client.py").is_file(), out.stdout + out.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    client_mod = importlib.import_module("gateway_client.client")
    submit = importlib.import_module("gateway_client.api.orders.v1_submit_order")
    search = importlib.import_module("gateway_client.api.orders.v1_search_orders")
    read = importlib.import_module("gateway_client.api.orders.v1_get_order")
    order_model = importlib.import_module("gateway_client.models.cross_border_e_commerce_order")

    client = client_mod.AuthenticatedClient(base_url=live.base, token=live.tenant_key)
    data = fixture_json("1210-single-line.json")
    body = order_model.CrossBorderECommerceOrder.from_dict(data)
    answer = submit.sync_detailed(client=client, body=body, idempotency_key="generated-client-1")
    assert answer.status_code == 201, answer.content
    order_id = answer.parsed.id
    again = submit.sync_detailed(client=client, body=body, idempotency_key="generated-client-1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"

    page = search.sync_detailed(client=client, order_no=data["order_no"], limit=10)
    assert page.status_code == 200
    assert [o.id for o in page.parsed.orders] == [order_id] and page.parsed.next_ is None

    got = read.sync_detailed(client=client, order_id=order_id)
    assert got.status_code == 200
    view = json.loads(got.content)
    assert view["id"] == order_id and view["order_no"] == data["order_no"]
    assert {f["message_type"] for f in view["filings"]} >= {"CEB311Message", "CEB621Message"}
