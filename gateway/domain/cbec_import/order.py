"""The order model: what a client submits, as typed values (Decimal money, no floats).

Built only by ``gateway.domain.cbec_import.intake.parse_import_order`` (reached through
``gateway.domain.parse.parse_order``) from JSON that already passed the order schema.
Names follow docs/glossary (English in code); the builders map them to the CEB spelling.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..common.lines import LineInspection
from ..common.parties import Party


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Logistics:
    company: Party
    waybill_no: str
    freight: Decimal
    insurance: Decimal
    gross_weight: Decimal
    net_weight: Decimal
    packages: int
    transport_mode: str
    conveyance_no: str | None = None
    voyage_no: str | None = None
    bill_no: str | None = None
    shipping_country: str | None = None
    wrap_type: str | None = None
    goods_info: str | None = None


@dataclass(frozen=True)
class Buyer:
    registration_no: str
    name: str
    id_type: str
    id_number: str
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


@dataclass(frozen=True)
class Line:
    number: int                 # gnum: 1, 2, 3 … in the order given
    hs_code: str
    name: str
    spec: str
    origin_country: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    total_price: Decimal
    legal_quantity: Decimal
    legal_unit: str
    item_no: str | None = None
    item_record_no: str | None = None
    description: str | None = None
    barcode: str | None = None
    trade_country: str | None = None
    second_quantity: Decimal | None = None
    second_unit: str | None = None
    note: str | None = None
    inspection: LineInspection | None = None


@dataclass(frozen=True)
class Order:
    order_no: str
    regime: str                 # "1210" bonded import, "9610" direct-mail import
    direction: str              # "import"
    customs_code: str
    port_code: str
    platform: Party
    merchant: Party
    declarant: Party
    guarantor_code: str
    goods_value: Decimal
    discount: Decimal
    tax_withheld: Decimal
    actual_paid: Decimal
    payment: Payment
    logistics: Logistics
    buyer: Buyer
    consignee: Consignee
    lines: tuple[Line, ...]
    bonded: Bonded | None = None
    ordered_at: datetime | None = None
    supervision_site: str | None = None
    license_no: str | None = None
    batch_numbers: str | None = None
    note: str | None = None

    @property
    def freight(self) -> Decimal:
        return self.logistics.freight

    @property
    def is_bonded(self) -> bool:
        return self.regime == "1210"
