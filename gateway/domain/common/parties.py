"""Parties of a CBEC order (platform, merchant, declarant, carrier, payment company ...): a customs
registration code and a name."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Party:
    code: str
    name: str


def party(data: dict) -> Party:
    """The ``Party`` of an order's JSON object (``code``, ``name``)."""
    return Party(code=data["code"], name=data["name"])
