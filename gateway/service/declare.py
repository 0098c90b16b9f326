"""Order -> signed filings: plan, build, validate (XSD and 三单对碰), sign.

No database and no network here: the caller stores the result. Everything expensive (schemas,
keys, the signer) is built once and passed in; per order only the documents are built.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from lxml import etree

from gateway import STANDARD, __version__, schemas
from gateway.declarations import matching
from gateway.declarations.agency_records import AgencyContext
from gateway.declarations.builders import BUILDERS, business_key
from gateway.declarations.ceb_export import build_ceb701
from gateway.declarations.common import FilingContext, Transfer
from gateway.domain.agencies import RECORD_TYPES, Assessment, assess
from gateway.domain.common.dates import china_date
from gateway.domain.parse import AnyOrder
from gateway.domain.planning import PlannedFiling, plan, plan_agencies
from gateway.domain.problems import Problem
from gateway.ports import IdGenerator
from gateway.signing import KeyMaterial, XmlSigner
from gateway.signing.hardware import TokenKey

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)


class FilingInvalid(Exception):
    """A built document broke our schema or the cross-document match: a gateway bug or data the
    order schema let through. Nothing is stored."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class BuiltFiling:
    message_type: str
    agency: str
    sequence: int
    guid: str
    business_key: str
    signed_bytes: bytes
    sha256: str


def new_cop_no(guid: str) -> str:
    """The enterprise-internal number of an inventory: 'GW' + 18 hex characters (72 bits) of the
    SHA-256 of a fresh guid (C..20; unique across tenants, so receipts can be matched by it alone)."""
    return "GW" + hashlib.sha256(guid.encode()).hexdigest()[:18].upper()


@dataclass(frozen=True)
class Prepared:
    """An order's filings built and matched, not signed (``Declarer.prepare``): (plan entry, root, context) each."""
    order: AnyOrder
    filings: list[tuple[PlannedFiling, etree._Element, FilingContext]]


# the late CEB701 of a statisticsFlag-B export order: same guid, copNo and business key as the planned one
_SUMMARY = PlannedFiling("CEB701Message", "customs", 3)


