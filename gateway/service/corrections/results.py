"""What a correction gives back or refuses with, and what it carries from building to storing."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from gateway.domain import corrections as rules
from gateway.domain.problems import Problem
from gateway.store import models as m

REVERSAL_SEQUENCE = 1   # reversals never wait behind (or get blocked by) corrections of the order


class CorrectionRefused(Exception):
    """The filing's state does not allow the change (HTTP 409). ``refusal`` names the rule."""

    def __init__(self, refusal: rules.Refusal):
        self.refusal = refusal
        super().__init__(f"[{refusal.rule}] {refusal.message}")

    @property
    def rule(self) -> str:
        return self.refusal.rule


class CorrectionInvalid(Exception):
    """The request is wrong (HTTP 422): every problem names the field and the rule."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Corrected:
    order_id: str
    kind: str                                   # modify, delete, cancel, return
    filing_ids: dict[str, str]                  # message type -> the new filing
    correction_ids: list[str]
    withdrawn: list[str] = field(default_factory=list)   # unsent filings the correction replaced
    due_by: date | None = None                  # returns: the goods are due back by (China date)
    order_version: int | None = None            # modify: the body version stored

    @property
    def filing_id(self) -> str:
        return next(iter(self.filing_ids.values()))


class _Changes:
    """What the state keeper wants to tell its caller (the dispatcher's round result)."""

    def __init__(self) -> None:
        self.changed_orders: set[str] = set()


@dataclass
class _Signed:
    message_type: str
    guid: str
    app_type: str
    target: m.Filing | None          # set in the storing transaction (re-read there)
    decision: str                   # rules.FILE / rules.REPLACE, or the kind for reversals
    business_key: str
    signed: bytes
    sha256: str
    sequence: int
