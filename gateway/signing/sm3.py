"""SM3 (GB/T 32905) digest: hashlib when the Python's OpenSSL has it, else gmssl. Its own module so
the algorithm table (algorithms.py) and SM2 (sm2.py) both use it without importing each other."""
from __future__ import annotations

import hashlib


def sm3(data: bytes) -> bytes:
    """SM3 digest (hashlib when the Python's OpenSSL has it, else gmssl)."""
    return _sm3(data)


def _sm3_hashlib(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def _sm3_gmssl(data: bytes) -> bytes:  # pragma: no cover - only where hashlib lacks SM3
    from gmssl import sm3 as gm_sm3  # here: the pure-Python fallback loads only where it is needed
    return bytes.fromhex(gm_sm3.sm3_hash(list(data)))


try:
    hashlib.new("sm3", b"")
    _sm3 = _sm3_hashlib
except ValueError:  # pragma: no cover
    _sm3 = _sm3_gmssl
