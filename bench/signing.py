"""Signing benchmark: SM2 engines and whole-document signing (numbers recorded in docs/signing.md).

    .venv/bin/python bench/signing.py [--rounds 200]

Every signature measured here is also checked by the openssl command line (independent SM2
implementation) before timing, so a fast but wrong engine cannot win. Optional libraries that are
not installed (gmalg, snowland-smx, gmssl-fast) are skipped.
"""
from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import etree  # noqa: E402

from gateway.signing import (  # noqa: E402
    RSA_SHA256,
    SM2_SM3,
    Sm2Options,
    XmlSigner,
    ensure_dev_key,
    sm2,  # noqa: E402
    verify_with,
)
from gateway.signing.verifier import Expectation  # noqa: E402
from tests.signing_tools import raw_to_der  # noqa: E402

DOCUMENT = (Path(__file__).resolve().parents[1] / "tests/unit/test_signing.py").read_text("utf-8")
DOCUMENT = DOCUMENT[DOCUMENT.index("<ceb:CEB621Message"):DOCUMENT.index("</ceb:CEB621Message>") + 20].encode()


def timed(fn, rounds: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - start) / rounds * 1000


def openssl_ok(public_pem: bytes, raw: bytes, message: bytes, user_id: bytes = sm2.DEFAULT_USER_ID) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "pub").write_bytes(public_pem)
        Path(tmp, "sig").write_bytes(raw_to_der(raw))
        Path(tmp, "msg").write_bytes(message)
        return subprocess.run(["openssl", "dgst", "-sm3", "-verify", f"{tmp}/pub", "-sigopt",
                               f"distid:{user_id.decode()}", "-signature", f"{tmp}/sig", f"{tmp}/msg"],
                              capture_output=True).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        key = ensure_dev_key(Path(tmp), key_type="sm2")
        rsa_key = ensure_dev_key(Path(tmp) / "rsa")
    private, public = key.private_key, key.private_key.public_key
    public_pem = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=key.certificate.public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.PEM),
        capture_output=True).stdout
    message = etree.tostring(etree.fromstring(XmlSigner(SM2_SM3).sign(etree.fromstring(DOCUMENT), key))[-1][0],
                             method="c14n")
    z = public.z(sm2.DEFAULT_USER_ID)
    engines = {}
    if sm2.TONGSUO:
        engines["tongsuopy 1.0.1 (Tongsuo C) [default]"] = (lambda: private.sign(message), lambda s: public.verify(s, message))
    engines["gmssl 3.2.2 (pure Python) [fallback]"] = (
        lambda: sm2._gmssl_sign(private, sm2.sm3(z + message)),
        lambda s: sm2._gmssl_verify(public, s, sm2.sm3(z + message)))
    d_hex, pub_hex = f"{private._d:064x}", public.point.hex()
    try:
        import gmalg
        g = gmalg.SM2(bytes.fromhex(d_hex), sm2.DEFAULT_USER_ID, b"\x04" + public.point)
        engines["gmalg 1.1.2 (pure Python)"] = (
            lambda: b"".join(v.rjust(32, b"\0") for v in g.sign(message)), lambda s: g.verify(message, s[:32], s[32:]))
    except ImportError:
        pass
    try:
        from pysmx.SM2 import _SM2 as sx

        def snowland_sign():
            value = sx.Sign(message, d_hex, secrets.token_hex(32), 64, Hexstr=0, uid=sm2.DEFAULT_USER_ID)
            return bytes.fromhex(value) if isinstance(value, str) else value

        engines["snowland-smx 1.1.0 (pure Python)"] = (
            snowland_sign,
            lambda s: sx.Verify(s.hex(), message, pub_hex, 64, Hexstr=0, uid=sm2.DEFAULT_USER_ID))
    except ImportError:
        pass
    try:
        import gmssl_fast
        f = gmssl_fast.SM2(private_key=d_hex, public_key="04" + pub_hex)
        engines["gmssl-fast 0.1.0 (GmSSL C)"] = (lambda: f.sign(message), lambda s: f.verify(message, s))
    except ImportError:
        pass

    print(f"SM2-with-SM3 over a canonical SignedInfo of {len(message)} bytes ({rounds} rounds; pure Python: 1/10)")
    print(f"{'engine':<40} {'openssl ok':>10} {'sign ms':>9} {'verify ms':>10}")
    for name, (sign, check) in engines.items():
        samples = [sign() for _ in range(3)]
        ok = all(openssl_ok(public_pem, s, message) for s in samples) and all(check(s) for s in samples)
        n = max(5, rounds // 10) if "pure" in name else rounds
        sample = samples[0]
        print(f"{name:<40} {str(ok):>10} {timed(sign, n):>9.3f} {timed(lambda check=check, sample=sample: check(sample), n):>10.3f}")

    print(f"\nWhole CEB621 document ({len(DOCUMENT)} bytes): XmlSigner.sign / verify")
    cases = [("rsa-sha256 (RSA-2048)", XmlSigner(RSA_SHA256), rsa_key, Expectation()),
             ("sm2-sm3 (default user ID, tongsuo)" if sm2.TONGSUO else "sm2-sm3 (python)", XmlSigner(SM2_SM3), key,
              Expectation()),
             ("sm2-sm3 (other user ID, python)", XmlSigner(SM2_SM3, sm2=Sm2Options(user_id=b"GATEWAY")), key,
              Expectation(sm2=Sm2Options(user_id=b"GATEWAY")))]
    for name, signer, material, expectation in cases:
        signed = signer.sign(etree.fromstring(DOCUMENT), material)
        verify_with(signed, expectation)
        n = rounds if "python" not in name else max(5, rounds // 10)
        sign_ms = timed(lambda signer=signer, material=material: signer.sign(etree.fromstring(DOCUMENT), material), n)
        verify_ms = timed(lambda signed=signed, expectation=expectation: verify_with(signed, expectation), n)
        print(f"{name:<40} sign {sign_ms:7.3f} ms   verify {verify_ms:7.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
