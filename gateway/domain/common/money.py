"""Money and quantities: Decimal only, never float."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
_FIVE_PLACES = Decimal("0.00001")
CNY = "142"  # customs currency code of the renminbi; every CEB import amount is in CNY


def to_decimal(text: str) -> Decimal:
    """Parse a decimal string from an order. Floats are refused upstream by the order schema."""
    if isinstance(text, float):  # defensive: a float must never reach money arithmetic
        raise TypeError("money must be a decimal string, not a float")
    return Decimal(str(text))


def round_fen(value: Decimal) -> Decimal:
    """Round to the fen (0.01 CNY), half up, as customs arithmetic does."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def xml_decimal(value: Decimal) -> str:
    """Plain decimal notation for N19,5 fields: no exponent, no trailing zeros beyond what was given,
    at most 5 decimals."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -5:
        if value != value.quantize(_FIVE_PLACES):
            raise ValueError(f"{value} has more than 5 decimals")
        value = value.quantize(_FIVE_PLACES)
    return format(value, "f")
