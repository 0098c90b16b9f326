"""One entry, four agencies: what inspection, tax and FX make of an order (pure).

    a = assess(order, declared_on=date(2026, 11, 20), annual_used=Decimal("1200.00"))
    a.inspection      # InspectionDecision, per line (gateway.domain.inspection)
    a.tax             # CbecQuote (CBEC import), GeneralQuote (general-trade import), RebateRecord (export) or None
    a.fx              # FxRecord or None
    a.warnings        # Problems that do not refuse the order (shown in the order view)
    a.holds           # Problems customs will refuse it for: the order is held, not signed or sent
    a.annual_counted  # CBEC import: what the buyer's annual ledger gets when the order is stored

``assess`` raises ``OrderInvalid`` with every problem that refuses the order at intake:

| rule | when |
|---|---|
| ``cbec-annual-limit`` | CBEC import: the buyer's annual amount (read by the service, passed in) + this order > the annual limit |
| ``fx-payment-institution-limit`` | through a payment institution: more than USD 50,000 per transaction |
| ``fx-rate`` | no customs exchange rate for the declaration month (the reference data must be updated) |
| ``fx-record`` | anything else the FX record cannot be made from (no positive amount, unknown currency) |

and holds (``holds``: the order is stored with status "held", nothing is signed or sent until the
operator releases it, docs/tax-fx.md "Held orders"):

| rule | when |
|---|---|
| ``cbec-single-limit`` | CBEC import over the single-transaction limit, not one single item (since 2019 one line of quantity 1 may exceed it, taxed in full; before, nothing may): customs refuses it (e-port −621005); it is not taxed, not counted toward the annual amount, and no tax record is filed |

and marks, without refusing (``warnings``):

| rule | when |
|---|---|
| ``cbec-positive-list`` | goods not on the CBEC positive list (unconfirmed reference flag): customs decides; no tax record |
| ``tax-withheld-difference`` | the platform's ``tax_withheld`` differs from our computation (platforms round differently) |
| ``tax-not-computed`` | an HS code the reference data does not know, or input the tax modules cannot use: no tax record |
| ``inspection-unknown-hs`` | an HS code the reference data does not know: no inspection decision for that line |
| ``rebate-terms`` | an export not sold FOB: line values are taken as the FOB value |

Dates: the CBEC tax at the order's date (``common.dates.order_date``); the general-trade import tax,
the export rebate data and the FX record at the declaration date ``declared_on`` (CNY at the customs
monthly rate of that month); the inspection decision at the order's own date (``common.dates.order_date``).
The service passes ``declared_on`` = its clock's date when the filings are built; a replay passes the
recorded one, so everything here is rebuilt the same.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from gateway.reference.rates import RateNotAvailable

from . import fx as fxm
from . import inspection as insp
from . import quotes
from .common.dates import order_date
from .common.lines import lines_total
from .common.money import round_fen
from .problems import OrderInvalid, Problem
from .tax import cbec, general, rebate
from .tax.common import TaxError
from .tax.rulesets import NoRuleSet, ruleset_for

__all__ = ["Assessment", "HOLD_RULES", "RECORD_TYPES", "assess", "is_cbec_import", "single_limit_refusal",
           "tax_summary"]

ZERO = Decimal(0)

# message type of each agency record filing -> agency
RECORD_TYPES = {"InspectionRecord": "inspection", "TaxRecord": "tax", "RebateRecord": "tax", "FxRecord": "fx"}

# the rules an order is held for (stored, not signed or sent) rather than refused or only marked
HOLD_RULES = ("cbec-single-limit",)

RULES = {
    "cbec-annual-limit": "CBEC import: the buyer's annual amount plus this order stays within the annual limit "
                         "(26,000 CNY since 2019)",
    "fx-payment-institution-limit": "a payment through a payment institution is at most USD 50,000 per transaction",
    "fx-rate": "a customs exchange rate exists for the declaration month",
    "fx-record": "the order has what the FX record needs (a positive amount, a known currency)",
}


@dataclass(frozen=True)
class Assessment:
    declared_on: date
    inspection: insp.InspectionDecision
    tax: object | None = None                 # CbecQuote | GeneralQuote | RebateRecord
    fx: fxm.FxRecord | None = None
    warnings: tuple[Problem, ...] = field(default=())
    holds: tuple[Problem, ...] = field(default=())   # customs will refuse it: held until the operator releases it
    annual_used: Decimal | None = None        # CBEC import: the buyer's amount before this order
    annual_counted: Decimal | None = None     # CBEC import: what this order adds (None: not counted)
    annual_year: int | None = None

    @property
    def tax_record_type(self) -> str | None:
        if self.tax is None:
            return None
        return "RebateRecord" if isinstance(self.tax, rebate.RebateRecord) else "TaxRecord"

    def as_json(self) -> dict:
        """What the order keeps (``orders.normalized.agencies``) for its view and for a replay."""
        return {
            "declared_on": self.declared_on.isoformat(),
            "inspection": self.inspection.as_json(),
            "tax": tax_summary(self.tax),
            "fx": None if self.fx is None else {
                "bop_code": self.fx.bop_code, "kind": self.fx.kind, "channel": self.fx.channel,
                "currency": self.fx.currency, "amount": str(self.fx.amount), "amount_cny": str(self.fx.amount_cny),
                "usd_equivalent": str(self.fx.usd_equivalent),
                "rate": self.fx.rate.as_json(), "declared_on": self.fx.declared_on.isoformat()},
            "warnings": [w.as_dict() for w in self.warnings],
            "holds": [h.as_dict() for h in self.holds],
            "annual": None if self.annual_year is None else {
                "year": self.annual_year, "used_before": str(self.annual_used),
                "counted": None if self.annual_counted is None else str(self.annual_counted)},
            "annual_used": None if self.annual_used is None else str(self.annual_used),
        }


def tax_summary(tax) -> dict | None:
    """The figures the order view shows for the tax agency."""
    if tax is None:
        return None
    if isinstance(tax, cbec.CbecQuote):
        return {"kind": "cbec-import", "mode": tax.mode, "ruleset": tax.ruleset.id, "assessed_on": tax.assessed_on.isoformat(),
                "dutiable_value": str(tax.dutiable_value), "duty": str(tax.duty),
                "consumption_tax": str(tax.consumption_tax), "vat": str(tax.vat), "computed": str(tax.total),
                "withheld": str(tax.tax_withheld), "difference": str(tax.withheld_difference),
                "lines": [{"line": ln.number, "dutiable_value": str(ln.dutiable_value), "duty": str(ln.duty),
                           "consumption_tax": str(ln.consumption_tax), "vat": str(ln.vat)} for ln in tax.lines]}
    if isinstance(tax, general.GeneralQuote):
        return {"kind": "general-import", "ruleset": tax.ruleset.id, "assessed_on": tax.assessed_on.isoformat(),
                "customs_value": str(tax.customs_value), "duty": str(tax.duty),
                "consumption_tax": str(tax.consumption_tax), "vat": str(tax.vat), "computed": str(tax.total),
                "waived": list(tax.waived), "rate": tax.rate.as_json()}
    return {"kind": "export-rebate", "ruleset": tax.ruleset.id, "outcome": tax.outcome, "refund": str(tax.refund),
            "offset": str(tax.offset), "fob_cny": str(tax.fob_cny), "reasons": list(tax.reasons),
            "assessed_on": tax.declaration.export_date.isoformat()}


def is_cbec_import(order) -> bool:
    return order.direction == "import" and order.regime in ("1210", "9610")


def _is_general_trade(order) -> bool:
    return order.regime == "0110"


def assess(order, *, declared_on: date, annual_used: Decimal = ZERO) -> Assessment:
    """Inspection, tax and FX of one order that passed intake. Raises OrderInvalid (every problem)."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    decision = insp.decide(order, on=declared_on if _is_general_trade(order) else None)
    warnings.extend(decision.warnings)
    annual = {}
    if is_cbec_import(order):
        tax, annual = _cbec_tax(order, annual_used, problems, warnings)
    elif _is_general_trade(order) and order.direction == "import":
        tax = _general_import_tax(order, declared_on, warnings)
    elif order.direction == "export":
        tax = _export_rebate(order, declared_on, warnings)
    else:
        tax = None
    record = _fx(order, declared_on, problems)
    if problems:
        raise OrderInvalid(problems)
    holds = tuple(w for w in warnings if w.rule in HOLD_RULES)
    return Assessment(declared_on=declared_on, inspection=decision, tax=tax, fx=record,
                      warnings=tuple(w for w in warnings if w.rule not in HOLD_RULES), holds=holds, **annual)


