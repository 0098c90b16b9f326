"""Untrusted XML in, safely: the hardened parser (no entities expanded, no network, no DTD) and the
refusal of any document type declaration, whatever parser read the tree. ``SignatureInvalid`` is the
error of every check of a received signed document (gateway.signing.verifier)."""
from __future__ import annotations

from lxml import etree

from .algorithms import SigningError


class SignatureInvalid(SigningError):
    """The document is not an acceptable, intact CEB signature. ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# Keeps entity references unexpanded and never fetches anything. (Do not add collect_ids=False:
# with lxml 6 / libxml2 2.14 it makes libxml2 read a local external DTD named by a DOCTYPE.)
HARDENED_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, dtd_validation=False,
    attribute_defaults=False, remove_blank_text=False, remove_comments=False, remove_pis=False)


def parse_hardened(data: bytes) -> etree._ElementTree:
    """Parse untrusted bytes: no entities expanded, no network, no DOCTYPE; SignatureInvalid otherwise."""
    if not isinstance(data, bytes):
        raise SignatureInvalid(f"expected the signed bytes, got {type(data).__name__}")
    try:
        tree = etree.fromstring(data, parser=HARDENED_PARSER).getroottree()
    except etree.XMLSyntaxError as e:
        if b"<!DOCTYPE" in data:
            raise SignatureInvalid(f"document type declarations (DOCTYPE, entities) are not accepted ({e})") from None
        raise SignatureInvalid(f"not well-formed XML: {e}") from None
    refuse_doctype(tree)
    return tree


def refuse_doctype(tree: etree._ElementTree) -> None:
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise SignatureInvalid("document type declarations (DOCTYPE, entities) are not accepted")
