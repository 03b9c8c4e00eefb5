"""NHS number Modulus 11 (NHS Data Dictionary) on known numbers, typing errors and bad shapes."""
from __future__ import annotations

import pytest

from edge_app.clinical.nhs import check_digit, format_nhs_number, normalise_nhs_number, valid_nhs_number

# 943 476 5919 is the worked example used across NHS Digital's developer documentation; the others
# are synthetic test numbers (999 range, never issued to patients) whose check digits were worked
# by hand: e.g. 9434765919: 9*10+4*9+3*8+4*7+7*6+6*5+5*4+9*3+1*2 = 299; 299 % 11 = 2; 11-2 = 9.
VALID = ["9434765919", "943 476 5919", "9990000018", "9999999999", " 943 4765 919 "]


@pytest.mark.parametrize("s", VALID)
def test_valid_numbers(s: str) -> None:
    assert valid_nhs_number(s)


def test_normalise_strips_spaces() -> None:
    assert normalise_nhs_number("943 476 5919") == "9434765919"
    assert format_nhs_number("9434765919") == "943 476 5919"


@pytest.mark.parametrize("s", [
    "9434765918",   # last digit mistyped
    "9434765991",   # two digits transposed
    "4434765919",   # first digit mistyped
])
def test_typing_errors_fail_the_check_digit(s: str) -> None:
    assert not valid_nhs_number(s)
    with pytest.raises(ValueError, match="check digit is wrong"):
        normalise_nhs_number(s)


def test_check_digit_of_ten_is_never_valid() -> None:
    # 123456789 -> sum 1*10+2*9+...+9*2 = 210; 210 % 11 = 1; 11 - 1 = 10: no valid number starts so.
    assert check_digit("123456789") is None
    for last in "0123456789":
        assert not valid_nhs_number("123456789" + last)
    with pytest.raises(ValueError, match="would be 10"):
        normalise_nhs_number("1234567890")


def test_remainder_zero_gives_check_digit_zero() -> None:
    # 999000005 -> 9*10 + 9*9 + 9*8 + 5*2 = 253 = 11*23: remainder 0, 11 - 0 = 11, check digit 0.
    assert check_digit("999000005") == 0
    assert valid_nhs_number("9990000050")
    assert not valid_nhs_number("9990000055")


@pytest.mark.parametrize(("s", "reason"), [
    ("", "empty"),
    ("   ", "empty"),
    ("943476591", "10 digits, got 9"),
    ("94347659190", "10 digits, got 11"),
    ("943-476-5919", "only digits and spaces"),
    ("943476591X", "only digits and spaces"),
    ("９４３４７６５９１９", "only digits and spaces"),  # full-width digits pass str.isdigit()
])
def test_bad_shapes_say_why(s: str, reason: str) -> None:
    assert not valid_nhs_number(s)
    with pytest.raises(ValueError, match=reason):
        normalise_nhs_number(s)


def test_non_text_is_not_a_number() -> None:
    assert not valid_nhs_number(9434765919)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        normalise_nhs_number(None)  # type: ignore[arg-type]


def test_errors_never_repeat_the_number() -> None:
    # Exception text can reach logs and API replies; the identifier must not.
    for bad in ("9434765918", "943476591", "943-476-5919"):
        with pytest.raises(ValueError) as err:
            normalise_nhs_number(bad)
        assert bad not in str(err.value) and "943" not in str(err.value)