# -- tax ---------------------------------------------------------------------------------------------

def _cbec_tax(order, annual_used: Decimal, problems: list, warnings: list):
    on = order_date(order)
    if order.discount > 0:
        warnings.append(Problem("$.discount", "discount-not-in-prices",
                                f"the discount of {order.discount} is not reflected in the line prices: the "
                                "inventory (CEB621) declares the line prices and carries no discount, so customs "
                                "computes the tax (and the annual amount) on the declared values, and so do we; "
                                "lower the line prices if the discount is a price reduction"))
    annual = {"annual_used": annual_used, "annual_year": on.year}
    try:
        q = cbec.quote(order, annual_used=annual_used, on=on)
    except cbec.CbecRefused as exc:
        if exc.limit == "annual":
            problems.append(Problem("$.buyer.id_number", "cbec-annual-limit", str(exc)))
        elif exc.limit == "single":
            warnings.append(Problem("$.goods_value", "cbec-single-limit",
                                    f"{exc} — customs refuses such an inventory (e-port −621005): the order is "
                                    "held, not signed or sent, unless the operator releases it; not taxed here "
                                    "and not counted toward the annual amount"))
        else:
            warnings.append(Problem("$.lines", "cbec-positive-list", f"{exc} — customs decides; no tax record"))
        return None, annual
    except (TaxError, LookupError, NoRuleSet) as exc:
        # the tax cannot be computed here (an HS code the reference data lacks ...): the limits still apply
        warnings.append(Problem("$.lines", "tax-not-computed", f"the CBEC tax was not computed: {exc}; no tax record"))
        counted = _cbec_limits_without_rates(order, annual_used, on, problems, warnings)
        return None, {**annual, "annual_counted": counted}
    annual["annual_counted"] = q.annual_counted
    if q.withheld_difference != 0:
        warnings.append(Problem("$.tax_withheld", "tax-withheld-difference",
                                f"tax_withheld {q.tax_withheld} ≠ computed {q.total} (difference "
                                f"{q.withheld_difference}: > 0 withheld too much, < 0 too little); platforms "
                                "round differently, the order is not refused"))
    return q, annual


