"""Business rules of an export order, checked before any filing is built. Each rule has a stable name.

Pure functions over the typed ``ExportOrder``; they return problems, they never raise. Where an idea
is the same as on import, the rule keeps the import rule's name (goods-value, line-total, net-weight ...).
"""
from __future__ import annotations

from ..common.lines import LINE_RULES, goods_value_problems, line_problems, weight_problems
from ..problems import Problem
from .order import SIMPLIFIED, ExportOrder

CHINA = "142"
UNREGISTERED_OWNER = "NO"

RULES = {
    "goods-value": "goods_value = the sum of the lines' total_price (FOB)",
    "line-total": LINE_RULES["line-total"],
    "payment-amount": "payment.amount = goods_value + freight - discount (the money received for the order)",
    "net-weight": "net_weight <= gross_weight",
    "legal-quantity": LINE_RULES["legal-quantity"],
    "second-unit": LINE_RULES["second-unit"],
    "special-zone-data": ("regimes 1210/1239 need special_zone and every line's item_record_no; "
                          "9610 has no special_zone"),
    "destination-country": "an export goes abroad: the destination countries are not China (142)",
    "owner-code": "owner.code is NO (not registered) or a 10-character customs code or an 18-character credit code",
    "simplified-declaration": "statistics_flag A (simplified) is for goods without licence: no license_no",
    "summary-flag": "summary data only with statistics_flag B",
    "bill-list-transport": "bill_list (CEB607) needs logistics conveyance_name, voyage_no and bill_no",
    "arrival-data": "arrival (CEB507) needs logistics.domestic_conveyance_no",
}


def check(order: ExportOrder) -> list[Problem]:
    problems: list[Problem] = []
    add = problems.append
    lg = order.logistics

    # Amounts
    problems += goods_value_problems(order.goods_value, order.lines)
    for i, line in enumerate(order.lines):
        problems += line_problems(f"$.lines[{i}]", line)
    expected = order.goods_value + lg.freight - order.discount
    if order.payment.amount != expected:
        add(Problem("$.payment.amount", "payment-amount",
                    f"{order.payment.amount} != goods_value {order.goods_value} + freight {lg.freight} - "
                    f"discount {order.discount} = {expected}"))

    # Parcel
    problems += weight_problems("$.logistics.net_weight", lg.net_weight, lg.gross_weight)

    # Regime (ceb-messages.md §7.5: 1210/1239 need iacCode/iacName/emsNo/itemRecordNo)
    if order.is_special_zone:
        if order.special_zone is None:
            add(Problem("$.special_zone", "special-zone-data",
                        f"regime {order.regime} needs the zone enterprise and its account book"))
        for i, line in enumerate(order.lines):
            if not line.item_record_no:
                add(Problem(f"$.lines[{i}].item_record_no", "special-zone-data",
                            f"regime {order.regime} needs the account-book item record number of every line"))
    elif order.special_zone is not None:
        add(Problem("$.special_zone", "special-zone-data",
                    "regime 9610 is not a special-zone export; special_zone would not be filed"))

    if lg.destination_country == CHINA:
        add(Problem("$.logistics.destination_country", "destination-country",
                    "the country of arrival of an export cannot be China (142)"))
    for i, line in enumerate(order.lines):
        if line.final_destination_country == CHINA:
            add(Problem(f"$.lines[{i}].final_destination_country", "destination-country",
                        "the final destination of an export cannot be China (142)"))

    code = order.owner.code
    if code != UNREGISTERED_OWNER and len(code) not in (10, 18):
        add(Problem("$.owner.code", "owner-code",
                    f"{code!r} has {len(code)} characters: give the 10-character customs code, the "
                    "18-character unified social credit code, or NO when the owner is not registered"))

    # Declaration type (statisticsFlag, ceb-messages.md §3.1)
    if order.statistics_flag == SIMPLIFIED:
        if order.license_no is not None:
            add(Problem("$.license_no", "simplified-declaration",
                        "statistics_flag A is only for goods that need no licence, export duty or rebate; "
                        "goods with a licence are declared with statistics_flag B"))
        if order.summary is not None:
            add(Problem("$.summary", "summary-flag",
                        "statistics_flag A (simplified) has no summary application; use B or drop summary"))

    # Later filings
    if order.bill_list:
        for field in ("conveyance_name", "voyage_no", "bill_no"):
            if getattr(lg, field) is None:
                add(Problem(f"$.logistics.{field}", "bill-list-transport",
                            f"the master/house bill list (CEB607) needs logistics.{field}"))
    if order.arrival is not None and lg.domestic_conveyance_no is None:
        add(Problem("$.logistics.domestic_conveyance_no", "arrival-data",
                    "the arrival report (CEB507) needs the vehicle that brings the goods to the site"))
    return problems
