"""Independent check with libxmlsec1's command-line tool, as /work/shared/tools/check_ceb.py does.

Used by the integration tests and the CLI; not on the signing path.
"""
from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from pathlib import Path

from .algorithms import DS_NS
from .verifier import SignatureInvalid, parse_hardened

XMLSEC1_TIMEOUT_SECONDS = 30


def xmlsec1_verify(data: bytes) -> tuple[bool, str]:
    """Run ``xmlsec1 --verify`` with the certificate carried in the document.

    Returns (True, "OK") or (False, reason); (False, ...) too when xmlsec1 is not installed.
    """
    executable = shutil.which("xmlsec1")
    if executable is None:
        return False, "xmlsec1 is not installed (not on PATH); install the xmlsec1 package"
    try:
        certificate = parse_hardened(data).find(f".//{{{DS_NS}}}X509Certificate")
    except SignatureInvalid as e:
        return False, e.reason
    if certificate is None or not (certificate.text or "").strip():
        return False, "the document has no ds:X509Certificate"
    try:
        der = base64.b64decode("".join(certificate.text.split()), validate=True)
    except ValueError:
        return False, "ds:X509Certificate is not valid base64"
    pem = "-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der).decode("ascii") + "-----END CERTIFICATE-----\n"
    with tempfile.TemporaryDirectory(prefix="xmlsec1-") as tmp:
        cert_path, doc_path = Path(tmp, "cert.pem"), Path(tmp, "document.xml")
        cert_path.write_text(pem, encoding="ascii")
        doc_path.write_bytes(data)
        try:
            result = subprocess.run([executable, "--verify", "--pubkey-cert-pem", str(cert_path), str(doc_path)],
                                    capture_output=True, text=True, timeout=XMLSEC1_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            return False, f"xmlsec1 did not finish within {XMLSEC1_TIMEOUT_SECONDS} s"
    if result.returncode == 0:
        return True, "OK"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return False, "xmlsec1 does not verify the document: " + " | ".join((errors or lines or ["no output"])[-2:])
