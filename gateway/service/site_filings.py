"""Filings that belong to no single order (docs/site-filings.md): a JSON document in, a signed CEB513
(waybill status), CEB711 (entry list), CEB215 (return tally) or CEB701 (summary application listing
inventories by invtNo) out, built, checked against our schema and signed exactly as an order's filings are
(``Declarer``).

``prepare`` does no I/O. ``prepare_for_tenant`` reads the tenant (its transmitting enterprise, the
enterprise codes registered for it) and signs with the tenant's key, as an order's filings are signed; it
stores nothing: ``site_filing_submit.submit`` stores a document with its filings and their outbox rows on the
tenant's channel; ``gateway file`` without ``--submit`` writes the signed message to a file.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree

from gateway import schemas
from gateway.declarations import ceb_export, ceb_site_filings, keys
from gateway.declarations.common import FilingContext, Transfer
from gateway.domain import site_filings
from gateway.domain.cbec_export.summary import parse_summary_application
from gateway.domain.problems import Problem

from .declare import Declarer, FilingInvalid

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)


@dataclass(frozen=True)
class Kind:
    name: str                  # the command-line / document name
    message_type: str
    what: str
    filer: str                 # the JSON field of the party that files (BaseTransfer names it by default)
    parse: Callable[[object, datetime], Any]
    build: Callable[[Any, FilingContext], etree._Element]
    business_keys: Callable[[Any], list[str]]


def _site(message_type: str):
    return (ceb_site_filings.BUILDERS[message_type],
            lambda document: ceb_site_filings.business_keys(message_type, document))


KINDS = {k.name: k for k in (
    Kind("logistics-status", "CEB513Message", "waybill status (物流运单状态), from the carrier", "logistics",
         lambda data, now: site_filings.parse_logistics_status(data, on=now), *_site("CEB513Message")),
    Kind("entry-list", "CEB711Message", "entry list of direct-mail parcels (入库明细单), from the site operator",
         "operator",
         lambda data, now: site_filings.parse_entry_list(data), *_site("CEB711Message")),
    Kind("return-tally", "CEB215Message", "return tally (理货明细单), from the site operator", "operator",
         lambda data, now: site_filings.parse_return_tally(data), *_site("CEB215Message")),
    Kind("summary", "CEB701Message", "summary application (汇总申请单) listing inventories, from the declarant",
         "declarant",
         lambda data, now: parse_summary_application(data), ceb_export.build_summary_application,
         lambda document: [keys.summary_key(document.summary_no)]),
)}


@dataclass(frozen=True)
class SignedFiling:
    message_type: str
    guid: str
    business_keys: tuple[str, ...]
    signed_bytes: bytes
    sha256: str


def prepare(kind: str, data, *, declarer: Declarer, key, transfer: Transfer, app_time: datetime,
            guid: str | None = None) -> SignedFiling:
    """Parse ``data`` (dict or JSON text) as a ``kind`` document, build, sign and validate the signed
    bytes. Raises OrderInvalid (the input, every problem named by path and rule) or FilingInvalid (the
    built message broke our schema: a gateway bug)."""
    document = KINDS[kind].parse(data, app_time)
    return sign_document(kind, document, declarer=declarer, key=key, transfer=transfer, app_time=app_time, guid=guid)


def sign_document(kind: str, document, *, declarer: Declarer, key, transfer: Transfer, app_time: datetime,
                  guid: str | None = None) -> SignedFiling:
    """Build, sign and validate the message of a parsed ``kind`` document."""
    spec = KINDS[kind]
    ctx = FilingContext(guid=guid or declarer.ids.new_guid(), app_time=app_time, transfer=transfer)
    root = spec.build(document, ctx)
    signed = declarer.signer_for(key).sign(root, key)
    errors = schemas.validate(etree.fromstring(signed, _PARSER))
    if errors:
        raise FilingInvalid([Problem(spec.message_type, "xsd", e) for e in errors])
    return SignedFiling(message_type=spec.message_type, guid=ctx.guid,
                        business_keys=tuple(spec.business_keys(document)),
                        signed_bytes=signed, sha256=hashlib.sha256(signed).hexdigest())


# The flat messages (a CEB514 / CEB216 receipt answers each waybill status / tallied parcel on its own, with
# that entity's guid and key): a stored filing is sent one entity per message, so every receipt names exactly
# one filing (``gateway file`` still writes the whole document as one message).
SPLIT = {"logistics-status": "statuses", "return-tally": "parcels"}


def parts(kind: str, document) -> list:
    """The documents a stored ``kind`` filing is sent as: one per entity for the flat messages, else itself."""
    name = SPLIT.get(kind)
    if name is None:
        return [document]
    return [dataclasses.replace(document, **{name: (item,)}) for item in getattr(document, name)]


class TenantNotFound(Exception):
    pass


def named_enterprises(data) -> list[tuple[str, str]]:
    """(JSON path, code) of every enterprise a valid document names."""
    named = []
    for field in ("logistics", "operator", "declarant", "consignor", "declaration_agent"):
        value = data.get(field) if isinstance(data, dict) else None
        if isinstance(value, dict) and isinstance(value.get("code"), str):
            named.append((f"$.{field}.code", value["code"]))
    return named


def tenant_transfer(uow, tenant_id: str, data) -> Transfer:
    """The tenant's transmitting enterprise, once every enterprise a valid ``data`` names is registered for
    it (rule ``enterprise-not-registered``, as for orders). Raises TenantNotFound or OrderInvalid."""
    from gateway.domain import enterprises
    from gateway.domain.problems import OrderInvalid

    from .tenants import registered_codes

    tenant = uow.tenants.get(tenant_id)
    if tenant is None:
        raise TenantNotFound(f"tenant {tenant_id}")
    registered = registered_codes(uow, tenant)
    foreign = [(path, code) for path, code in named_enterprises(data) if code not in registered]
    if foreign:
        raise OrderInvalid([Problem(path, enterprises.RULE, f"enterprise {code} is not registered for this tenant "
                                    "(the operator registers it: gateway enterprise add)") for path, code in foreign])
    return Transfer(cop_code=tenant.cop_code, cop_name=tenant.cop_name, dxp_id=tenant.dxp_id)


def prepare_for_tenant(uow_factory, declarer: Declarer, key_for, tenant_id: str, kind: str, data, *,
                       app_time: datetime) -> SignedFiling:
    """``prepare`` for a tenant: BaseTransfer is the tenant's transmitting enterprise, the key is the
    tenant's (``key_for(tenant_id)``, the same chooser as orders), and every enterprise the document names
    must be registered for the tenant (rule ``enterprise-not-registered``, as for orders). Raises
    TenantNotFound, OrderInvalid or FilingInvalid; stores nothing (``site_filing_submit.submit`` stores)."""
    from gateway.domain.common.schema import order_object

    data = order_object(data)
    KINDS[kind].parse(data, app_time)          # the input's own problems first
    with uow_factory() as uow:
        transfer = tenant_transfer(uow, tenant_id, data)
    key = key_for(tenant_id) if callable(key_for) else key_for
    return prepare(kind, data, declarer=declarer, key=key, transfer=transfer, app_time=app_time)
