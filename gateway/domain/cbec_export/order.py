"""The export order model (9610 general export, 1210/1239 special-zone export): typed values,
Decimal money, no floats.

Built only by ``gateway.domain.cbec_export.intake.parse_export_order`` (reached through
``gateway.domain.parse.parse_order`` when ``direction`` is ``"export"``) from JSON that passed
``order.schema.json`` beside it. Names follow the glossary; the export builders
(``gateway.declarations.ceb_export``) map them to the CEB spelling. Ideas shared with the import order
keep the import name (``platform``, ``merchant``, ``declarant``, ``waybill_no``, ``freight`` ...).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from ..common.cbec import CbecLine, CbecOrder, Parcel
from ..common.parties import Party

EXPORT_REGIMES = ("9610", "1210", "1239")
SPECIAL_ZONE_REGIMES = ("1210", "1239")
SIMPLIFIED = "A"      # statisticsFlag A 简化申报: no summary follows
SUMMARY = "B"         # statisticsFlag B 汇总申报: a CEB701 summary application follows


@dataclass(frozen=True)
class PaymentCompany:
    """The payment company of a receipt of payment. Its customs code is required for domestic
    companies only (CEB403 ``payCode``); for cash the name is ``现金支付``."""

    name: str
    code: str | None = None


@dataclass(frozen=True)
class ReceivedPayment:
    """The receipt of payment (收款单, CEB403): the money the merchant received for the order."""

    company: PaymentCompany
    amount: Decimal                 # charge, in the order's currency
    received_at: datetime           # accountingDate 到账时间
    transaction_no: str | None = None


@dataclass(frozen=True, kw_only=True)
class ExportLogistics(Parcel):
    wrap_type: str
    goods_info: str
    destination_country: str        # 运抵国 (country of arrival)
    destination_port: str           # 指运港 (port of destination)
    conveyance_name: str | None = None       # 运输工具名称 (vessel, flight)
    total_package_no: str | None = None      # 总包号 (pallet / mail bag)
    domestic_conveyance_no: str | None = None  # 境内运输工具编号 (e.g. the truck to the site)


@dataclass(frozen=True, kw_only=True)
class ExportLine(CbecLine):
    item_no: str
    final_destination_country: str | None = None  # 最终目的国; None: the logistics destination country


@dataclass(frozen=True)
class SpecialZone:
    """1210/1239: the enterprise in the special customs zone and its account book."""

    enterprise: Party               # iacCode / iacName 区内企业
    account_book_no: str            # emsNo


@dataclass(frozen=True)
class Summary:
    """What the CEB701 summary application needs (statisticsFlag B)."""

    declaration_agent: Party        # declAgentCode / declAgentName: declarant of the customs declaration
    by_owner: bool = False          # summaryFlag 2 (by consignor and owner) instead of 1 (by consignor)


@dataclass(frozen=True)
class Arrival:
    """Arrival of the parcel at the supervised site (CEB507, by the site operator)."""

    operator: Party                 # operatorCode / operatorName 监管场所经营人


@dataclass(frozen=True)
class Departure:
    """Departure of the conveyance (CEB509, by the carrier)."""

    left_at: datetime


@dataclass(frozen=True, kw_only=True)
class ExportOrder(CbecOrder):
    regime: str                     # "9610", "1210", "1239"
    direction: str                  # "export"
    statistics_flag: str            # "A" simplified, "B" summary
    merchant: Party                 # the consignor of the inventory (收发货人)
    owner: Party                    # producer / seller (生产销售单位); code "NO" when not registered
    currency: str                   # customs currency code of every amount of the order
    goods_value: Decimal            # FOB, incl. non-cash deductions
    discount: Decimal               # non-cash deductions (coupons, points): not in the payment
    payment: ReceivedPayment
    logistics: ExportLogistics
    lines: tuple[ExportLine, ...]
    special_zone: SpecialZone | None = None
    summary: Summary | None = None  # as given; for statisticsFlag B intake fills in the defaults
    arrival: Arrival | None = None
    departure: Departure | None = None
    bill_list: bool = False         # file a CEB607 master/house bill list
    export_date: date | None = None

    @property
    def is_special_zone(self) -> bool:
        return self.regime in SPECIAL_ZONE_REGIMES

    @property
    def needs_summary(self) -> bool:
        return self.statistics_flag == SUMMARY
