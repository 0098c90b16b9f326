"""What a receipt becomes (``ReceiptEntry``), how one receipt type is read (``ReceiptKind``), and the
reading of an entity's fields: the pieces receipts.py and the readers it routes to
(agency_receipts.py, dec_receipts.py) share. Pure."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

CEB_NS = "http://www.chinaport.gov.cn/ceb"


@dataclass(frozen=True)
class ReceiptEntry:
    message_type: str        # receipt root name, e.g. "CEB622Message"
    answers: str             # the declaration type it answers, e.g. "CEB621Message"
    business_key: str        # from gateway.declarations.keys
    status_code: str         # returnStatus as text ("2", "120", "-621005" ...)
    status_time: str         # returnTime (YYYYMMDDhhmmssSSS); "" if customs left it out
    info: str                # returnInfo; "" if absent
    guid: str                # the return entity's guid; "" if absent
    fields: dict[str, str] = field(default_factory=dict)  # every child of the entity by local name


class ReceiptUnreadable(Exception):
    """The bytes are not a receipt we can apply; ``str(e)`` says why."""


@dataclass(frozen=True)
class ReceiptKind:
    """How to read one receipt type.

    ``answers`` is the declaration type answered; when it is None the type is read from the
    entity field ``answers_field`` instead (CEB900 names the rejected message's type).
    ``make_key`` receives the values of ``key_fields`` in order.
    ``read``, when set, turns one entity into its entries instead of the returnStatus pattern
    (the CEB792 summary result has a head and a list, and decState instead of returnStatus).
    """

    message_type: str
    entity: str
    key_fields: tuple[str, ...]
    make_key: Callable[..., str]
    answers: str | None = None
    answers_field: str | None = None
    read: Callable[[ReceiptKind, etree._Element, int], list[ReceiptEntry]] | None = None
    namespace: str = CEB_NS          # our own agency receipts live in urn:gateway:agency:1


def _fields(entity: etree._Element, namespace: str = CEB_NS) -> dict[str, str]:
    """Child elements in the CEB namespace by local name, text trimmed; first occurrence wins.

    Children in other namespaces (regional extensions) are ignored; unknown CEB children are kept.
    """
    fields: dict[str, str] = {}
    prefix = f"{{{namespace}}}"
    start = len(prefix)
    for child in entity.iterchildren(prefix + "*"):     # elements of that namespace only (no comments)
        name = child.tag[start:]
        if name not in fields:
            # a leaf (the common case) is its own text; itertext() only for mixed content
            fields[name] = (child.text or "").strip() if not len(child) else "".join(child.itertext()).strip()
    return fields
