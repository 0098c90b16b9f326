"""Field-by-field comparison of two XML documents (what was sent vs. what a replay built). Pure.

    differences = diff_xml(original_bytes, replayed_bytes)
    for d in differences:
        print(d.path, d.original, d.replayed)

Paths use local names (``/CEB621Message/Inventory/InventoryHead/appTime``); a sibling repeated
under the same parent gets a 1-based index (``InventoryList[2]``); attributes are ``@name``.
The enveloped ds:Signature is compared apart from the content: when the content differs its
digest and value differ as a matter of course, so only the content is reported; when only the
signature differs, its parts are (key name, certificate, algorithms, value).
"""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_SIGNATURE = f"{{{DS_NS}}}Signature"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_blank_text=False)


@dataclass(frozen=True)
class Difference:
    path: str
    original: str | None     # None: absent in the original
    replayed: str | None     # None: absent in the replay

    def __str__(self) -> str:
        return f"{self.path}: sent {_show(self.original)}, replay {_show(self.replayed)}"

    def as_dict(self) -> dict:
        return {"path": self.path, "original": self.original, "replayed": self.replayed}


def _show(value: str | None) -> str:
    if value is None:
        return "(absent)"
    return repr(value if len(value) <= 120 else value[:117] + "...")


def first_byte_difference(a: bytes, b: bytes) -> int | None:
    """Offset of the first differing byte (or of the end of the shorter input); None if equal."""
    if a == b:
        return None
    for i, (x, y) in enumerate(zip(a, b, strict=False)):   # lengths may differ: handled below
        if x != y:
            return i
    return min(len(a), len(b))


def diff_xml(original: bytes, replayed: bytes, *, max_differences: int = 200) -> list[Difference]:
    """Every difference between the two documents, content first; [] when they are the same
    document (the bytes may still differ in serialisation: see ``first_byte_difference``)."""
    try:
        a = etree.fromstring(original, _PARSER)
    except etree.XMLSyntaxError as exc:
        return [Difference("/", f"not well-formed XML: {exc}", None)]
    try:
        b = etree.fromstring(replayed, _PARSER)
    except etree.XMLSyntaxError as exc:
        return [Difference("/", None, f"not well-formed XML: {exc}")]
    sig_a, sig_b = _detach_signature(a), _detach_signature(b)
    out: list[Difference] = []
    _compare(a, b, "/" + _name(a) if _name(a) == _name(b) else "/", out, max_differences)
    if not out and (sig_a is not None or sig_b is not None):
        base = "/" + _name(a) + "/Signature"
        if sig_a is None or sig_b is None:
            out.append(Difference(base, None if sig_a is None else "present", None if sig_b is None else "present"))
        else:
            _compare(sig_a, sig_b, base, out, max_differences)
    return out


def _detach_signature(root: etree._Element):
    for child in root:
        if child.tag == _SIGNATURE:
            root.remove(child)
            return child
    return None


def _name(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else str(el.tag)


def _compare(a: etree._Element, b: etree._Element, path: str, out: list, limit: int) -> None:
    if len(out) >= limit:
        return
    if a.tag != b.tag:
        out.append(Difference(path, etree.QName(a).text, etree.QName(b).text))
        return
    for name in sorted(set(a.attrib) | set(b.attrib)):
        va, vb = a.get(name), b.get(name)
        if va != vb:
            out.append(Difference(f"{path}/@{etree.QName(name).localname}", va, vb))
    ta, tb = _text(a.text), _text(b.text)
    if ta != tb:
        out.append(Difference(path, ta, tb))
    ca = [c for c in a if isinstance(c.tag, str)]
    cb = [c for c in b if isinstance(c.tag, str)]
    totals = {tag: max(sum(c.tag == tag for c in ca), sum(c.tag == tag for c in cb))
              for tag in {c.tag for c in ca} | {c.tag for c in cb}}
    seen_a: dict[str, int] = {}
    for i in range(max(len(ca), len(cb))):
        x = ca[i] if i < len(ca) else None
        y = cb[i] if i < len(cb) else None
        ref = ca[i] if i < len(ca) else cb[i]   # the element present (x, else y)
        seen_a[ref.tag] = seen_a.get(ref.tag, 0) + 1
        step = _name(ref) + (f"[{seen_a[ref.tag]}]" if totals.get(ref.tag, 0) > 1 else "")
        child_path = f"{path}/{step}"
        if x is None:
            out.append(Difference(child_path, None, _summary(y)))
        elif y is None:
            out.append(Difference(child_path, _summary(x), None))
        else:
            _compare(x, y, child_path, out, limit)
        if len(out) >= limit:
            return


def _text(value: str | None) -> str | None:
    """Text as compared: whitespace-only text between elements counts as none."""
    if value is None or not value.strip():
        return None
    return value


def _summary(el: etree._Element) -> str:
    kids = [c for c in el if isinstance(c.tag, str)]
    if not kids:
        return el.text or ""
    return f"<{_name(el)}> with {len(kids)} child element(s)"
