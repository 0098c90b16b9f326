"""A SoftHSM2 token for the PKCS#11 tests: initialised in a folder of its own, holding the RSA key of a
development signer (non-extractable) and its certificate under one label."""
from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from gateway.signing import ensure_dev_key

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN, SO_PIN, PIN, LABEL = "gateway-test", "12345678", "87654321", "tenant-a-2026"


@contextmanager
def token_with_key(base: Path, common_name: str, *, reinitialize: bool = False):
    """A token under ``base`` (SOFTHSM2_CONF points at it while the block runs) holding a new development
    key and its certificate under LABEL; yields the key. ``reinitialize``: the module was loaded by an earlier
    test module on another folder (SoftHSM2 reads SOFTHSM2_CONF at C_Initialize): initialise it again here."""
    import pkcs11
    from pkcs11 import Attribute
    from pkcs11.util.rsa import decode_rsa_private_key
    from pkcs11.util.x509 import decode_x509_certificate

    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--so-pin", SO_PIN,
                        "--pin", PIN], check=True, capture_output=True)
        lib = pkcs11.lib(MODULE)
        if reinitialize:
            lib.reinitialize()
        key = ensure_dev_key(base / "instance", common_name=common_name)
        with lib.get_token(token_label=TOKEN).open(rw=True, user_pin=PIN) as session:
            der = key.private_key.private_bytes(serialization.Encoding.DER,
                                                serialization.PrivateFormat.TraditionalOpenSSL,
                                                serialization.NoEncryption())
            attributes = decode_rsa_private_key(der)
            attributes.update({Attribute.TOKEN: True, Attribute.LABEL: LABEL, Attribute.ID: b"\x01",
                               Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True,
                               Attribute.PRIVATE: True})
            session.create_object(attributes)
            cert = decode_x509_certificate(key.certificate.public_bytes(serialization.Encoding.DER))
            cert.update({Attribute.TOKEN: True, Attribute.LABEL: LABEL, Attribute.ID: b"\x01"})
            session.create_object(cert)
        yield key
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
