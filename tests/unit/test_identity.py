"""PRC resident identity card numbers (GB 11643-1999): the ISO 7064 MOD 11-2 check character."""
from __future__ import annotations

import pytest

from gateway.domain.identity import resident_id_check_char, resident_id_problem

KNOWN_GOOD = [
    "11010519491231002X",   # the example in GB 11643-1999, check character X
    "440524188001010014",   # the other example in GB 11643-1999
    "110105199003071239",   # fixtures/orders/valid/1210-single-line.json
    "32010219790511303X",   # fixtures/orders/valid/9610-air-germany-x-id.json
    "44030519830605157X",
    "510107199607282843",
]


@pytest.mark.parametrize("number", KNOWN_GOOD)
def test_known_good_numbers(number):
    assert resident_id_check_char(number[:17]) == number[17]
    assert resident_id_problem(number) is None


def test_check_character_can_be_x():
    assert resident_id_check_char("11010519491231002") == "X"


def test_every_check_value_is_reachable():
    """Sum mod 11 maps to 1 0 X 9 8 7 6 5 4 3 2; vary the sequence digits until all 11 appear."""
    seen = {resident_id_check_char(f"11010519900101{seq:03d}") for seq in range(200)}
    assert seen == set("0123456789X")


def test_check_character_is_computed_from_the_first_17_only():
    assert resident_id_check_char("11010519491231002") == resident_id_check_char("11010519491231002" + "9")


@pytest.mark.parametrize("number, expected", [
    ("110105199003071238", "9"),
    ("110105199003071230", "9"),
    ("440524188001010015", "4"),
    ("110105194912310021", "X"),   # a digit where X belongs
    ("11010519900307123X", "9"),   # X where a digit belongs
])
def test_wrong_check_character(number, expected):
    problem = resident_id_problem(number)
    assert problem == f"check digit is {number[17]}, expected {expected}"


@pytest.mark.parametrize("number", [
    "",
    "110105900307123",        # the old 15-digit card
    "11010519900307123",      # 17
    "1101051990030712390",    # 19
    "11010519491231002X ",    # trailing blank
])
def test_wrong_length(number):
    problem = resident_id_problem(number)
    assert problem is not None and "18 characters" in problem and str(len(number)) in problem


@pytest.mark.parametrize("number", [
    "11010519491231002x",     # lowercase x is refused: the card prints an upper-case X
    "11010519491231002A",
    "1101051949123100XX",     # X only in the last place
    "X10105194912310021",
    "1101051949-231002X",
    "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits are not ASCII digits
    "11010519491231002\n",
])
def test_letters_and_symbols_are_refused(number):
    assert len(number) == 18
    assert resident_id_problem(number) == "a resident ID number is 17 digits followed by a digit or X"
