"""The ``gateway`` command line as a whole (gateway/cli/): help, version, one error style and exit
codes, the one configuration read by serve, dispatch, the worker and declare, and ``tax quote`` on
every fixture of every format."""
import base64
import json
import os
import subprocess
import sys

import pytest
from lxml import etree

from gateway.cli import main
from tests.helpers import ROOT

GATEWAY = [sys.executable, "-m", "gateway.cli"]
FIXTURES = ROOT / "fixtures" / "orders"
EVERY_FORMAT = sorted([*FIXTURES.glob("valid/*.json"), *FIXTURES.glob("export/valid/*.json"),
                       *FIXTURES.glob("general/valid/*.json")])
DSIG = "{http://www.w3.org/2000/09/xmldsig#}"


def run(args, tmp_path, timeout=120, **env):
    environment = {**os.environ, "GATEWAY_INSTANCE_DIR": str(tmp_path / "instance"),
                   "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path}/gw.sqlite3", **env}
    return subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=timeout)


def test_gateway_alone_prints_the_help_and_version(tmp_path):
    alone = run(GATEWAY, tmp_path)
    assert alone.returncode == 0 and "Usage: gateway" in alone.stdout
    for command in ("declare", "serve", "dispatch", "audit", "keys", "tax", "sandbox", "config"):
        assert f"  {command} " in alone.stdout
    version = run([*GATEWAY, "--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("gateway, version ")


@pytest.mark.parametrize("args, message", [
    (["frobnicate"], "error: No such command 'frobnicate'."),
    (["declare"], "error: Missing argument 'ORDER'."),
    (["tax", "quote", "x.json", "--date", "yesterday"], "error: Invalid value for '--date': 'yesterday' is not a date"),
    (["tax", "quote", "missing.json"], "error: tax quote: cannot read missing.json"),
])
def test_bad_usage_is_one_error_line_and_exit_2(tmp_path, capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


@pytest.mark.parametrize("variable, value", [("GATEWAY_DISPATCH_BATCH", "abc"), ("GATEWAY_BREAKER_THRESHOLD", "-3")])
def test_serve_refuses_a_bad_delivery_setting_exactly_as_dispatch_run_does(tmp_path, variable, value):
    expected = f"error: {variable}: must be an integer ≥ 1 (got {value!r})\n"
    for command in (["serve", "--port", "0"], ["dispatch", "run", "--until-idle"]):
        r = run([*GATEWAY, *command], tmp_path, **{variable: value})
        assert (r.returncode, r.stderr, r.stdout) == (2, expected, ""), command
    assert not (tmp_path / "gw.sqlite3").exists()           # refused before anything was created


def test_the_worker_refuses_a_bad_setting_in_one_line(tmp_path):
    r = run([sys.executable, "-c", "import gateway.worker"], tmp_path, GATEWAY_DISPATCH_INTERVAL="soon")
    assert r.returncode == 1
    assert r.stderr == "error: GATEWAY_DISPATCH_INTERVAL: must be a number ≥ 0.01 (got 'soon')\n"


def test_config_check_and_docs(tmp_path):
    ok = run([*GATEWAY, "config", "check"], tmp_path, GATEWAY_KEYSTORE_KEY="c2VjcmV0")
    assert ok.returncode == 0 and ok.stdout.endswith("configuration ok\n")
    assert "GATEWAY_DISPATCH_BATCH=100" in ok.stdout and "c2VjcmV0" not in ok.stdout
    docs = run([*GATEWAY, "config", "docs"], tmp_path)
    assert docs.returncode == 0 and "| `GATEWAY_DISPATCH_BATCH` | integer | 100 | must be an integer ≥ 1 |" in docs.stdout


def _signature(folder):
    root = etree.parse(str(folder / "CEB311Message.xml")).getroot()
    method = root.find(f".//{DSIG}SignatureMethod").get("Algorithm")
    digest = root.find(f".//{DSIG}DigestMethod").get("Algorithm")
    value = base64.b64decode(root.find(f".//{DSIG}SignatureValue").text)
    return method, digest, value


def test_declare_signs_as_the_settings_say(tmp_path, monkeypatch, capsys):
    """`gateway declare` reads GATEWAY_SIGNATURE and the SM2 settings, as serve does."""
    order = str(FIXTURES / "valid" / "1210-single-line.json")
    monkeypatch.setenv("GATEWAY_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("GATEWAY_SIGNATURE", "rsa-sha1")
    assert main(["declare", order, "--out", str(tmp_path / "rsa")]) == 0
    method, digest, _ = _signature(tmp_path / "rsa")
    assert (method, digest) == ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", "http://www.w3.org/2000/09/xmldsig#sha1")
    cert = str(tmp_path / "instance" / "keys" / "dev-signing-cert.pem")     # the declaring key (issue 9: anchored)
    assert main(["verify", "--trust", cert, *map(str, (tmp_path / "rsa").glob("*.xml"))]) == 0

    monkeypatch.setenv("GATEWAY_SIGNATURE", "sm2-sm3-w3c-sha1")
    monkeypatch.setenv("GATEWAY_SM2_ENCODING", "der")
    assert main(["declare", order, "--out", str(tmp_path / "sm2-der")]) == 0
    method, digest, value = _signature(tmp_path / "sm2-der")
    assert method.endswith("#sm2-sm3") and digest == "http://www.w3.org/2000/09/xmldsig#sha1"
    assert value[0] == 0x30 and len(value) in range(68, 73)                 # DER SEQUENCE of r, s
    monkeypatch.setenv("GATEWAY_SM2_ENCODING", "raw")
    assert main(["declare", order, "--out", str(tmp_path / "sm2-raw")]) == 0
    assert len(_signature(tmp_path / "sm2-raw")[2]) == 64                    # r‖s
    # the command line still wins over the settings
    assert main(["declare", order, "--out", str(tmp_path / "cli"), "--signature", "rsa-sha256"]) == 0
    assert _signature(tmp_path / "cli")[0].endswith("rsa-sha256")
    monkeypatch.setenv("GATEWAY_SM2_ENCODING", "hex")
    capsys.readouterr()
    assert main(["declare", order, "--out", str(tmp_path / "bad")]) == 2
    assert capsys.readouterr().err == "error: GATEWAY_SM2_ENCODING: must be one of raw, der (got 'hex')\n"


@pytest.mark.parametrize("path", EVERY_FORMAT, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_tax_quote_answers_every_fixture_of_every_format(path, capsys):
    """JSON on stdout, or a refusal: one error line (exit 2: an order with no tax; exit 1: a limit)."""
    code = main(["tax", "quote", str(path)])
    out, err = capsys.readouterr()
    if code == 0:
        assert json.loads(out)["order_no"] and err == ""
    else:
        assert code in (1, 2) and out == ""
        assert err.startswith("error: tax quote: ") and err.count("\n") == 1 and "Traceback" not in err
    if path.name.startswith(("1210-special-zone", "1239-special-zone")) and "/export/" in path.as_posix():
        assert code == 2 and "special-zone export" in err              # no tax to quote: refused, one line
    if path.name.startswith("gt-"):
        assert code == 0                                                # general trade: duties, or the rebate
