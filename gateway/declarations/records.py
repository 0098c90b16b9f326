"""What our own record formats share (the inspection, tax and FX records: gateway/schemas/*-record.xsd):
one namespace each, and a root carrying an upper-case ``guid`` and the format's ``version``.

Pure: builds lxml elements, does no I/O.
"""
from __future__ import annotations

from lxml import etree

from .common import QualifiedNames


class RecordFormat:
    """One of our record formats: its namespace (bound to ``prefix``) and version."""

    def __init__(self, namespace: str, prefix: str, version: str = "1.0") -> None:
        self.namespace, self.version = namespace, version
        self.nsmap = {prefix: namespace}
        self.names = QualifiedNames(namespace)

    def q(self, name: str) -> str:
        return self.names[name]

    def root(self, name: str, guid: str) -> etree._Element:
        """The root element ``name``; ValueError unless ``guid`` is upper case (the agency's receipt names it)."""
        if guid != guid.upper():
            raise ValueError("guid must be upper case")
        return etree.Element(self.names[name], {"guid": guid, "version": self.version}, nsmap=self.nsmap)
