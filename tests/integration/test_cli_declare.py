"""`gateway declare` and `gateway verify` as a user runs them (subprocess), and the independent
conformance check: the official 202205 XSDs and xmlsec1 (../shared/tools/check_ceb.py)."""
import os
import shutil
import subprocess
import sys

import pytest
from lxml import etree

from gateway import schemas
from tests.helpers import REFERENCE, ROOT, invalid_fixtures, valid_fixtures

GATEWAY = [sys.executable, "-m", "gateway.cli"]
CHECK_CEB = ROOT.parent / "shared" / "tools" / "check_ceb.py"
FOUR = ["CEB311Message.xml", "CEB411Message.xml", "CEB511Message.xml", "CEB621Message.xml"]


def need_xmlsec1():
    if shutil.which("xmlsec1") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("xmlsec1 is missing in CI: ./dev setup installs it")
        pytest.skip("xmlsec1 is not installed: run ./dev setup")


def run(args, tmp_path, **kw):
    env = {**os.environ, "GATEWAY_INSTANCE_DIR": str(tmp_path / "instance")}
    return subprocess.run(GATEWAY + args, capture_output=True, text=True, cwd=tmp_path, env=env, **kw)


@pytest.fixture(scope="module")
def declared(tmp_path_factory):
    """Every valid fixture declared once into its own folder (one dev key for all)."""
    base = tmp_path_factory.mktemp("declared")
    out = {}
    for path in valid_fixtures():
        target = base / path.stem
        r = run(["declare", str(path), "--out", str(target)], base)
        assert r.returncode == 0, r.stderr
        out[path.name] = target
    return base, out


def test_declare_writes_the_four_messages_for_every_valid_fixture(declared):
    _, out = declared
    for name, folder in out.items():
        assert sorted(p.name for p in folder.iterdir()) == FOUR, name


def test_declared_messages_pass_our_schemas(declared):
    _, out = declared
    for folder in out.values():
        for f in folder.iterdir():
            assert schemas.validate(etree.parse(str(f))) == [], f


def test_declared_messages_pass_the_official_xsd(declared):
    if not (REFERENCE / "xsd").is_dir():
        pytest.skip(f"official XSDs not found at {REFERENCE}/xsd")
    official = etree.XMLSchema(etree.parse(str(REFERENCE / "xsd" / "ceb-import-202205.xsd")))
    _, out = declared
    for folder in out.values():
        for f in folder.iterdir():
            assert official.validate(etree.parse(str(f))), f"{f}: {official.error_log.last_error}"


def test_gateway_verify_accepts_them_with_xmlsec1(declared):
    need_xmlsec1()
    base, out = declared
    files = [str(f) for folder in out.values() for f in sorted(folder.iterdir())]
    r = run(["verify", "--xmlsec1", "--allow-untrusted", *files], base)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("OK ") == len(files) == r.stdout.count("signer NOT trusted")


def test_independent_check_ceb_tool_accepts_them(declared):
    need_xmlsec1()
    if not CHECK_CEB.exists() or not (REFERENCE / "xsd").is_dir():
        pytest.skip("../shared/tools/check_ceb.py or the reference XSDs are not present")
    _, out = declared
    files = [str(f) for folder in out.values() for f in sorted(folder.iterdir())]
    r = subprocess.run([sys.executable, str(CHECK_CEB), str(REFERENCE), *files], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    assert f"{len(files)} CEB messages checked, 0 failed" in r.stdout


def test_verify_fails_on_a_changed_byte(declared, tmp_path):
    base, out = declared
    src = next(iter(out.values())) / "CEB621Message.xml"
    data = src.read_bytes().replace(b"<ceb:qty>", b"<ceb:qty>1", 1)
    bad = tmp_path / "CEB621Message.xml"
    bad.write_bytes(data)
    r = run(["verify", str(bad)], tmp_path)
    assert r.returncode == 1
    assert "digest" in r.stdout


@pytest.mark.parametrize("path", invalid_fixtures(), ids=lambda p: p.name)
def test_declare_refuses_invalid_orders_and_writes_nothing(path, tmp_path):
    out = tmp_path / "out"
    r = run(["declare", str(path), "--out", str(out)], tmp_path)
    assert r.returncode == 2
    assert "is not a valid order" in r.stderr
    assert "$." in r.stderr and "[" in r.stderr          # every problem named by path and rule
    assert not out.exists()


def test_declare_on_a_missing_file_exits_2(tmp_path):
    r = run(["declare", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o")], tmp_path)
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_declare_with_default_settings_signs_the_real_card_form(declared):
    """Every message `gateway declare` writes with default settings has the SignedInfo of the real
    RSA card signature, byte for byte (DigestValue aside), and a whole-bytes KeyName."""
    from tests.unit.test_signing_card_form import CARD_SIGNED, card_signed_info, signed_info_without_digest

    if not CARD_SIGNED.is_file():
        pytest.skip(f"reference sample missing: {CARD_SIGNED}")
    _, out = declared
    for folder in out.values():
        for f in folder.iterdir():
            root = etree.parse(str(f)).getroot()
            assert signed_info_without_digest(root) == card_signed_info(context=root), f
            key_name = root.findtext("{http://www.w3.org/2000/09/xmldsig#}Signature/"
                                     "{http://www.w3.org/2000/09/xmldsig#}KeyInfo/{http://www.w3.org/2000/09/xmldsig#}KeyName")
            assert len(key_name) % 2 == 0, key_name
