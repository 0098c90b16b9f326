"""The inspection record of a CBEC order as XML (our own schema ``gateway/schemas/inspection-record.xsd``,
namespace urn:gateway:inspection:1).

Pure: (order, ``InspectionDecision``, guid) -> an unsigned lxml root with ``guid`` and ``version``
attributes, signable by ``gateway.signing.XmlSigner``. It lists the lines under legal inspection only
(the others concern no inspection agency), with their categories, what those require and the data the
order gave (``lines[i].inspection``).

    root = build_inspection_record(order, inspection.decide(order), guid)
"""
from __future__ import annotations

from lxml import etree

from gateway.domain.inspection import InspectionDecision
from gateway.reference import version as reference_version

from .records import RecordFormat

INSPECTION_NS = "urn:gateway:inspection:1"
_FORMAT = RecordFormat(INSPECTION_NS, "insp")
_q = _FORMAT.q


def _add(parent, name: str, value) -> None:
    if value is None or value == "":
        return
    etree.SubElement(parent, _q(name)).text = value.isoformat() if hasattr(value, "isoformat") else str(value)


def build_inspection_record(order, decision: InspectionDecision, guid: str) -> etree._Element:
    """The InspectionRecord of ``order``; ValueError when no line is under legal inspection."""
    root = _FORMAT.root("InspectionRecord", guid)
    inspected = decision.inspected_lines
    if not inspected:
        raise ValueError(f"order {order.order_no}: no line is under legal inspection, there is nothing to record")
    for name, value in (("reference", order.order_no), ("regime", order.regime), ("direction", order.direction),
                        ("customsCode", order.customs_code), ("decidedOn", decision.decided_on),
                        ("referenceVersion", reference_version()), ("linesTotal", len(order.lines))):
        _add(root, name, value)
    lines = {line.number: line for line in order.lines}
    for d in inspected:
        line = lines[d.number]
        el = etree.SubElement(root, _q("Line"))
        for name, value in (("gnum", d.number), ("hsCode", d.hs_code), ("name", line.name),
                            ("originCountry", getattr(line, "origin_country", None)),
                            ("regulatoryConditions", d.regulatory_conditions)):
            _add(el, name, value)
        for letter in d.categories:
            _add(el, "category", letter)
        for requirement in d.requirements:
            _add(el, "requirement", requirement)
        data = getattr(line, "inspection", None)
        if data is not None:
            for name, value in (("producerRegistration", data.producer_registration), ("batchNo", data.batch_no),
                                ("productionDate", data.production_date), ("expiryDate", data.expiry_date),
                                ("licenceNo", data.licence_no), ("cccCertificate", data.ccc_certificate),
                                ("quarantinePermitNo", data.quarantine_permit_no),
                                ("originRegion", data.origin_region), ("purpose", data.purpose)):
                _add(el, name, value)
    return root
