"""Business rules of a general-trade declaration (regime 0110), checked before anything is built.
Each rule has a stable name (``RULES``); every problem names a JSON path into the order.

Pure functions; they return problems, they never raise. Code lookups go through
``gateway.reference.codes`` (the one code-table module, with effective dates).
"""
from __future__ import annotations

import copy
from datetime import date

from gateway.reference import codes, hs

from ..common.lines import LINE_RULES, line_problems, weight_problems
from ..problems import Problem
from .order import GtOrder

RULES = {
    "currency-code": "a currency is an ISO 4217 code (or customs numeric code) known on the declaration date",
    "country-code": "a country is an ISO 3166 alpha-3 code (or customs numeric code) known on the declaration date",
    "legal-units": "legal_unit (and second_unit) are the legal units of the HS line, where the reference HS data "
                   "knows the line",
    **LINE_RULES,
    "net-weight": "net_weight <= gross_weight",
    "charge-value": "a charge is above 0; a rate (percent) is at most 100 and has no currency",
    "charges-for-terms": "freight and insurance are declared exactly when the terms leave them out of the price "
                         "(import, value basis CIF: FOB/EXW both, CFR insurance, C&I freight, CIF none; "
                         "export, value basis FOB: CIF both, CFR freight, C&I insurance, FOB/EXW none)",
    "destination-country": "an import line's destination_country is CHN; an export line's is not",
    "line-references": "container and attachment line numbers name lines of the order",
    "enterprise-codes": "trader and declarant carry code and scc; owner carries scc (or code NO)",
    "price-declaration": "an import answers special_relationship, price_influence and royalties (PromiseItmes)",
    "spec-elements": "申报要素 values contain no '|' and join to at most 255 characters",
    "inspection-fields": "a legally inspected line (监管条件 A on import, B on export) has ciq_code, "
                         "inspection.goods_attributes and inspection.purpose",
    "food-inspection": "a food line (检验检疫类别 R on import, S on export) has production_dates and batch_no; "
                       "an import food line also names its foreign manufacturer",
    "ccc-attribute": "a line of inspection category L has a 3C goods attribute (11, 12 or 13)",
}

CHINA = "CHN"
CCC_ATTRIBUTES = {"11", "12", "13"}

# Which charges the declared price leaves out, by direction and terms (the declaration's value basis
# is CIF for imports and FOB for exports). Common declaration practice, not from an official text [U].
_CHARGES_NEEDED = {
    ("import", "CIF"): set(), ("import", "CFR"): {"insurance"}, ("import", "C&I"): {"freight"},
    ("import", "FOB"): {"freight", "insurance"}, ("import", "EXW"): {"freight", "insurance"},
    ("export", "FOB"): set(), ("export", "EXW"): set(), ("export", "CFR"): {"freight"},
    ("export", "C&I"): {"insurance"}, ("export", "CIF"): {"freight", "insurance"},
}


# -- codes (run on the JSON before the typed order is built) -------------------------------------------

def _lookup(function, value: str, on: date) -> str | None:
    try:
        found = function(value, on=on)
    except (LookupError, ValueError):
        return None
    return found or None


def _currency(value: str, on: date) -> str | None:
    """ISO letters for a currency given as letters or customs numeric code; None when unknown on ``on``."""
    if value.isdigit():
        return _lookup(codes.currency_iso, value, on)
    return value if _lookup(codes.currency_numeric, value, on) else None


def _country(value: str, on: date) -> str | None:
    if value.isdigit():
        return _lookup(codes.country_iso, value, on)
    return value if _lookup(codes.country_numeric, value, on) else None


def hs_line(hs_code: str, on: date):
    """The reference data's HS line (legal units, 监管条件, 检验检疫类别) on ``on``, or None if unknown."""
    try:
        return hs.hs_line(hs_code, on=on)
    except LookupError:
        return None


def normalise_codes(data: dict, on: date) -> tuple[dict, list[Problem]]:
    """(a copy of ``data`` with every currency and country as ISO letters, problems for unknown codes
    and for legal units that are not the HS line's).

    ``data`` has passed the schema. Unknown codes stay as given, so the other rules still run. A line
    that does not state its 监管条件 / 检验检疫类别 takes them from the reference HS data."""
    data = copy.deepcopy(data)
    problems: list[Problem] = []
    for i, line in enumerate(data.get("lines", [])):
        known = hs_line(line["hs_code"], on)
        if known is None:
            continue
        line.setdefault("regulatory_conditions", known.regulatory_conditions)
        line.setdefault("inspection_categories", known.inspection_categories)
        if line["legal_unit"] != known.unit1:
            problems.append(Problem(f"$.lines[{i}].legal_unit", "legal-units",
                                    f"the first legal unit of {line['hs_code']} is {known.unit1}, not {line['legal_unit']}"))
        if line.get("second_unit") != known.unit2:
            want = f"is {known.unit2}" if known.unit2 else "does not exist"
            problems.append(Problem(f"$.lines[{i}].second_unit", "legal-units",
                                    f"the second legal unit of {line['hs_code']} {want}; got {line.get('second_unit')}"))

    def fix(holder: dict, key: str, path: str, kind: str) -> None:
        value = holder.get(key)
        if value is None:
            return
        found = (_currency if kind == "currency" else _country)(value, on)
        if found is None:
            what = "ISO 4217 currency" if kind == "currency" else "ISO 3166 alpha-3 country"
            problems.append(Problem(f"{path}.{key}", f"{kind}-code",
                                    f"{value!r} is not a known {what} (letters or customs numeric code) on {on}"))
        else:
            holder[key] = found

    fix(data, "currency", "$", "currency")
    fix(data, "trade_country", "$", "country")
    fix(data, "shipping_country", "$", "country")
    for name in ("freight", "insurance", "other_charges"):
        if isinstance(data.get(name), dict):
            fix(data[name], "currency", f"$.{name}", "currency")
    for i, line in enumerate(data.get("lines", [])):
        fix(line, "currency", f"$.lines[{i}]", "currency")
        fix(line, "origin_country", f"$.lines[{i}]", "country")
        fix(line, "destination_country", f"$.lines[{i}]", "country")
    return data, problems


