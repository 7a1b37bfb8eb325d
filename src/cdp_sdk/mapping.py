"""Pure helpers for connector mapping code: vendor dates, money, units, statuses, labels.

Each helper raises ``ValueError`` (or ``TypeError``) on input it cannot read; inside
:meth:`cdp_sdk.BaseConnector.map_records` that becomes an
:class:`~cdp_sdk.errors.UnexpectedResponseError` naming the endpoint, or a skipped record
with ``strict=False``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Literal, TypeVar

from cdp_sdk.models import ActivationMode, SimStatus, Tag

__all__ = [
    "BYTES_PER_MB",
    "BYTES_PER_MIB",
    "Lifecycle",
    "activation_modes",
    "from_epoch",
    "labels_to_tags",
    "lookup_status",
    "megabytes_to_bytes",
    "parse_date",
    "parse_datetime",
    "tag",
    "to_decimal",
    "vendor_states",
]

K = TypeVar("K")

BYTES_PER_MB = 1_000_000
"""Decimal megabyte (SI), used where a vendor says "MB" without saying which."""
BYTES_PER_MIB = 1_048_576
"""Binary mebibyte, for vendors that document MB as 1024 x 1024 bytes."""

_WHOLE_NUMBERS = (int, float)
_EXACT_WHOLE = 2**53
"""Below this, a float that is a whole number prints as that number: its decimal reading is
the binary value."""
_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_datetime(value: Any, *, assume_utc: bool = False) -> datetime | None:
    """An aware UTC datetime from an ISO 8601-like string; ``None`` for empty input.

    Reads ``2024-05-01T08:00:00Z``, ``2024-05-01T04:00:00-04:00``, and Cisco Control
    Center's ``2016-06-29 00:21:33.339+0000``. A value without an offset is refused unless
    ``assume_utc=True`` says the vendor documents UTC: never read as local time.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):  # the usual case, tested first
        try:
            # Python 3.11 reads "Z" and "+0000" itself: the usual case needs no rewriting.
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = datetime.fromisoformat(_COMPACT_OFFSET.sub(r"\1:\2", value.strip()))
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise TypeError(f"expected a date-time string, got {type(value).__name__}")
    if parsed.tzinfo is UTC:
        return parsed
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if not assume_utc:
            raise ValueError("date-time without a UTC offset")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(value: Any) -> date | None:
    """A calendar date from ``YYYY-MM-DD`` (or the date part of a date-time string)."""
    if value is None or value == "":
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected a date string, got {type(value).__name__}")
    return date.fromisoformat(value.strip()[:10])


def from_epoch(value: Any, *, unit: Literal["s", "ms"] = "s") -> datetime | None:
    """An aware UTC datetime from epoch seconds or milliseconds (numbers or digit strings)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("expected an epoch number, got a boolean")
    number = Decimal(str(value))
    if unit == "ms":
        number /= 1000
    return datetime.fromtimestamp(float(number), tz=UTC)


def to_decimal(value: Any) -> Decimal | None:
    """An exact ``Decimal`` from a number or numeric string; floats go through ``str``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not result.is_finite():
        raise ValueError("not a finite number")
    return result


def megabytes_to_bytes(value: Any, *, bytes_per_mb: int = BYTES_PER_MB) -> int:
    """Whole bytes from a megabyte figure (float or string), rounded half to even."""
    if type(value) in _WHOLE_NUMBERS and 0 <= value < _EXACT_WHOLE and value == int(value):
        # A whole number of megabytes (``100``, ``100.0``): exact in binary, no rounding.
        return int(value) * bytes_per_mb
    megabytes = to_decimal(value)
    if megabytes is None:
        raise ValueError("missing volume")
    if megabytes < 0:
        raise ValueError("negative volume")
    return int((megabytes * bytes_per_mb).to_integral_value(rounding=ROUND_HALF_EVEN))


def lookup_status(table: Mapping[Any, SimStatus], raw: Any) -> tuple[SimStatus, str]:
    """The normalized status for a vendor value and the raw value as text.

    An unknown vendor value maps to :attr:`SimStatus.UNKNOWN`, never to an error: the raw
    value is kept in ``status_raw`` so nothing is lost. A missing value (``None`` or
    empty) is a malformed record: ``ValueError``.
    """
    if raw is None or raw == "":
        raise ValueError("missing status")
    return table.get(raw, SimStatus.UNKNOWN), str(raw)


def vendor_states(table: Mapping[K, SimStatus], wanted: Collection[SimStatus]) -> list[K] | None:
    """The vendor states that map to one of the ``wanted`` statuses, in ``table`` order:
    what to ask a platform for when ``subscriptions(status=...)`` filters there.

    ``None`` when the platform cannot be asked: ``unknown`` is wanted, and it stands for
    vendor states nobody mapped. An empty list means no vendor state maps to any wanted
    status (the listing is empty without asking).
    """
    if SimStatus.UNKNOWN in wanted:
        return None
    return [state for state, status in table.items() if status in wanted]


Lifecycle = tuple[str, bool | None, bool, bool, tuple[str, ...]]
"""One vendor state of a lifecycle table: description, billable, auto-activates on first
use, settable through the API, and the vendor states reachable from it."""


def activation_modes(
    connector: str, status: Mapping[str, SimStatus], lifecycle: Mapping[str, Lifecycle]
) -> tuple[ActivationMode, ...]:
    """The :class:`~cdp_sdk.ActivationMode` table of a connector, from its declarative
    lifecycle table and its vendor-state -> status map."""
    return tuple(
        ActivationMode(
            connector=connector,
            name=name,
            status=status[name],
            description=description,
            billable=billable,
            auto_activates=auto_activates,
            settable=settable,
            next=next_states,
        )
        for name, (description, billable, auto_activates, settable, next_states) in (
            lifecycle.items()
        )
    )


_TAGS: dict[tuple[Any, Any], Tag] = {}
_MAX_TAGS = 4096


def tag(key: str, value: str | None = None) -> Tag:
    """``Tag(key=key, value=value)``, validated once and shared by every record that carries
    the same tag (a fleet repeats a few tags on many SIMs; tags are immutable)."""
    try:
        return _TAGS[key, value]
    except KeyError:
        pass
    except TypeError:  # not hashable: not a valid tag either; let validation say why
        return Tag(key=key, value=value)
    made = Tag(key=key, value=value)
    if len(_TAGS) >= _MAX_TAGS:
        _TAGS.clear()
    _TAGS[key, value] = made
    return made


def labels_to_tags(text: str | None, *, separator: str = ",") -> tuple[Tag, ...]:
    """Tags (keys without values) from a free-text label list such as ``"a, b"``."""
    if not text:
        return ()
    seen: dict[str, Tag] = {}
    for label in text.split(separator):
        key = label.strip()
        if key and key not in seen:
            seen[key] = tag(key)
    return tuple(seen.values())
