"""Configuration per tenant and channel: named channels (adapter, options, environment) from a
file, each tenant's filings go out on its channel, and bad configuration is refused at start-up
with a clear error."""
import json

import pytest
from sqlalchemy import select

from gateway.bootstrap import bootstrap
from gateway.config import ConfigError, Settings
from gateway.ports import FixedClock, SequentialIds
from gateway.store import models as m
from tests.helpers import START, add_tenant, fixture_text


def write(tmp_path, data) -> dict:
    path = tmp_path / "channels.json"
    path.write_text(json.dumps(data))
    return {"GATEWAY_CHANNELS_FILE": str(path), "GATEWAY_INSTANCE_DIR": str(tmp_path / "instance")}


def test_each_tenant_uses_its_channel(tmp_path, signing_key):
    env = write(tmp_path, {
        "channels": {"test-window": {"adapter": "sandbox", "environment": "sandbox"},
                     "second-sandbox": {"adapter": "sandbox", "environment": "sandbox"}},
        "tenants": {"4601980BBB": "second-sandbox"},
        "default": "test-window"})
    settings = Settings.from_env(env, database_url=f"sqlite:///{tmp_path}/gw.sqlite3")
    gw = bootstrap(settings, clock=FixedClock(START, 1), ids=SequentialIds(), key=signing_key)
    assert set(gw.adapters) == {"test-window", "second-sandbox"}
    a, _ = add_tenant(gw, "Tenant A", cop_code="4601980AAA")
    b, _ = add_tenant(gw, "Tenant B", cop_code="4601980BBB")
    oa = gw.submit(a, fixture_text("1210-single-line.json"))
    ob = gw.submit(b, fixture_text("9610-minimal.json"))
    with gw.uow_factory() as uow:
        rows = {(r.tenant_id, r.adapter) for r in uow.session.scalars(select(m.OutboxItem))}
    assert rows == {(a, "test-window"), (b, "second-sandbox")}
    gw.dispatcher.run_until_idle()
    assert gw.order(a, oa.order_id)["status"] == "released"
    assert gw.order(b, ob.order_id)["status"] == "released"


@pytest.mark.parametrize("data, message", [
    ({"channels": {"x": {"adapter": "sandbox", "environment": "production"}}}, "cannot be a production channel"),
    ({"channels": {"x": {"adapter": "sandbox", "environment": "staging"}}}, "environment must be sandbox or production"),
    ({"channels": {"x": {"adapter": "sandbox", "environment": "sandbox"}}, "tenants": {"T1": "y"}}, "unknown channel 'y'"),
    ({"channels": {"x": {"adapter": "carrier-pigeon"}}}, "carrier-pigeon"),
    ({"channels": {}}, "non-empty"),
])
def test_bad_channel_files_are_refused_with_a_clear_error(tmp_path, data, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(write(tmp_path, data))


def test_unreadable_channel_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.from_env({"GATEWAY_CHANNELS_FILE": str(tmp_path / "missing.json")})
