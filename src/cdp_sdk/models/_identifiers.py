"""Validation of subscriber identifiers, datetimes and currency codes.

The ``normalize_*`` helpers are pure: each returns the normalized text or raises
:class:`ValueError`. Identifiers are personal data, so no message repeats the value it
rejects; at most it states the length that was seen.

The ``Annotated`` aliases (:data:`Iccid`, :data:`UtcDatetime`, ...) apply the helpers as
pydantic validators, for use as model field types.
"""

from __future__ import annotations

import re
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
# Each digit doubled, then reduced to one digit (Luhn): "0123456789" -> "0246813579".
_DOUBLED = str.maketrans("0123456789", "0246813579")


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
    # other one. Sums of the digit characters' codes, less 48 (the code of "0") each.
    reverse = digits[::-1]
    doubled = reverse[::2].translate(_DOUBLED).encode("ascii")
    kept = reverse[1::2].encode("ascii")
    total = sum(doubled) + sum(kept) - 48 * len(digits)
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
    candidate = value[1:] if plus and value[:1] == "+" else value
    if min_length <= len(candidate) <= max_length and candidate.isascii() and candidate.isdigit():
        return candidate  # the usual case: nothing to strip, nothing to report
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
    iccid = _digits(value, "ICCID", 18, 22)
    if luhn and not luhn_valid(iccid):
        raise ValueError("ICCID check digit does not match (Luhn)")
    return iccid


def normalize_imsi(value: str) -> str:
    """Return the IMSI (5 to 15 digits) without surrounding whitespace."""
    return _digits(value, "IMSI", 5, 15)


def normalize_msisdn(value: str) -> str:
    """Return the MSISDN in E.164 digits: no whitespace around it, no leading ``+``.

    One leading ``+`` is dropped; the rest must be 5 to 15 digits.
    """
    return _digits(value, "MSISDN", 5, 15, plus=True)


def normalize_imei(value: str) -> str:
    """Return the IMEI or IMEISV (14 to 16 digits) without surrounding whitespace."""
    return _digits(value, "IMEI", 14, 16)


def normalize_eid(value: str) -> str:
    """Return the eUICC identifier (exactly 32 digits) without surrounding whitespace."""
    return _digits(value, "EID", 32, 32)


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


Iccid = Annotated[str, AfterValidator(normalize_iccid)]
"""An ICCID of 18 to 22 digits; the Luhn check digit is not verified here."""

Imsi = Annotated[str, AfterValidator(normalize_imsi)]
"""An IMSI of 5 to 15 digits."""

Msisdn = Annotated[str, AfterValidator(normalize_msisdn)]
"""An MSISDN as E.164 digits without ``+`` (a leading ``+`` is accepted and dropped)."""

Imei = Annotated[str, AfterValidator(normalize_imei)]
"""An IMEI (15 digits; 14 without the check digit) or IMEISV (16 digits)."""

Eid = Annotated[str, AfterValidator(normalize_eid)]
"""An eUICC identifier of 32 digits."""

UtcDatetime = Annotated[datetime, AfterValidator(ensure_utc)]
"""An aware datetime, converted to UTC; a naive one is rejected."""

Currency = Annotated[str, AfterValidator(normalize_currency)]
"""An ISO 4217 alphabetic code such as ``"EUR"``; lower case input is upper-cased."""
