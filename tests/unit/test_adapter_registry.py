"""Adapters by name through entry points, options checked before anything connects."""
from __future__ import annotations

import textwrap

import pytest

from gateway.adapters import registry
from gateway.adapters.options import AdapterConfigError
from gateway.adapters.sandbox import SandboxGovernment
from gateway.config import ConfigError, Settings
from gateway.ports import FixedClock, SequentialIds
from tests.helpers import START

BUILTIN = {"sandbox", "http", "soap", "dxp-amqp", "dxp-files"}


def load(name, options=None):
    return registry.load_adapter(name, options or {}, clock=FixedClock(START), ids=SequentialIds())


def test_the_builtin_adapters_are_declared_as_entry_points():
    from importlib.metadata import entry_points

    declared = {ep.name: ep.value for ep in entry_points(group=registry.GROUP)}
    assert BUILTIN <= set(declared)
    assert {name: declared[name] for name in BUILTIN} == {name: registry.BUILTIN[name] for name in BUILTIN}


def test_an_unknown_adapter_is_named_with_the_known_ones():
    with pytest.raises(registry.UnknownAdapter) as caught:
        load("carrier-pigeon")
    text = str(caught.value)
    assert "'carrier-pigeon'" in text
    assert all(name in text for name in BUILTIN)


def test_the_default_is_the_in_process_sandbox_and_takes_a_script():
    sandbox = load("sandbox", {"script": {"transport_error": 2}})
    assert isinstance(sandbox, SandboxGovernment) and sandbox.script.to_dict()["transport_error"] == 2
    with pytest.raises(AdapterConfigError, match="unknown sandbox script keys"):
        load("sandbox", {"script": {"explode": True}})


def test_every_builtin_adapter_loads_with_valid_options(tmp_path):
    options = {"sandbox": {}, "http": {"base_url": "http://127.0.0.1:9"}, "soap": {"endpoint": "http://127.0.0.1:9/s"},
               "dxp-amqp": {"url": "amqp://guest:guest@127.0.0.1:9//"},
               "dxp-files": {"outbox": str(tmp_path / "o"), "inbox": str(tmp_path / "i")}}
    for name in BUILTIN:
        adapter = load(name, options[name])              # nothing connects while building
        assert all(callable(getattr(adapter, m)) for m in ("send", "lookup", "fetch_receipts", "health"))


def test_a_third_party_adapter_is_found_through_its_entry_point(tmp_path, monkeypatch):
    (tmp_path / "pigeon_adapter.py").write_text(textwrap.dedent("""
        class Pigeon:
            name = "pigeon"
            def __init__(self, options, clock, ids): self.options = options
            def send(self, message): ...
            def lookup(self, message_id): ...
            def fetch_receipts(self, since): return []
            def health(self): return {"ok": True}

        def create(options, *, clock, ids):
            return Pigeon(options, clock, ids)

        def check(options):
            if "loft" not in options:
                from gateway.adapters.options import AdapterConfigError
                raise AdapterConfigError("pigeon needs a loft")

        create.check_options = check
    """))
    info = tmp_path / "pigeon_adapter-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pigeon-adapter\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[gateway.adapters]\npigeon = pigeon_adapter:create\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "pigeon" in registry.known_adapters()
    adapter = load("pigeon", {"loft": "roof"})
    assert type(adapter).__name__ == "Pigeon" and adapter.options == {"loft": "roof"}
    with pytest.raises(AdapterConfigError, match="needs a loft"):
        registry.check_options("pigeon", {})


def test_settings_read_adapter_options_from_the_environment(tmp_path):
    env = {"GATEWAY_ADAPTER": "http", "GATEWAY_ADAPTER_OPTIONS": '{"base_url": "http://127.0.0.1:8090", "read_timeout": 7}'}
    settings = Settings.from_env(env, instance_dir=tmp_path)
    assert settings.adapter == "http" and settings.adapter_options["read_timeout"] == 7
    path = tmp_path / "adapter.json"
    path.write_text('{"outbox": "/tmp/o", "inbox": "/tmp/i"}')
    settings = Settings.from_env({"GATEWAY_ADAPTER": "dxp-files", "GATEWAY_ADAPTER_OPTIONS_FILE": str(path)},
                                 instance_dir=tmp_path)
    assert settings.adapter_options == {"outbox": "/tmp/o", "inbox": "/tmp/i"}


@pytest.mark.parametrize("env, message", [
    ({"GATEWAY_ADAPTER": "telex"}, "unknown adapter 'telex'"),
    ({"GATEWAY_ADAPTER": "http"}, "base_url is required"),
    ({"GATEWAY_ADAPTER": "http", "GATEWAY_ADAPTER_OPTIONS": "{nope"}, "not valid JSON"),
    ({"GATEWAY_ADAPTER": "http", "GATEWAY_ADAPTER_OPTIONS": "[]"}, "must be a JSON object"),
    ({"GATEWAY_ADAPTER": "soap", "GATEWAY_ADAPTER_OPTIONS": '{"endpoint": "http://h/s", "read_timeout": "fast"}'},
     "read_timeout must be a number of seconds"),
    ({"GATEWAY_ADAPTER": "dxp-amqp", "GATEWAY_ADAPTER_OPTIONS": '{"url": "http://h"}'}, "url must be a amqp"),
    ({"GATEWAY_ADAPTER_OPTIONS_FILE": "/nonexistent/adapter.json"}, "cannot read"),
])
def test_bad_adapter_settings_are_refused_clearly(env, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env, instance_dir=tmp_path)
