"""The one settings object (gateway/config/): every variable read through it, each bad value one
line naming the variable and the rule, docs/configuration.md generated from it."""
import re
from dataclasses import fields
from pathlib import Path

import pytest

from gateway.bootstrap import delivery_policy
from gateway.cli.settings import variables_table
from gateway.config import VARIABLES, ConfigError, Settings
from gateway.service.dispatch import DeliveryPolicy

ROOT = Path(__file__).resolve().parents[2]
NUMERIC = [v for v in VARIABLES if v.kind in ("integer", "seconds")]


def test_docs_configuration_holds_the_generated_table():
    doc = (ROOT / "docs" / "configuration.md").read_text("utf-8")
    assert variables_table() in doc, "docs/configuration.md is stale: run `gateway config docs` and paste the table"


def test_every_setting_has_a_variable_and_every_variable_a_setting():
    names = {f.name for f in fields(Settings)}
    by_variable = {v.attr for v in VARIABLES if v.attr} | {"channels", "tenant_channels", "agency_channels", "default_channel"}
    assert names == by_variable
    assert len({v.name for v in VARIABLES}) == len(VARIABLES)


def test_no_module_reads_gateway_variables_but_the_settings():
    readers = []
    for path in (ROOT / "gateway").rglob("*.py"):
        text = path.read_text("utf-8")
        if re.search(r"os\.environ|getenv", text) and path.relative_to(ROOT).as_posix() != "gateway/config/settings.py":
            readers.append(path.relative_to(ROOT).as_posix())
    # keys: the password of a key file, from the variable the operator names (--password-env);
    # dispatch_processes: hands the whole environment on to its child processes (reads no variable);
    # pkcs11: an example in the docstring; server: prometheus_client's PROMETHEUS_MULTIPROC_DIR, which
    # `gateway serve` manages
    assert sorted(readers) == ["gateway/cli/keys.py", "gateway/dispatch_processes.py", "gateway/server.py",
                               "gateway/signing/pkcs11.py"]
    named = {m for path in (ROOT / "gateway").rglob("*.py") for m in re.findall(r"GATEWAY_[A-Z0-9_]+",
                                                                            path.read_text("utf-8"))}
    assert named <= {v.name for v in VARIABLES}, named - {v.name for v in VARIABLES}


@pytest.mark.parametrize("var", NUMERIC, ids=lambda v: v.name)
@pytest.mark.parametrize("bad", ["abc", "-3", "nan", "0"])
def test_a_bad_number_is_one_line_naming_the_variable_and_the_rule(var, bad):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({var.name: bad})
    message = str(caught.value)
    assert message == f"{var.name}: {var.rule} (got {bad!r})"
    assert "\n" not in message


def test_the_example_of_the_issue():
    with pytest.raises(ConfigError, match=re.escape("GATEWAY_DISPATCH_BATCH: must be an integer ≥ 1 (got 'abc')")):
        Settings.from_env({"GATEWAY_DISPATCH_BATCH": "abc"})
    with pytest.raises(ConfigError, match=re.escape("GATEWAY_BREAKER_THRESHOLD: must be an integer ≥ 1 (got '-3')")):
        Settings.from_env({"GATEWAY_BREAKER_THRESHOLD": "-3"})


@pytest.mark.parametrize("name, bad", [("GATEWAY_SIGNATURE", "rsa-md5"), ("GATEWAY_SM2_SIGNATURE", "rsa-sha1"),
                                       ("GATEWAY_SM2_ENCODING", "hex"), ("GATEWAY_SIGNED_INPUT", "everything"),
                                       ("GATEWAY_RECEIPT_SIGNATURES", "sometimes"),
                                       ("GATEWAY_DATABASE_URL", "mysql://h/db"), ("GATEWAY_SM2_USER_ID", "用户"),
                                       ("GATEWAY_BROKER_URL", "http://h")])
def test_a_bad_choice_names_the_variable_and_the_rule(name, bad):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: bad})
    assert str(caught.value).startswith(f"{name}: must ") and repr(bad) in str(caught.value)


def test_values_given_directly_follow_the_same_rules():
    with pytest.raises(ConfigError, match="GATEWAY_DISPATCH_BATCH: must be an integer ≥ 1"):
        Settings(dispatch_batch=0).check()


def test_the_delivery_settings_make_the_dispatchers_policy():
    assert delivery_policy(Settings()) == DeliveryPolicy()          # the defaults agree
    policy = delivery_policy(Settings.from_env({"GATEWAY_DISPATCH_BATCH": "7", "GATEWAY_DISPATCH_LEASE_SECONDS": "90",
                                                "GATEWAY_BREAKER_THRESHOLD": "2", "GATEWAY_RETRY_MAX_SECONDS": "30",
                                                "GATEWAY_WEBHOOK_MAX_ATTEMPTS": "3"}))
    assert (policy.batch_size, policy.lease_seconds, policy.breaker.threshold, policy.breaker.probe_lease_seconds,
            policy.backoff.cap, policy.webhook_max_attempts) == (7, 90.0, 2, 90.0, 30.0, 3)


def test_worker_settings_and_secrets():
    s = Settings.from_env({"GATEWAY_DISPATCH_INTERVAL": "3", "GATEWAY_QUEUE": "q1",
                           "GATEWAY_BROKER_URL": "amqp://u:secret@h//", "GATEWAY_OPERATOR_KEY_SHA256": "ab" * 32})
    assert (s.dispatch_interval, s.task_expiry, s.queue) == (3.0, 30.0, "q1")
    assert Settings(dispatch_interval=0.5).task_expiry == 10.0
    assert "secret" not in repr(s) and "abab" not in repr(s)


@pytest.mark.parametrize("bad", ["abc", "-3", "20", "nan"])
def test_dispatch_niceness_is_0_to_19(bad):
    assert Settings.from_env({"GATEWAY_DISPATCH_NICE": "0"}).dispatch_nice == 0
    assert Settings.from_env({"GATEWAY_DISPATCH_NICE": "19"}).dispatch_nice == 19
    assert Settings().dispatch_nice == 0
    with pytest.raises(ConfigError, match=re.escape(f"GATEWAY_DISPATCH_NICE: must be an integer 0..19 (got {bad!r})")):
        Settings.from_env({"GATEWAY_DISPATCH_NICE": bad})
