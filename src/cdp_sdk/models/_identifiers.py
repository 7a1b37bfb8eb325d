"""Validation of subscriber identifiers, datetimes and currency codes.

The ``normalize_*`` helpers are pure: each returns the normalized text or raises
:class:`ValueError`. Identifiers are personal data, so no message repeats the value it
rejects; at most it states the length that was seen.

The ``Annotated`` aliases (:data:`Iccid`, :data:`UtcDatetime`, ...) apply the helpers as
pydantic validators, for use as model field types.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator

__all__ = [
    "Currency",
    "Eid",
    "Iccid",
    "Imei",
    "Imsi",
    "Msisdn",
    "UtcDatetime",
    "ensure_utc",
    "luhn_check_digit",
    "luhn_valid",
    "normalize_currency",
    "normalize_eid",
    "normalize_iccid",
    "normalize_imei",
    "normalize_imsi",
    "normalize_msisdn",
]

_CURRENCY = re.compile(r"[A-Z]{3}")
# The ASCII digits, doubled and reduced to one digit (Luhn), as byte values 0-9:
# b"0123456789" -> 0, 2, 4, 6, 8, 1, 3, 5, 7, 9.
_DOUBLED = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))


def _all_digits(text: str) -> bool:
    """Whether ``text`` is one or more of the ASCII digits 0-9 (and nothing else)."""
    # For ASCII text, isdigit() holds for 0-9 only; other scripts' digits are not ASCII.
    return text.isascii() and text.isdigit()


def luhn_check_digit(digits: str) -> int:
    """Return the Luhn (mod 10) check digit to append to ``digits``.

    Args:
        digits: The payload, ASCII digits only, without a check digit.

    Raises:
        ValueError: ``digits`` is empty or holds anything but the digits 0-9.
    """
    if not _all_digits(digits):
        raise ValueError("Luhn payload must be one or more digits 0-9")
    # From the right: the payload digit next to the check digit is doubled, then every
    # other one. The kept digits are summed as character codes, less 48 (the code of "0")
    # each; the doubled ones are translated to their values first.
    raw = digits.encode("ascii")
    total = sum(raw[-1::-2].translate(_DOUBLED)) + sum(raw[-2::-2]) - 48 * (len(raw) // 2)
    return -total % 10


def luhn_valid(number: str) -> bool:
    """Tell whether the last digit of ``number`` is the Luhn check digit of the rest.

    Returns False, rather than raising, for text that is not at least two digits 0-9.
    """
    if len(number) < 2 or not _all_digits(number):
        return False
    return luhn_check_digit(number[:-1]) == ord(number[-1]) - 48


def _digits(
    value: object, name: str, min_length: int, max_length: int, *, plus: bool = False
) -> str:
    # `value` is typed `object` so that the type check stays meaningful to mypy: callers
    # that skip type checking get a TypeError rather than an AttributeError.
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    value = value.strip()
    if plus and value.startswith("+"):
        value = value[1:]
    if not _all_digits(value):
        raise ValueError(f"{name} must contain only the digits 0-9")
    if not min_length <= len(value) <= max_length:
        if min_length == max_length:
            expected = f"exactly {min_length}"
        else:
            expected = f"{min_length} to {max_length}"
        raise ValueError(f"{name} must be {expected} digits (got {len(value)})")
    return value


def _digit_field(
    name: str, min_length: int, max_length: int, *, plus: bool = False
) -> Callable[[object], str]:
    """The check of one identifier: what ``_digits`` accepts and returns, with the usual
    case (a string of digits of the right length, after a ``+`` where one is allowed)
    decided without a further call, since every record carries several identifiers."""

    def check(value: object) -> str:
        if (
            type(value) is str
            and min_length <= len(value) <= max_length
            and value.isdigit()
            and value.isascii()
        ):
            return value
        return _digits(value, name, min_length, max_length, plus=plus)

    def check_plus(value: object) -> str:
        if type(value) is str and value[:1] == "+":
            digits = value[1:]
            if min_length <= len(digits) <= max_length and digits.isdigit() and digits.isascii():
                return digits
        return check(value)

    return check_plus if plus else check


_ICCID = _digit_field("ICCID", 18, 22)
_IMSI = _digit_field("IMSI", 5, 15)
_MSISDN = _digit_field("MSISDN", 5, 15, plus=True)
_IMEI = _digit_field("IMEI", 14, 16)
_EID = _digit_field("EID", 32, 32)


def normalize_iccid(value: str, *, luhn: bool = False) -> str:
    """Return the ICCID (ITU-T E.118) without surrounding whitespace.

    Args:
        value: 18 to 22 digits.
        luhn: Also require the last digit to be the Luhn check digit of the others. Set it
            where the platform states that its value carries the check digit (e.g.
            emnify's and 1NCE's ``iccid_with_luhn``); many platforms drop it.

    Raises:
        ValueError: The value is not a valid ICCID.
    """
    iccid = _ICCID(value)
    if luhn and not luhn_valid(iccid):
        raise ValueError("ICCID check digit does not match (Luhn)")
    return iccid


def normalize_imsi(value: str) -> str:
    """Return the IMSI (5 to 15 digits) without surrounding whitespace."""
    return _IMSI(value)


def normalize_msisdn(value: str) -> str:
    """Return the MSISDN in E.164 digits: no whitespace around it, no leading ``+``.

    One leading ``+`` is dropped; the rest must be 5 to 15 digits.
    """
    return _MSISDN(value)


def normalize_imei(value: str) -> str:
    """Return the IMEI or IMEISV (14 to 16 digits) without surrounding whitespace."""
    return _IMEI(value)


def normalize_eid(value: str) -> str:
    """Return the eUICC identifier (exactly 32 digits) without surrounding whitespace."""
    return _EID(value)


def ensure_utc(value: datetime) -> datetime:
    """Return the aware datetime ``value`` converted to UTC.

    Raises:
        ValueError: ``value`` is naive: its instant is ambiguous.
    """
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


def normalize_currency(value: str) -> str:
    """Return the ISO 4217 alphabetic currency code, upper-cased (``"eur"`` -> ``"EUR"``)."""
    return _currency(value)


def _currency(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("currency must be a string")
    code = value.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise ValueError("currency must be a three-letter ISO 4217 code")
    return code


Iccid = Annotated[str, AfterValidator(_ICCID)]
"""An ICCID of 18 to 22 digits; the Luhn check digit is not verified here."""

Imsi = Annotated[str, AfterValidator(_IMSI)]
"""An IMSI of 5 to 15 digits."""

Msisdn = Annotated[str, AfterValidator(_MSISDN)]
"""An MSISDN as E.164 digits without ``+`` (a leading ``+`` is accepted and dropped)."""

Imei = Annotated[str, AfterValidator(_IMEI)]
"""An IMEI (15 digits; 14 without the check digit) or IMEISV (16 digits)."""

Eid = Annotated[str, AfterValidator(_EID)]
"""An eUICC identifier of 32 digits."""

UtcDatetime = Annotated[datetime, AfterValidator(ensure_utc)]
"""An aware datetime, converted to UTC; a naive one is rejected."""

Currency = Annotated[str, AfterValidator(normalize_currency)]
"""An ISO 4217 alphabetic code such as ``"EUR"``; lower case input is upper-cased."""
