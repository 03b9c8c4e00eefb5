"""NHS number: format and Modulus 11 check digit, as the NHS Data Dictionary defines them.

Pure: a string in, a verdict or the ten bare digits out. The algorithm (NHS Data Dictionary,
"NHS Number" attribute): weight the first nine digits 10, 9, ..., 2; sum; take the remainder
modulo 11; subtract it from 11. A result of 11 means check digit 0; a result of 10 means the
number is invalid (no such NHS number is ever issued); otherwise it must equal the tenth digit.

Error messages never repeat the number: an exception text can reach a log or an API reply,
and patient identifiers stay out of both (STYLE.md, convention 4).
"""
from __future__ import annotations

WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
LENGTH = 10


def check_digit(first_nine: str) -> int | None:
    """The Modulus 11 check digit for nine digits, or None when it would be 10 (never issued)."""
    if len(first_nine) != len(WEIGHTS) or not first_nine.isascii() or not first_nine.isdigit():
        raise ValueError("the check digit needs exactly nine digits")
    remainder = sum(int(d) * w for d, w in zip(first_nine, WEIGHTS, strict=True)) % 11
    digit = 11 - remainder
    if digit == 11:
        return 0
    if digit == 10:
        return None
    return digit


def normalise_nhs_number(s: str) -> str:
    """The ten bare digits of an NHS number typed with or without spaces; ValueError says what is wrong."""
    if not isinstance(s, str):
        # ValueError, not TypeError: callers validating form input catch one exception type.
        raise ValueError("NHS number must be text")  # noqa: TRY004
    # Spaces only: the Data Dictionary's display format is 3-3-4 with spaces; anything else
    # (hyphens, letters, dots) is more likely a different identifier pasted in the wrong box.
    bare = s.replace(" ", "")
    if not bare:
        raise ValueError("NHS number is empty")
    # isascii() first: str.isdigit() accepts other scripts' digits and superscripts.
    if not (bare.isascii() and bare.isdigit()):
        raise ValueError("NHS number must contain only digits and spaces")
    if len(bare) != LENGTH:
        raise ValueError(f"NHS number must be {LENGTH} digits, got {len(bare)}")
    expected = check_digit(bare[:9])
    if expected is None:
        raise ValueError("NHS number is invalid: its Modulus 11 check digit would be 10")
    if expected != int(bare[9]):
        raise ValueError("NHS number check digit is wrong (Modulus 11): probably a typing error")
    return bare


def valid_nhs_number(s: str) -> bool:
    """True when s is ten digits (spaces allowed) with a correct Modulus 11 check digit."""
    try:
        normalise_nhs_number(s)
    except ValueError:
        return False
    return True


def format_nhs_number(s: str) -> str:
    """A valid NHS number in the 3-3-4 display format ("943 476 5919")."""
    bare = normalise_nhs_number(s)
    return f"{bare[:3]} {bare[3:6]} {bare[6:]}"
