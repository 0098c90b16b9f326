"""Identity numbers: the 18-character PRC resident identity card (GB 11643-1999)."""
from __future__ import annotations

import re

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")


def resident_id_check_char(first17: str) -> str:
    """The check character of the first 17 characters (anything after them is not read)."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=False))
    return _CHECK[total % 11]


def resident_id_problem(number: str) -> str | None:
    """None when ``number`` is a well-formed resident ID number, else the reason."""
    if len(number) != 18:
        return f"a resident ID number has 18 characters, this one has {len(number)}"
    if not _SHAPE.match(number):
        return "a resident ID number is 17 digits followed by a digit or X"
    expected = resident_id_check_char(number[:17])
    if number[17] != expected:
        return f"check digit is {number[17]}, expected {expected}"
    return None