# -- rules on the typed order ---------------------------------------------------------------------------

def check(order: GtOrder) -> list[Problem]:
    problems: list[Problem] = []
    add = problems.append
    n_lines = len(order.lines)

    for i, line in enumerate(order.lines):
        at = f"$.lines[{i}]"
        problems.extend(line_problems(at, line))
        if order.is_import and line.destination_country != CHINA:
            add(Problem(f"{at}.destination_country", "destination-country",
                        f"an import's final destination is China (CHN), got {line.destination_country}"))
        if not order.is_import and line.destination_country == CHINA:
            add(Problem(f"{at}.destination_country", "destination-country",
                        "an export's final destination is a country other than China"))
        if any("|" in element for element in line.spec_elements):
            add(Problem(f"{at}.spec_elements", "spec-elements", "an element value contains '|', the separator"))
        elif len(line.spec) > 255:
            add(Problem(f"{at}.spec_elements", "spec-elements",
                        f"the elements join to {len(line.spec)} characters, more than 255"))
        problems.extend(_inspection_problems(order, line, at))

    problems.extend(weight_problems("$.net_weight", order.net_weight, order.gross_weight))

    for name in ("freight", "insurance", "other_charges"):
        charge = getattr(order, name)
        if charge is None:
            continue
        if charge.value <= 0:
            add(Problem(f"$.{name}.value", "charge-value", "a charge is greater than 0; leave out a charge of 0"))
        if charge.mark == "rate":
            if charge.value > 100:
                add(Problem(f"$.{name}.value", "charge-value", f"a rate is a percentage, at most 100; got {charge.value}"))
            if charge.currency is not None:
                add(Problem(f"$.{name}.currency", "charge-value", "a rate has no currency"))
    needed = _CHARGES_NEEDED[(order.direction, order.terms)]
    for name in ("freight", "insurance"):
        given = getattr(order, name) is not None
        if name in needed and not given:
            add(Problem(f"$.{name}", "charges-for-terms",
                        f"{order.direction} on {order.terms} terms: the price excludes {name}, declare it"))
        elif name not in needed and given:
            add(Problem(f"$.{name}", "charges-for-terms",
                        f"{order.direction} on {order.terms} terms: the price already includes {name}, leave it out"))

    for c, container in enumerate(order.containers):
        for n in container.lines:
            if n > n_lines:
                add(Problem(f"$.containers[{c}].lines", "line-references", f"line {n} does not exist ({n_lines} lines)"))
    for a, attachment in enumerate(order.attachments):
        for n in attachment.lines:
            if n > n_lines:
                add(Problem(f"$.attachments[{a}].lines", "line-references", f"line {n} does not exist ({n_lines} lines)"))

    for path, party, needs in (("$.trader", order.trader, ("code", "scc")),
                               ("$.declarant", order.declarant, ("code", "scc"))):
        for field in needs:
            if not getattr(party, field):
                add(Problem(f"{path}.{field}", "enterprise-codes", f"the declaration needs the {path[2:]}'s {field}"))
    if not order.owner.scc and order.owner.code != "NO":
        add(Problem("$.owner.scc", "enterprise-codes", "the declaration needs the owner's scc (or owner code NO)"))

    if order.is_import:
        pd = order.price_declaration
        for field in ("special_relationship", "price_influence", "royalties"):
            if getattr(pd, field) is None:
                add(Problem(f"$.price_declaration.{field}", "price-declaration",
                            f"an import declares {field} (yes or no)"))
    return problems


def _inspection_problems(order: GtOrder, line, at: str) -> list[Problem]:
    problems = []
    flag = "A" if order.is_import else "B"
    ciq = line.inspection
    if flag in line.regulatory_conditions.upper():
        missing = []
        if not line.ciq_code:
            missing.append("ciq_code")
        if ciq is None or not ciq.goods_attributes:
            missing.append("inspection.goods_attributes")
        if ciq is None or not ciq.purpose:
            missing.append("inspection.purpose")
        for field in missing:
            problems.append(Problem(f"{at}.{field}", "inspection-fields",
                                    f"监管条件 {line.regulatory_conditions} includes {flag} (legal inspection): "
                                    f"{field} is required"))
    categories = set(line.inspection_categories) - {"/", "."}
    food = "R" if order.is_import else "S"
    if food in categories:
        missing = []
        if ciq is None or not ciq.production_dates:
            missing.append("inspection.production_dates")
        if ciq is None or not ciq.batch_no:
            missing.append("inspection.batch_no")
        if order.is_import and (ciq is None or not ciq.manufacturer):
            missing.append("inspection.manufacturer")
        for field in missing:
            problems.append(Problem(f"{at}.{field}", "food-inspection",
                                    f"检验检疫类别 {line.inspection_categories} includes {food} (food): {field} is required"))
    if "L" in categories and (ciq is None or not CCC_ATTRIBUTES & set(ciq.goods_attributes)):
        problems.append(Problem(f"{at}.inspection.goods_attributes", "ccc-attribute",
                                "检验检疫类别 L (CCC): goods_attributes needs 11, 12 or 13"))
    return problems
