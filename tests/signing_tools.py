"""Independent SM2 checks for the signing tests: the OpenSSL command line (Debian's OpenSSL 3,
SM2/SM3 built in) and gmssl (pure Python). Neither shares code with the signer's default engine
(tongsuopy); the XML part is read with plain lxml here, not with gateway.signing."""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
SM3_URI = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm3"
SHA1_URI = "http://www.w3.org/2000/09/xmldsig#sha1"


def require_openssl_sm2() -> str:
    path = shutil.which("openssl")
    message = "openssl with SM2 NOT AVAILABLE: the independent SM2 check did NOT run (apt-get install openssl)"
    if path is None or subprocess.run([path, "list", "-digest-algorithms"], capture_output=True,
                                      text=True).stdout.lower().count("sm3") == 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " CI=true: this is a failure, not a skip.")
        pytest.skip(message)
    return path


def openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=30)


def raw_to_der(raw: bytes) -> bytes:
    def integer(b: bytes) -> bytes:
        b = b.lstrip(b"\0") or b"\0"
        if b[0] & 0x80:
            b = b"\0" + b
        return b"\x02" + bytes([len(b)]) + b
    body = integer(raw[:32]) + integer(raw[32:])
    return b"\x30" + bytes([len(body)]) + body


def der_to_raw(sig: bytes) -> bytes:
    assert sig[0] == 0x30
    pos, out = 2, b""
    for _ in range(2):
        assert sig[pos] == 2
        n = sig[pos + 1]
        out += sig[pos + 2:pos + 2 + n].lstrip(b"\0").rjust(32, b"\0")
        pos += 2 + n
    return out


def pieces(signed: bytes) -> dict:
    """SignedInfo (C14N in context), the C14N document without the Signature, and the values."""
    root = etree.fromstring(signed)
    signature = root.find(f"{{{DS}}}Signature")
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    out = {
        "signed_info": etree.tostring(signed_info, method="c14n"),
        "digest_method": signed_info.find(f".//{{{DS}}}DigestMethod").get("Algorithm"),
        "digest_value": base64.b64decode(signed_info.findtext(f".//{{{DS}}}DigestValue")),
        "signature_value": base64.b64decode(signature.findtext(f"{{{DS}}}SignatureValue")),
        "certificate": base64.b64decode(signature.findtext(f".//{{{DS}}}X509Certificate")),
    }
    root.remove(signature)
    out["document"] = etree.tostring(root, method="c14n")
    return out


def openssl_verify_sm2_xml(signed: bytes, *, user_id: bytes = b"1234567812345678", encoding: str = "raw",
                           signed_input: str = "signed-info") -> tuple[bool, str]:
    """Digest and SM2 signature of a CEB-signed document checked by the openssl command line."""
    p = pieces(signed)
    digest_name = {SM3_URI: "-sm3", SHA1_URI: "-sha1"}[p["digest_method"]]
    digest = openssl("dgst", digest_name, "-binary", data=p["document"]).stdout
    if digest != p["digest_value"]:
        return False, "digest differs"
    with tempfile.TemporaryDirectory() as tmp:
        cert = Path(tmp, "cert.der")
        cert.write_bytes(p["certificate"])
        pub = openssl("x509", "-inform", "DER", "-in", str(cert), "-pubkey", "-noout")
        if pub.returncode:
            return False, "openssl cannot read the certificate: " + pub.stderr.decode(errors="replace")
        Path(tmp, "pub.pem").write_bytes(pub.stdout)
        value = p["signature_value"]
        Path(tmp, "sig").write_bytes(raw_to_der(value) if encoding == "raw" else value)
        message = p["signed_info"] if signed_input == "signed-info" else base64.b64encode(p["digest_value"])
        Path(tmp, "msg").write_bytes(message)
        result = openssl("dgst", "-sm3", "-verify", str(Path(tmp, "pub.pem")), "-sigopt",
                         "distid:" + user_id.decode(), "-signature", str(Path(tmp, "sig")), str(Path(tmp, "msg")))
    return result.returncode == 0, (result.stdout + result.stderr).decode(errors="replace").strip()


