"""Rule sets: the dated policy parameters a computation uses, named and versioned.

A filing records ``ruleset.id`` (e.g. "CN-2019-04@2"): the name says from when the rules apply,
the version changes whenever a parameter of that period is corrected. ``ruleset_for(date)`` picks
the set in force on a date (an order's date, see ``gateway.domain.common.dates.order_date``).

Sources and confidence: shared/domain/ceb-messages.md 7.4 and general-trade-inspection-fx-tax.md
3.1, 4.3, 4.4. Limits 2,000/20,000 (from 2016-04-08, 财关税〔2016〕18号) and 5,000/26,000 (from
2019-01-01, 财关税〔2018〕49号) with the single-item exception since 2019 [P]; 70 % [P]; VAT steps
17->16 (2018-05-01), 16->13 (2019-04-01), 13->11 (2017-07-01), 11->10 (2018-05-01), 10->9 (2019-04-01)
[U, general knowledge]; 50 CNY general-trade minimum and 3 per mille insurance [U]; USD 50,000
payment-institution limit (汇发〔2015〕7号) [C], whether the 2019 Measures keep it [U] (kept here).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypedDict

__all__ = ["NoRuleSet", "RULESETS", "RuleSet", "ruleset", "ruleset_for"]


class NoRuleSet(LookupError):
    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class RuleSet:
    name: str
    version: int
    valid_from: date
    valid_to: date | None                      # exclusive
    title: str
    vat_standard: Decimal                      # VAT rates in force (fractions)
    vat_reduced: Decimal
    cbec_single_limit: Decimal                 # CNY, dutiable value of one transaction
    cbec_annual_limit: Decimal                 # CNY per buyer per calendar year
    cbec_levied_share: Decimal                 # 0.7: VAT and CT levied at 70 % within the limits
    cbec_single_item_over_limit: bool          # one item over the single limit may pass, taxed in full
    cbec_discount_reduces_value: bool          # the order's discount lowers the dutiable value [U]
    general_minimum_tax: Decimal               # a tax below this (per declaration) is not levied [U]
    default_insurance_rate: Decimal            # insurance unknown: 3 per mille of (goods + freight) [U]
    payment_institution_limit_usd: Decimal     # per transaction, USD equivalent
    confidence: str = "P/U"

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on < self.valid_to)

    @property
    def vat_rates(self) -> tuple[Decimal, Decimal]:
        return (self.vat_standard, self.vat_reduced)

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "version": self.version, "title": self.title,
                "valid_from": self.valid_from.isoformat(),
                "valid_to": self.valid_to.isoformat() if self.valid_to else None,
                "vat_rates": [str(self.vat_standard), str(self.vat_reduced)],
                "cbec_single_limit": str(self.cbec_single_limit),
                "cbec_annual_limit": str(self.cbec_annual_limit),
                "cbec_levied_share": str(self.cbec_levied_share),
                "cbec_single_item_over_limit": self.cbec_single_item_over_limit,
                "payment_institution_limit_usd": str(self.payment_institution_limit_usd)}


class _Common(TypedDict):
    """The parameters every rule set so far shares (typed, so ``**_COMMON`` is checked field by field)."""
    cbec_levied_share: Decimal
    cbec_discount_reduces_value: bool
    general_minimum_tax: Decimal
    default_insurance_rate: Decimal
    payment_institution_limit_usd: Decimal


D = Decimal
# cbec_discount_reduces_value: False (version 2 of every set; version 1 deducted the discount).
# Customs computes the CBEC tax from what the inventory (CEB621)
# declares, line prices, freight and insurance; the inventory carries no discount (only the CEB311
# order does), so a discount not reflected in the line prices does not lower the tax (intake says so).
_COMMON: _Common = {"cbec_levied_share": D("0.7"), "cbec_discount_reduces_value": False,
                    "general_minimum_tax": D("50"), "default_insurance_rate": D("0.003"),
                    "payment_institution_limit_usd": D("50000")}

RULESETS: tuple[RuleSet, ...] = (
    RuleSet("CN-2016-04", 2, date(2016, 4, 8), date(2017, 7, 1),
            "CBEC retail import tax introduced (2,000 / 20,000); VAT 17 % / 13 %",
            D("0.17"), D("0.13"), D("2000"), D("20000"), cbec_single_item_over_limit=False, **_COMMON),
    RuleSet("CN-2017-07", 2, date(2017, 7, 1), date(2018, 5, 1),
            "reduced VAT 13 % -> 11 %; VAT 17 % / 11 %",
            D("0.17"), D("0.11"), D("2000"), D("20000"), cbec_single_item_over_limit=False, **_COMMON),
    RuleSet("CN-2018-05", 2, date(2018, 5, 1), date(2019, 1, 1),
            "VAT 17 % -> 16 %, 11 % -> 10 %; CBEC limits 2,000 / 20,000",
            D("0.16"), D("0.10"), D("2000"), D("20000"), cbec_single_item_over_limit=False, **_COMMON),
    RuleSet("CN-2019-01", 2, date(2019, 1, 1), date(2019, 4, 1),
            "CBEC limits 5,000 / 26,000, one item over the single limit taxed in full; VAT 16 % / 10 %",
            D("0.16"), D("0.10"), D("5000"), D("26000"), cbec_single_item_over_limit=True, **_COMMON),
    RuleSet("CN-2019-04", 2, date(2019, 4, 1), None,
            "VAT 16 % -> 13 %, 10 % -> 9 %; CBEC limits 5,000 / 26,000",
            D("0.13"), D("0.09"), D("5000"), D("26000"), cbec_single_item_over_limit=True, **_COMMON),
)


def ruleset_for(on: date) -> RuleSet:
    """The rule set in force on ``on``; NoRuleSet before the first one (2016-04-08)."""
    for rs in RULESETS:
        if rs.in_force(on):
            return rs
    raise NoRuleSet(f"no tax rule set in force on {on.isoformat()} "
                    f"(the first starts {RULESETS[0].valid_from.isoformat()})")


def ruleset(ident: str) -> RuleSet:
    """A rule set by id ("CN-2019-04@2") or name (latest version of that name)."""
    name, _, version = ident.partition("@")
    matches = [rs for rs in RULESETS if rs.name == name and (not version or str(rs.version) == version)]
    if not matches:
        raise NoRuleSet(f"unknown rule set {ident!r}; known: {', '.join(rs.id for rs in RULESETS)}")
    return max(matches, key=lambda rs: rs.version)
