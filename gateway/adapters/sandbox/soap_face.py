"""The sandbox's SOAP face: a small WSGI SOAP 1.1 endpoint for the bundled WSDL
(gateway/adapters/wsdl/gateway-sandbox.wsdl), written with lxml (no SOAP framework).

Each request body is parsed with a hardened parser and validated against the schema inside the
WSDL (compiled once). Answers: the operation's response element, a soap:Client fault (HTTP 500)
for a request that is wrong, a soap:Server fault (HTTP 500) when the government is unavailable.
Scripted 5xx and downtime answers come as plain text, the way a proxy in front would answer.
``GET ?wsdl`` returns the bundled WSDL.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import time
from pathlib import Path

from lxml import etree
from werkzeug.wrappers import Request, Response

from .server import SandboxServer
from .wsgi import delay_or_drop

WSDL_PATH = Path(__file__).resolve().parents[1] / "wsdl" / "gateway-sandbox.wsdl"
TNS = "urn:gateway:sandbox:soap:v1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
XS_NS = "http://www.w3.org/2001/XMLSchema"
MAX_BODY = 48 * 1024 * 1024
OPERATIONS = {"Submit": "send", "GetReceipts": "receipts", "Lookup": "lookup", "Ping": "health"}

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, load_dtd=False,
                          dtd_validation=False)


class SoapFault(Exception):
    def __init__(self, code: str, text: str):
        super().__init__(text)
        self.code = code
        self.text = text


def _schema() -> etree.XMLSchema:
    wsdl = etree.parse(str(WSDL_PATH), _PARSER)
    schema = wsdl.find(f"{{{WSDL_NS}}}types/{{{XS_NS}}}schema")
    return etree.XMLSchema(schema)


def create_soap_app(server: SandboxServer, face: str = "soap"):
    schema = _schema()
    wsdl_bytes = WSDL_PATH.read_bytes()

    def app(environ, start_response):
        request = Request(environ)
        request.max_content_length = MAX_BODY
        if request.method == "GET":
            if "wsdl" in {k.lower() for k in request.args}:
                return Response(wsdl_bytes, content_type="text/xml; charset=utf-8")(environ, start_response)
            return Response(b"POST SOAP 1.1 envelopes here; GET ?wsdl for the WSDL\n", status=405,
                            content_type="text/plain")(environ, start_response)
        body = request.get_data(cache=True)
        try:
            operation, element = _read(body, schema)
        except SoapFault as fault:
            response = _fault(fault)
            server.record_wire(face, "?", None, body, response.get_data(), "fault")
            return response(environ, start_response)
        kind = OPERATIONS[operation]
        message_id = element.findtext(f"{{{TNS}}}messageId")
        action = server.faults.action(face, kind)
        dropped = delay_or_drop(server, face, kind, message_id, body, action, environ, start_response)
        if dropped is not None:
            return dropped
        if action.kind in ("error_5xx", "down_503"):
            text = f"{action.status} {'scripted downtime' if action.kind == 'down_503' else 'scripted server error'}\n"
            response = Response(text.encode(), status=action.status, content_type="text/plain; charset=utf-8")
            server.record_wire(face, kind, message_id, body, response.get_data(), action.kind)
            return response(environ, start_response)
        try:
            result = _handle(server, face, operation, element, body, action.kind == "duplicate_answers")
            response = Response(_envelope(result), content_type="text/xml; charset=utf-8")
        except SoapFault as fault:
            response = _fault(fault)
        server.record_wire(face, kind, message_id, body, response.get_data(), str(response.status_code))
        if action.kind == "timeout_after_accept":
            time.sleep(action.hold)
        return response(environ, start_response)

    return app


def _read(body: bytes, schema: etree.XMLSchema) -> tuple[str, etree._Element]:
    try:
        root = etree.fromstring(body, parser=_PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise SoapFault("Client", f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise SoapFault("Client", "document type declarations are not accepted")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault("Client", f"not a SOAP 1.1 Envelope: {root.tag}")
    soap_body = root.find(f"{{{SOAP_ENV}}}Body")
    children = [] if soap_body is None else [c for c in soap_body if isinstance(c.tag, str)]
    if len(children) != 1:
        raise SoapFault("Client", "the SOAP Body must hold exactly one operation element")
    element = children[0]
    qname = etree.QName(element)
    if qname.namespace != TNS or qname.localname not in OPERATIONS:
        raise SoapFault("Client", f"unknown operation {element.tag}; known: {', '.join(OPERATIONS)} in {TNS}")
    if not schema.validate(element):
        raise SoapFault("Client", f"{qname.localname} does not match the WSDL schema: {schema.error_log.last_error}")
    return qname.localname, element


def _handle(server: SandboxServer, face: str, operation: str, element, body: bytes, twice: bool) -> etree._Element:
    if operation == "Submit":
        message_id = element.findtext(f"{{{TNS}}}messageId")
        message_type = element.findtext(f"{{{TNS}}}messageType") or ""
        try:
            payload = base64.b64decode("".join((element.findtext(f"{{{TNS}}}payload") or "").split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SoapFault("Client", f"payload is not base64: {exc}") from None
        ack = server.receive(face, message_id, message_type, payload)
        if twice:
            ack = server.receive(face, message_id, message_type, payload)
        if ack["status"] == "unavailable":
            raise SoapFault("Server", f"the government is unavailable, try again later: {ack.get('error', '')}")
        ack["envelopeSha256"] = hashlib.sha256(body).hexdigest()
        out = _el("SubmitResponse")
        out.append(_ack(ack))
        return out
    if operation == "GetReceipts":
        since = element.findtext(f"{{{TNS}}}since") or None
        limit = int(element.findtext(f"{{{TNS}}}limit") or 100)
        if not 1 <= limit <= 1000:
            raise SoapFault("Client", "limit must be 1..1000")
        server.feed.pull()
        items = server.feed.since(since, limit)
        out = _el("GetReceiptsResponse")
        for item in items:
            receipt = _sub(out, "receipt")
            _sub(receipt, "cursor", item.cursor)
            _sub(receipt, "receivedAt", item.received_at.isoformat())
            _sub(receipt, "payload", base64.b64encode(item.body).decode("ascii"))
        nxt = items[-1].cursor if items else since
        if nxt:
            _sub(out, "next", nxt)
        return out
    if operation == "Lookup":
        known = server.ack(element.findtext(f"{{{TNS}}}messageId") or "")
        out = _el("LookupResponse")
        _sub(out, "found", "true" if known else "false")
        if known:
            out.append(_ack(known))
        return out
    out = _el("PingResponse")
    _sub(out, "status", "ok")
    return out


def _ack(ack: dict) -> etree._Element:
    element = _el("ack")
    for name in ("messageId", "messageType", "status", "deliveries", "payloadSha256", "envelopeSha256",
                 "receivedAt"):
        if name in ack and ack[name] is not None:
            _sub(element, name, str(ack[name]))
    return element


def _el(name: str) -> etree._Element:
    return etree.Element(f"{{{TNS}}}{name}", nsmap={"tns": TNS})


def _sub(parent, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{TNS}}}{name}")
    if text is not None:
        child.text = text
    return child


def _envelope(content: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap-env": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(content)
    return etree.tostring(envelope, encoding="utf-8", xml_declaration=True)


def _fault(fault: SoapFault) -> Response:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap-env": SOAP_ENV})
    element = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(element, "faultcode").text = f"soap-env:{fault.code}"
    etree.SubElement(element, "faultstring").text = fault.text[:2000]
    return Response(etree.tostring(envelope, encoding="utf-8", xml_declaration=True), status=500,
                    content_type="text/xml; charset=utf-8")