def gmssl_verify_raw(public_point: bytes, raw: bytes, message: bytes) -> bool:
    """The pure-Python gmssl library's own sign-with-SM3 check (default user ID only)."""
    from gmssl import sm2 as gm
    return bool(gm.CryptSM2(private_key=None, public_key=public_point.hex()).verify_with_sm3(raw.hex(), message))


def openssl_public_point(certificate_der: bytes) -> bytes:
    """The uncompressed public point of a certificate, as openssl prints it."""
    text = openssl("x509", "-inform", "DER", "-noout", "-text", data=certificate_der).stdout.decode()
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "pub:")
    hex_digits = ""
    for line in lines[start + 1:]:
        if not line.startswith(" " * 16) or not all(c in "0123456789abcdef:" for c in line.strip()):
            break
        hex_digits += line.strip().replace(":", "")
    assert hex_digits.startswith("04") and len(hex_digits) == 130, hex_digits
    return bytes.fromhex(hex_digits[2:])


def openssl_sm2_key_and_cert(directory: Path, common_name: str = "OpenSSL SM2 signer") -> tuple[Path, Path]:
    """An SM2 key and a self-signed SM2-with-SM3 certificate made by the openssl command line."""
    key, cert = directory / "openssl-sm2.key", directory / "openssl-sm2.crt"
    assert openssl("genpkey", "-algorithm", "SM2", "-out", str(key)).returncode == 0
    made = openssl("req", "-x509", "-new", "-key", str(key), "-sm3", "-sigopt", "distid:1234567812345678",
                   "-subj", f"/CN={common_name}", "-days", "30", "-out", str(cert))
    assert made.returncode == 0, made.stderr
    return key, cert


class OpenSslSm2Backend:
    """A SignatureBackend whose signatures come from the openssl command line (an independent signer)."""

    key_type = "sm2"

    def __init__(self, key_file: Path, identity):
        self.key_file, self.identity = key_file, identity

    def sign(self, signed_info_c14n: bytes, key_ref) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "msg").write_bytes(signed_info_c14n)
            made = openssl("dgst", "-sm3", "-sign", str(self.key_file), "-sigopt", "distid:1234567812345678",
                           "-out", str(Path(tmp, "sig")), str(Path(tmp, "msg")))
            assert made.returncode == 0, made.stderr
            return der_to_raw(Path(tmp, "sig").read_bytes())

    def certificate(self, key_ref):
        return self.identity


# ---- gateways and keys for the key store / 179 tests ------------------------------------------

from datetime import timedelta  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from gateway.adapters.sandbox import SandboxGovernment  # noqa: E402
from gateway.bootstrap import bootstrap  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.ports import FixedClock, SequentialIds  # noqa: E402
from gateway.signing import KeyMaterial, sm2  # noqa: E402
from gateway.signing.keystore import new_master_key  # noqa: E402
from tests.helpers import START  # noqa: E402

MASTER = new_master_key()


def rsa_material(common_name="Tenant signer", days=365, not_before=None) -> KeyMaterial:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = not_before or START - timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=days)).sign(key, hashes.SHA256()))
    return KeyMaterial(key, cert)


def sm2_material(common_name="SM2 tenant signer") -> KeyMaterial:
    key = sm2.Sm2PrivateKey.generate()
    der = sm2.self_signed_certificate(key, common_name, days=365, not_before=START - timedelta(days=1))
    return KeyMaterial(key, x509.load_der_x509_certificate(der))


def make(tmp_path, db_url, signing_key, master=MASTER, sandbox_trusts=None):
    clock = FixedClock(START, step_seconds=1)
    sandbox = SandboxGovernment(clock=clock, ids=SequentialIds(prefix="5A4D8B00-0000-4000-9000"),
                                trusted_certificates=sandbox_trusts)
    settings = Settings(instance_dir=tmp_path / "instance", database_url=db_url, keystore_key=master,
                        auto_migrate="always")
    gw = bootstrap(settings, clock=clock, ids=SequentialIds(), adapters={"sandbox": sandbox}, key=signing_key)
    return gw, sandbox


