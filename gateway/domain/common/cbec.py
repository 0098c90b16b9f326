"""What a CBEC import order and a CBEC export order share: the order's head, its goods lines and its
parcel. Each format adds its own fields (``cbec_import.order``, ``cbec_export.order``); intake reads
the shared ones with ``head_fields``, ``line_fields`` and ``parcel_fields``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .dates import parse_datetime
from .lines import LineInspection, line_inspection, optional_decimal
from .money import to_decimal
from .parties import Party, party


@dataclass(frozen=True, kw_only=True)
class CbecLine:
    number: int                 # gnum: 1, 2, 3 … in the order given
    hs_code: str
    name: str
    spec: str
    quantity: Decimal
    unit: str
    unit_price: Decimal         # export: FOB
    total_price: Decimal
    legal_quantity: Decimal
    legal_unit: str
    item_record_no: str | None = None
    description: str | None = None
    barcode: str | None = None
    second_quantity: Decimal | None = None
    second_unit: str | None = None
    note: str | None = None
    inspection: LineInspection | None = None


@dataclass(frozen=True, kw_only=True)
class Parcel:
    company: Party              # the carrier
    waybill_no: str
    freight: Decimal
    insurance: Decimal
    gross_weight: Decimal
    net_weight: Decimal
    packages: int
    transport_mode: str
    voyage_no: str | None = None
    bill_no: str | None = None  # master bill of lading / air waybill


@dataclass(frozen=True, kw_only=True)
class CbecOrder:
    order_no: str
    regime: str
    direction: str
    customs_code: str
    port_code: str
    platform: Party
    merchant: Party
    declarant: Party
    goods_value: Decimal
    discount: Decimal
    logistics: Parcel
    lines: tuple[CbecLine, ...]
    ordered_at: datetime | None = None
    supervision_site: str | None = None
    license_no: str | None = None
    note: str | None = None

    @property
    def freight(self) -> Decimal:
        return self.logistics.freight


def line_fields(i: int, ln: dict) -> dict:
    """The ``CbecLine`` fields of the i-th line of the order's JSON."""
    return dict(
        number=i + 1, hs_code=ln["hs_code"], name=ln["name"], spec=ln["spec"],
        quantity=to_decimal(ln["quantity"]), unit=ln["unit"], unit_price=to_decimal(ln["unit_price"]),
        total_price=to_decimal(ln["total_price"]), legal_quantity=to_decimal(ln["legal_quantity"]),
        legal_unit=ln["legal_unit"], item_record_no=ln.get("item_record_no"), description=ln.get("description"),
        barcode=ln.get("barcode"), second_quantity=optional_decimal(ln, "second_quantity"),
        second_unit=ln.get("second_unit"), note=ln.get("note"), inspection=line_inspection(ln.get("inspection")),
    )


def parcel_fields(lg: dict) -> dict:
    """The ``Parcel`` fields of the order's ``logistics``."""
    return dict(
        company=party(lg["company"]), waybill_no=lg["waybill_no"], freight=to_decimal(lg["freight"]),
        insurance=to_decimal(lg["insurance"]), gross_weight=to_decimal(lg["gross_weight"]),
        net_weight=to_decimal(lg["net_weight"]), packages=lg["packages"], transport_mode=lg["transport_mode"],
        voyage_no=lg.get("voyage_no"), bill_no=lg.get("bill_no"),
    )


def head_fields(data: dict) -> dict:
    """The ``CbecOrder`` fields of the order's JSON, but for its logistics and lines."""
    return dict(
        order_no=data["order_no"], regime=data["regime"], direction=data["direction"],
        customs_code=data["customs_code"], port_code=data["port_code"],
        platform=party(data["platform"]), merchant=party(data["merchant"]), declarant=party(data["declarant"]),
        goods_value=to_decimal(data["goods_value"]), discount=to_decimal(data.get("discount", "0")),
        ordered_at=parse_datetime(data["ordered_at"]) if "ordered_at" in data else None,
        supervision_site=data.get("supervision_site"), license_no=data.get("license_no"), note=data.get("note"),
    )
