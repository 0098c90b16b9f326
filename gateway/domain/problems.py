"""Problems found in input: each names the field (a JSON path) and the rule it breaks."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    path: str       # JSON path into the order, e.g. "$.lines[1].total_price"
    rule: str       # short stable rule name, e.g. "line-total"
    message: str    # what is wrong, for people

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.path}: [{self.rule}] {self.message}"


class OrderInvalid(Exception):
    """The order was refused; ``problems`` lists every problem found. Nothing was stored."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))
