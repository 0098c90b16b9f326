"""The order model: what a client submits, as typed values (Decimal money, no floats).

Built only by ``gateway.domain.cbec_import.intake.parse_import_order`` (reached through
``gateway.domain.parse.parse_order``) from JSON that already passed the order schema.
Names follow docs/glossary (English in code); the builders map them to the CEB spelling.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..common.cbec import CbecLine, CbecOrder, Parcel
from ..common.parties import Party


@dataclass(frozen=True, kw_only=True)
class Person:
    name: str
    id_type: str
    id_number: str
    telephone: str | None = None


@dataclass(frozen=True)
class Payment:
    company: Party
    transaction_no: str
    amount: Decimal
    paid_at: datetime
    payer: Person


@dataclass(frozen=True, kw_only=True)
class Logistics(Parcel):
    conveyance_no: str | None = None
    shipping_country: str | None = None
    wrap_type: str | None = None
    goods_info: str | None = None


@dataclass(frozen=True, kw_only=True)
class Buyer(Person):
    """The buyer: a person registered on the platform (orderer); the telephone is required."""

    registration_no: str
    telephone: str


@dataclass(frozen=True)
class Consignee:
    name: str
    telephone: str
    address: str
    district: str | None = None


@dataclass(frozen=True)
class Bonded:
    account_book_no: str
    area: Party


@dataclass(frozen=True, kw_only=True)
class Line(CbecLine):
    origin_country: str
    item_no: str | None = None
    trade_country: str | None = None


@dataclass(frozen=True, kw_only=True)
class Order(CbecOrder):
    regime: str                 # "1210" bonded import, "9610" direct-mail import
    direction: str              # "import"
    guarantor_code: str
    tax_withheld: Decimal
    actual_paid: Decimal
    payment: Payment
    logistics: Logistics
    buyer: Buyer
    consignee: Consignee
    lines: tuple[Line, ...]
    bonded: Bonded | None = None
    batch_numbers: str | None = None

    @property
    def is_bonded(self) -> bool:
        return self.regime == "1210"