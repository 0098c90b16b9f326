"""Which receipts are trusted: the signature policy of a receipt channel.

CEB receipts carry no signature in the 202205 schemas, but a channel (a DXP node, a provincial
platform, a government that signs its answers) may sign them. The policy is explicit:

- ``none``: signatures are not looked at (the content is read as it comes).
- ``if-present`` (sandbox channels): a receipt that carries a ds:Signature must verify against the
  expectation, or it is quarantined; an unsigned one is read as it comes.
- ``required`` (production channels, the default there): every receipt must carry a signature
  that verifies against the trusted government certificates; an unsigned one, one signed by any
  other key (self-signed or not) and one whose signature does not verify are quarantined with the
  reason. The settings refuse ``required`` without trusted certificates (gateway/config.py).

``ChannelTrust`` holds the policy of each channel (``for_channel(name)``).

When a signature verifies, only the signed content is parsed (``VerifiedDocument.root``, rebuilt
from the digested bytes), never the document as received: a wrapped or appended element cannot
change what the gateway reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from gateway.signing import Expectation, SigningError, verify_with
from gateway.signing.verifier import parse_hardened

MODES = ("none", "if-present", "required")
_DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_SIGNATURE = f"{{{_DS_NS}}}Signature"


class ReceiptRefused(Exception):
    """The receipt's signature does not meet the channel's expectation; ``str()`` is the reason."""


@dataclass(frozen=True)
class ReceiptTrust:
    mode: str = "if-present"
    expectation: Expectation = field(default_factory=Expectation)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"receipt signature mode must be one of {', '.join(MODES)}, not {self.mode!r}")

    def for_channel(self, name: str) -> ReceiptTrust:
        return self          # one policy for every channel

    def trusted_bytes(self, body: bytes) -> bytes:
        """The bytes to parse: ``body`` itself, or the signed content only. Raises ReceiptRefused."""
        if self.mode == "none":
            return body
        signed = _DS_NS.encode() in body and _has_signature(body)
        if not signed:
            if self.mode == "required":
                raise ReceiptRefused("unsigned receipt refused: this channel requires signed receipts")
            return body
        try:
            verified = verify_with(body, self.expectation)
        except SigningError as exc:
            raise ReceiptRefused(f"receipt signature refused: {exc}") from None
        return etree.tostring(verified.root, encoding="UTF-8", xml_declaration=True)


@dataclass(frozen=True)
class ChannelTrust:
    """The policy per channel name; ``default`` for a channel that is not configured."""
    by_channel: dict
    default: ReceiptTrust

    def for_channel(self, name: str) -> ReceiptTrust:
        return self.by_channel.get(name, self.default)


def _has_signature(body: bytes) -> bool:
    try:
        tree = parse_hardened(body)
    except (etree.XMLSyntaxError, SigningError):
        return False            # unreadable: the receipt parser quarantines it with its own reason
    return next(tree.getroot().iter(_SIGNATURE), None) is not None