class Declarer:
    def __init__(self, signer: XmlSigner, ids: IdGenerator, signers: dict[str, XmlSigner] | None = None):
        """``signers``: key type ("rsa", "sm2") -> signer, for tenants whose key (from the key store)
        is of another type than the gateway key; ``signer`` serves everything else."""
        self.signer = signer
        self.ids = ids
        self.signers = dict(signers or {})

    def signer_for(self, key) -> XmlSigner:
        key_type = getattr(key, "key_type", None)
        return self.signer if key_type is None else self.signers.get(key_type, self.signer)

    def built_with(self, key=None) -> dict:
        algs = self.signer_for(key).algorithms
        return {"gateway": __version__, "standard": STANDARD, "schemas": schemas.version(),
                "signature": algs.signature_method, "digest": algs.digest_method}

    def declare(self, order: AnyOrder, *, transfer: Transfer, key: KeyMaterial | TokenKey, app_time: datetime,
                cop_no: str, guids: dict[str, str] | None = None, assessment: Assessment | None = None,
                annual_used: Decimal | None = None, agencies: bool = True) -> list[BuiltFiling]:
        """Build, check and sign every filing of ``order``: the customs filings of its regime and the
        inspection, tax and FX records of its ``assessment`` (one entry, four agencies). Without an
        assessment it is made here (``agencies.assess`` at the China date of ``app_time``, with
        ``annual_used``: the buyer's annual amount before this order; raises OrderInvalid like intake).
        ``agencies=False`` builds the customs filings only (orders stored before agency filings existed).
        ``guids`` (message type -> guid) lets a replay reuse the original ids; new ones are drawn otherwise."""
        prepared = self.prepare(order, transfer=transfer, key=key, app_time=app_time, cop_no=cop_no, guids=guids,
                                assessment=assessment, annual_used=annual_used, agencies=agencies)
        result, = self.sign_prepared([prepared], key)
        if isinstance(result, FilingInvalid):
            raise result
        return result

    def prepare(self, order: AnyOrder, *, transfer: Transfer, key: KeyMaterial | TokenKey, app_time: datetime,
                cop_no: str, guids: dict[str, str] | None = None, assessment: Assessment | None = None,
                annual_used: Decimal | None = None, agencies: bool = True) -> Prepared:
        """The first half of ``declare`` (same arguments): every filing built and matched (raises FilingInvalid),
        guids drawn; ``sign_prepared`` signs and validates them. Batch intake prepares many orders, then signs
        them together."""
        planned = plan(order)
        if agencies:
            if assessment is None:
                assessment = assess(order, declared_on=china_date(app_time), annual_used=annual_used or Decimal(0))
            planned = planned + plan_agencies(order, assessment)
        roots, contexts = {}, {}
        for p in planned:
            guid = (guids or {}).get(p.message_type) or self.ids.new_guid()
            ctx: FilingContext
            if p.message_type in RECORD_TYPES:
                ctx = AgencyContext(guid=guid, app_time=app_time, transfer=transfer, cop_no=cop_no,
                                    assessment=assessment)
            else:
                ctx = FilingContext(guid=guid, app_time=app_time, transfer=transfer, cop_no=cop_no)
            roots[p.message_type] = BUILDERS[p.message_type](order, ctx)
            contexts[p.message_type] = ctx
        problems = matching.check(roots) + matching.check_export(roots)
        if problems:
            raise FilingInvalid(problems)
        return Prepared(order, [(p, roots[p.message_type], contexts[p.message_type]) for p in planned])

    def sign_prepared(self, prepared: list[Prepared], key: KeyMaterial | TokenKey
                      ) -> list[list[BuiltFiling] | FilingInvalid]:
        """Sign the filings of every ``prepared`` order with ``key`` and validate exactly what will be sent
        (the signed tree, signature in place, whose serialisation the bytes are: not parsed back), all the
        signatures back to back (``XmlSigner.sign_checked_all``). Per order, in order: its filings, or the
        FilingInvalid of its first refused filing, reported on its signed bytes parsed again so its problems
        name lines as a receiver would see them."""
        roots = [root for one in prepared for _, root, _ in one.filings]
        results = iter(self.signer_for(key).sign_checked_all(roots, key, schemas.validate))
        out: list[list[BuiltFiling] | FilingInvalid] = []
        for one in prepared:
            signed_all = [next(results) for _ in one.filings]
            refused = [(p, signed, errors) for (p, _, _), (signed, errors) in zip(one.filings, signed_all, strict=True)
                       if errors]
            if refused:
                p, signed, errors = refused[0]
                errors = schemas.validate(etree.fromstring(signed, _PARSER)) or errors
                out.append(FilingInvalid([Problem(p.message_type, "xsd", e) for e in errors]))
                continue
            out.append([BuiltFiling(
                message_type=p.message_type, agency=p.agency, sequence=p.sequence, guid=ctx.guid,
                business_key=business_key(p.message_type, one.order, ctx), signed_bytes=signed,
                sha256=hashlib.sha256(signed).hexdigest())
                for (p, _, ctx), (signed, _) in zip(one.filings, signed_all, strict=True)])
        return out

    def order_summary(self, order, *, transfer: Transfer, key: KeyMaterial | TokenKey, app_time: datetime, cop_no: str,
                      guid: str, inventory_numbers: list[str]) -> BuiltFiling:
        """The CEB701 of a statisticsFlag-B export order built late, once customs numbered its inventory:
        it lists ``inventory_numbers`` (SummaryApplyList/invtNo, as the official sample) instead of the
        one-second window it is planned with (docs/export.md "The order's summary"). Same guid, copNo and
        business key as the planned one; signed with ``key`` and validated as ``declare`` does."""
        ctx = FilingContext(guid=guid, app_time=app_time, transfer=transfer, cop_no=cop_no)
        root = build_ceb701(order, ctx, inventory_numbers=inventory_numbers)
        result, = self.sign_prepared([Prepared(order, [(_SUMMARY, root, ctx)])], key)
        if isinstance(result, FilingInvalid):
            raise result
        return result[0]
