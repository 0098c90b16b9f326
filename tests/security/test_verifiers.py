"""Issue 9, item 9 — verifiers that anchor. `gateway verify` and `gateway audit verify` take
``--trust CERT...``; without a trust anchor a good signature is reported as "signature valid, signer
NOT trusted" and the command fails unless ``--allow-untrusted`` is given. The attacks of the issue:
a document signed by the attacker's own key (was: OK, exit 0) and a forged bundle exported and
signed by the attacker's own gateway (was: "passed"). Read-only audit commands run without the key
store master key."""
from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from lxml import etree

from gateway.cli import main
from gateway.service.evidence import export_order
from gateway.signing import XmlSigner, ensure_dev_key
from tests.helpers import add_tenant, fixture_text, make_gateway
from tests.signing_tools import MASTER, make, rsa_material

DS = "{http://www.w3.org/2000/09/xmldsig#}"


def pem(tmp_path, name, key):
    path = tmp_path / f"{name}.pem"
    path.write_bytes(key.certificate.public_bytes(serialization.Encoding.PEM))
    return str(path)


def test_gateway_verify_needs_a_trust_anchor(tmp_path, sqlite_url, signing_key, capsys):
    gw, _ = make_gateway(tmp_path, sqlite_url, signing_key)
    tenant, _ = add_tenant(gw)
    order_id = gw.submit(tenant, fixture_text("9610-minimal.json")).order_id
    with gw.uow_factory() as uow:
        genuine = next(bytes(f.signed_bytes) for f in uow.filings.for_order(tenant, order_id)
                       if f.message_type == "CEB621Message")
    attacker = ensure_dev_key(tmp_path / "attacker", common_name="Gateway development signer")
    root = etree.fromstring(genuine)
    root.remove(root.find(f"{DS}Signature"))
    forged_doc = tmp_path / "forged.xml"
    forged_doc.write_bytes(XmlSigner().sign(root, attacker))              # the same content, the attacker's key
    genuine_doc = tmp_path / "genuine.xml"
    genuine_doc.write_bytes(genuine)
    ours, theirs = pem(tmp_path, "gateway", signing_key), pem(tmp_path, "attacker", attacker)

    cases = [  # (arguments, exit status, words in the output)
        ([str(forged_doc)], 1, "signature valid, signer NOT trusted"),
        ([str(genuine_doc)], 1, "signature valid, signer NOT trusted"),
        ([str(forged_doc), "--trust", ours], 1, "is not a trusted certificate"),
        ([str(genuine_doc), "--trust", ours], 0, "signature valid, signer trusted"),
        ([str(genuine_doc), "--trust", theirs, "--trust", ours], 0, "signer trusted"),
        ([str(forged_doc), "--allow-untrusted"], 0, "signature valid, signer NOT trusted"),
    ]
    for argv, status, words in cases:
        assert main(["verify", *argv]) == status, argv
        out = capsys.readouterr().out
        assert words in out, (argv, out)


def test_audit_verify_refuses_a_bundle_signed_by_another_gateway(tmp_path, sqlite_url, signing_key, capsys):
    """The attacker runs a gateway of its own, files a forged order and exports a perfectly
    consistent bundle of it, signed with its own key."""
    gw, _ = make_gateway(tmp_path / "real", f"sqlite:///{tmp_path / 'real.sqlite3'}", signing_key)
    attacker = ensure_dev_key(tmp_path / "attacker", common_name="Gateway development signer")
    fake, _ = make_gateway(tmp_path / "fake", f"sqlite:///{tmp_path / 'fake.sqlite3'}", attacker)
    bundles = {}
    for name, g in (("genuine", gw), ("forged", fake)):
        tenant, _ = add_tenant(g)
        order_id = g.submit(tenant, fixture_text("9610-minimal.json")).order_id
        g.dispatcher.run_until_idle()
        bundles[name] = str(export_order(g.uow_factory, g.key, g.clock, order_id, tmp_path / f"{name}.zip").path)
    ours = pem(tmp_path, "gateway", signing_key)
    cases = [
        ([bundles["forged"]], 1, "signature valid, signer NOT trusted"),
        ([bundles["genuine"]], 1, "signature valid, signer NOT trusted"),
        ([bundles["forged"], "--trust", ours], 1, "not a trusted certificate"),
        ([bundles["genuine"], "--trust", ours], 0, "a trusted certificate"),
        ([bundles["forged"], "--allow-untrusted"], 0, "signature valid, signer NOT trusted"),
    ]
    for argv, status, words in cases:
        assert main(["audit", "verify", *argv]) == status, argv
        out = capsys.readouterr().out
        assert words in out, (argv, out)
        assert ("FAILED" in out) == (status == 1), out


def test_read_only_audit_commands_run_without_the_master_key(tmp_path, sqlite_url, signing_key, monkeypatch, capsys):
    gw, _ = make(tmp_path, sqlite_url, signing_key)
    tenant, _ = add_tenant(gw)
    gw.keystore.import_key(tenant, rsa_material())          # a key stored under the master key
    order_id = gw.submit(tenant, fixture_text("9610-minimal.json")).order_id
    gw.engine.dispose()
    monkeypatch.setenv("GATEWAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("GATEWAY_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.delenv("GATEWAY_KEYSTORE_KEY", raising=False)
    assert main(["audit", "check", "--quiet"]) == 0
    assert main(["audit", "log", "--order", order_id]) == 0
    assert "order.received" in capsys.readouterr().out
    assert main(["replay", "--order", order_id]) == 2               # what signs still needs it
    assert "GATEWAY_KEYSTORE_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("GATEWAY_KEYSTORE_KEY", MASTER)
    assert main(["replay", "--order", order_id]) == 0
