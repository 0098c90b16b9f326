"""A very small DER reader and writer: just what SM2 keys and certificates need.

``cryptography`` parses SM2 certificates but refuses their public keys (curve 1.2.156.10197.1.301
is not supported), and loads no SM2 private keys; the few structures involved (PKCS#8, SEC1
ECPrivateKey, SubjectPublicKeyInfo, the TBSCertificate of a self-signed certificate, the
ECDSA-Sig-Value of an SM2 signature) are read and written here. Definite lengths only; anything
else raises ``DerError``.
"""
from __future__ import annotations

import datetime as dt

INTEGER, BIT_STRING, OCTET_STRING, NULL, OID, UTF8_STRING = 0x02, 0x03, 0x04, 0x05, 0x06, 0x0C
PRINTABLE_STRING, UTC_TIME, GENERALIZED_TIME = 0x13, 0x17, 0x18
SEQUENCE, SET = 0x30, 0x31


class DerError(ValueError):
    pass


# ---- writing ------------------------------------------------------------------------------------

def tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    else:
        body = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(body)]) + body
    return bytes([tag]) + length + value


def seq(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    return tlv(SET, b"".join(sorted(items)))


def integer(value: int) -> bytes:
    if value < 0:
        raise DerError("negative integers are not used here")
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")  # room for a sign bit
    return tlv(INTEGER, body)


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


def bit_string(data: bytes) -> bytes:
    return tlv(BIT_STRING, b"\x00" + data)


def octet_string(data: bytes) -> bytes:
    return tlv(OCTET_STRING, data)


def utf8(text: str) -> bytes:
    return tlv(UTF8_STRING, text.encode("utf-8"))


def time(value: dt.datetime) -> bytes:
    value = value.astimezone(dt.UTC)
    if 1950 <= value.year < 2050:
        return tlv(UTC_TIME, value.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return tlv(GENERALIZED_TIME, value.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def explicit(number: int, inner: bytes) -> bytes:
    return tlv(0xA0 | number, inner)


# ---- reading ------------------------------------------------------------------------------------

def read(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """(tag, value, offset after the element) of the element at ``offset``."""
    try:
        tag = data[offset]
        first = data[offset + 1]
        offset += 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4:
                raise DerError("unsupported DER length")
            length = int.from_bytes(data[offset:offset + count], "big")
            offset += count
    except IndexError:
        raise DerError("truncated DER") from None
    end = offset + length
    if end > len(data):
        raise DerError("truncated DER")
    return tag, data[offset:end], end


def children(value: bytes) -> list[tuple[int, bytes, bytes]]:
    """The elements inside a constructed value: (tag, value, whole encoding)."""
    out, offset = [], 0
    while offset < len(value):
        tag, inner, end = read(value, offset)
        out.append((tag, inner, value[offset:end]))
        offset = end
    return out


def only(data: bytes, tag: int) -> bytes:
    """The value of ``data``, which must be exactly one element with ``tag``."""
    found, value, end = read(data)
    if found != tag or end != len(data):
        raise DerError(f"expected one DER element with tag 0x{tag:02x}")
    return value


def read_oid(value: bytes) -> str:
    if not value:
        raise DerError("empty OID")
    parts = [value[0] // 40, value[0] % 40] if value[0] < 80 else [2, value[0] - 80]
    number = 0
    for byte in value[1:]:
        number = (number << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(number)
            number = 0
    return ".".join(str(p) for p in parts)


def read_integer(value: bytes) -> int:
    if not value or value[0] & 0x80:
        raise DerError("not a non-negative DER INTEGER")
    return int.from_bytes(value, "big")
