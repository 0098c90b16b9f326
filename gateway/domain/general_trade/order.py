"""The general-trade order (regime 0110, import or export): what a client submits for one customs
declaration (报关单, DecMessage), as typed values (Decimal money, dates, no floats).

Built only by ``gateway.domain.general_trade.intake.parse_gt_order`` (reached through
``gateway.domain.parse.parse_order``) from JSON that passed ``order.schema.json`` beside it and the
rules in ``gateway.domain.general_trade.rules``. Currencies and countries are
held as ISO letters (ISO 4217 / ISO 3166 alpha-3), the form the declaration carries since 2018;
intake converts customs numeric codes to letters (``gateway.reference.codes``).

Names follow the glossary; the DecMessage builder (``gateway.declarations.dec``) is the only place
that maps them to the XML names. Names the glossary does not have yet:

| code | Chinese | DecMessage |
|---|---|---|
| trader | 境内收发货人 (domestic consignee on import, consignor on export) | TradeCode/TradeName/TradeCoScc/TradeCiqCode |
| owner | 消费使用单位 (import) / 生产销售单位 (export) | OwnerCode/OwnerName/OwnerCodeScc/OwnerCiqCode |
| declarant | 申报单位 | AgentCode/AgentName/AgentCodeScc/DeclCiqCode |
| operator | 录入员/申报人员 (IC-card holder) | InputerName/TypistNo/DeclareName, DecSign |
| client_ref | 客户端编号 | DecSign/ClientSeqNo |
| terms | 成交方式 | TransMode |
| levy_nature | 征免性质 | CutMode |
| duty_mode | 征免方式 | DecList/DutyMode |
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

GENERAL_TRADE = "0110"

# 成交方式 (TransMode) by transaction terms, [P] gt notes §1.7; table in force since before 2018.
TERMS = {"CIF": "1", "CFR": "2", "FOB": "3", "C&I": "4", "EXW": "7"}

# Freight / insurance / other-charges marks (FeeMark, InsurMark, OtherMark), [P] gt notes §1.3.
CHARGE_MARKS = {"rate": "1", "per_unit": "2", "total": "3"}


@dataclass(frozen=True)
class Enterprise:
    """A Chinese enterprise as the declaration names it."""

    name: str
    scc: str | None = None          # 18-character unified social credit code
    code: str | None = None         # 10-character customs registration code
    ciq_code: str | None = None     # 10-digit CIQ registration code


@dataclass(frozen=True)
class OverseasParty:
    """境外收发货人: the foreign shipper (import) or buyer (export)."""

    name: str
    code: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Operator:
    """The person who enters and lodges the declaration with an operator IC card (UKey)."""

    name: str
    ic_card: str
    certificate: str | None = None


@dataclass(frozen=True)
class Transport:
    mode: str                       # 运输方式 TrafMode: 2 sea, 3 rail, 4 road, 5 air ...
    departure_port: str             # 启运港 DespPortCode
    destination_port: str           # 经停港/指运港 DistinatePort
    conveyance: str | None = None   # vessel / flight name TrafName
    voyage_no: str | None = None
    bill_no: str | None = None      # B/L or air waybill no.
    departure_date: date | None = None


@dataclass(frozen=True)
class Charge:
    """Freight, insurance or other charges: a rate (percent), a per-unit amount or a total amount."""

    mark: str                       # "rate" | "per_unit" | "total"
    value: Decimal
    currency: str | None = None     # ISO letters; None for a rate


@dataclass(frozen=True)
class PriceDeclaration:
    """价格说明 (PromiseItmes): yes / no / not answered (None)."""

    special_relationship: bool | None = None
    price_influence: bool | None = None
    royalties: bool | None = None
    formula_pricing: bool | None = None
    provisional_price: bool | None = None


@dataclass(frozen=True)
class Document:
    """A licence document (随附单证: code + number), an enterprise qualification or a product licence."""

    code: str
    number: str


@dataclass(frozen=True)
class OtherPack:
    wrap_type: str
    quantity: int


@dataclass(frozen=True)
class Container:
    number: str
    size_type: str
    lines: tuple[int, ...]          # goods line numbers (1-based) in this container
    lcl: bool = False               # less than container load (拼箱)
    goods_weight: Decimal | None = None
    tare_weight: Decimal | None = None


@dataclass(frozen=True)
class RequestedCertificate:
    """A CIQ certificate the declarant asks for (申请单证)."""

    code: str
    originals: int
    copies: int


@dataclass(frozen=True)
class Attachment:
    """An electronic attachment already uploaded to the single window (随附单据)."""

    code: str                       # 00000001 invoice, 00000002 packing list, 00000004 contract ...
    file_id: str                    # EdocID
    format: str = "US"              # S structured, US unstructured (PDF)
    lines: tuple[int, ...] = ()


@dataclass(frozen=True)
class Dangerous:
    un_code: str
    name: str
    pack_type: str | None = None
    pack_spec: str | None = None


@dataclass(frozen=True)
class Inspection:
    """The CIQ fields of one goods line (inside the declaration since 2018, 关检融合)."""

    goods_attributes: tuple[str, ...] = ()   # GoodsAttr codes, e.g. 14 pre-packaged, 19 normal
    purpose: str | None = None               # 用途, e.g. 12 edible, 99 other
    origin_region: str | None = None         # 原产地区
    english_name: str | None = None
    goods_spec: str | None = None
    goods_model: str | None = None
    brand: str | None = None
    production_dates: tuple[date, ...] = ()
    batch_no: str | None = None
    valid_until: date | None = None
    shelf_life: str | None = None
    ingredients: str | None = None
    manufacturer: str | None = None          # foreign manufacturer (EngManEntCnm)
    producer_registration_no: str | None = None    # MnufctrRegNo (export)
    producer_registration_name: str | None = None  # MnufctrRegName (export)
    dangerous: Dangerous | None = None
    not_dangerous: bool | None = None        # NoDangFlag


@dataclass(frozen=True)
class GtLine:
    number: int                      # GNo: 1, 2, 3 … in the order given
    hs_code: str
    name: str
    spec_elements: tuple[str, ...]   # 申报要素, in the catalogue's order; joined with "|"
    quantity: Decimal
    unit: str
    legal_quantity: Decimal
    legal_unit: str
    unit_price: Decimal
    total_price: Decimal
    currency: str                    # ISO letters (the order's currency unless the line says otherwise)
    origin_country: str              # ISO alpha-3
    destination_country: str         # ISO alpha-3
    duty_mode: str                   # 征免方式 1 照章征税 …
    district: str                    # 境内目的地 (import) / 境内货源地 (export), 5 digits
    ciq_code: str | None = None      # 3-digit CIQ code after the HS code
    ciq_name: str | None = None
    second_quantity: Decimal | None = None
    second_unit: str | None = None
    destination_code: str | None = None      # DestCode, 6-digit administrative division (import)
    regulatory_conditions: str = ""          # 监管条件 of the HS line, e.g. "AB"
    inspection_categories: str = ""          # 检验检疫类别, e.g. "R/S"
    inspection: Inspection | None = None
    product_licences: tuple[Document, ...] = ()

    @property
    def spec(self) -> str:
        return "|".join(self.spec_elements)


@dataclass(frozen=True)
class GtOrder:
    client_ref: str                  # becomes DecSign/ClientSeqNo: the idempotency key
    regime: str                      # "0110"
    direction: str                   # "import" | "export"
    declaration_office: str          # 申报地海关 CustomMaster
    port_office: str                 # 进出境关别 IEPort
    entry_port: str                  # 入境/离境口岸 EntyPortCode (6 digits)
    goods_place: str                 # 货物存放地点
    trader: Enterprise
    owner: Enterprise
    declarant: Enterprise
    operator: Operator
    transport: Transport
    trade_country: str               # 贸易国别 TradeAreaCode
    shipping_country: str            # 启运国 (import) / 运抵国 (export) TradeCountry
    terms: str                       # CIF, CFR, FOB, C&I, EXW
    currency: str                    # ISO letters
    packages: int
    wrap_type: str                   # 2-digit package type (post-2018 table)
    gross_weight: Decimal
    net_weight: Decimal
    lines: tuple[GtLine, ...]
    price_declaration: PriceDeclaration = PriceDeclaration()
    freight: Charge | None = None
    insurance: Charge | None = None
    other_charges: Charge | None = None
    overseas_party: OverseasParty | None = None
    destination_office: str | None = None    # 目的地海关 PurpOrgCode (import)
    ie_date: date | None = None
    levy_nature: str | None = None   # 征免性质 CutMode
    contract_no: str | None = None
    license_no: str | None = None
    marks: str | None = None
    note: str | None = None
    other_packs: tuple[OtherPack, ...] = ()
    licence_documents: tuple[Document, ...] = ()
    qualifications: tuple[Document, ...] = ()
    containers: tuple[Container, ...] = ()
    requested_certificates: tuple[RequestedCertificate, ...] = ()
    attachments: tuple[Attachment, ...] = ()

    @property
    def order_no(self) -> str:
        """The order's number in the gateway: the client reference (ClientSeqNo)."""
        return self.client_ref

    @property
    def is_import(self) -> bool:
        return self.direction == "import"

    @property
    def goods_value(self) -> Decimal:
        return sum((line.total_price for line in self.lines), Decimal(0))