def single_limit_refusal(order) -> Problem | None:
    """``cbec-single-limit`` when customs would refuse this CBEC import for its value alone (no ledger
    needed): for a corrected order, which is refused rather than held (nothing to hold it in)."""
    if not is_cbec_import(order):
        return None
    try:
        on = order_date(order)
    except ValueError:
        return None
    problems: list[Problem] = []
    warnings: list[Problem] = []
    _cbec_limits_without_rates(order, ZERO, on, problems, warnings)
    found = next((w for w in warnings if w.rule == "cbec-single-limit"), None)
    if found is None:
        return None
    return Problem(found.path, found.rule, found.message.split(" — ", 1)[0] + " — customs would refuse it "
                   "(e-port −621005): a correction that breaks it is not filed")


def _cbec_limits_without_rates(order, annual_used: Decimal, on: date, problems: list, warnings: list):
    """The limits do not depend on rates: check them on the dutiable value alone."""
    try:
        rules = ruleset_for(on)
    except NoRuleSet:
        return None
    head = order.logistics.freight + order.logistics.insurance - (
        order.discount if rules.cbec_discount_reduces_value else ZERO)
    value = lines_total(order.lines) + round_fen(head)
    items = cbec.items_of(order)
    try:
        cbec._check_limits(items, value, annual_used, rules)     # the same limit rules as a quote
    except cbec.CbecRefused as exc:
        if exc.limit == "annual":
            problems.append(Problem("$.buyer.id_number", "cbec-annual-limit", str(exc)))
        else:
            warnings.append(Problem("$.goods_value", "cbec-single-limit",
                                    f"{exc} — customs refuses such an inventory (e-port −621005): the order is "
                                    "held, not signed or sent, unless the operator releases it"))
        return None
    return value


def _general_import_tax(order, declared_on: date, warnings: list):
    try:
        return quotes.general_import_quote(order, declared_on, warnings)
    except (TaxError, LookupError, NoRuleSet) as exc:
        warnings.append(Problem("$.lines", "tax-not-computed", f"the import taxes were not computed: {exc}; "
                                                               "no tax record"))
        return None


def _export_rebate(order, declared_on: date, warnings: list):
    try:
        return quotes.export_rebate(order, declared_on, warnings)
    except quotes.NotTaxed:
        return None
    except (TaxError, LookupError, NoRuleSet) as exc:
        warnings.append(Problem("$.lines", "tax-not-computed",
                                f"the export rebate data was not computed: {exc}; no tax record"))
        return None


# -- FX ----------------------------------------------------------------------------------------------

def _fx(order, declared_on: date, problems: list):
    try:
        return fxm.fx_record_for_order(order, declared_on=declared_on)
    except fxm.FxLimitExceeded as exc:
        problems.append(Problem("$.payment.amount", "fx-payment-institution-limit", str(exc)))
    except RateNotAvailable as exc:
        problems.append(Problem("$.currency" if hasattr(order, "currency") else "$", "fx-rate",
                                f"{exc}: the FX record needs the customs rate of the declaration month "
                                "(update gateway/reference/data/customs_rates.csv)"))
    except (fxm.FxError, LookupError, NoRuleSet) as exc:
        problems.append(Problem("$", "fx-record", f"the FX record cannot be made: {exc}"))
    return None

