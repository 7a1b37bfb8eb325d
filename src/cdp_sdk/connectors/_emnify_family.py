"""The schema family emnify and 1NCE share, in one place.

1NCE's connectivity platform descends from emnify's, and both APIs show it: usage comes as
per-bearer stats records (``volume``, ``volume_tx``, ``volume_rx``, ``cost``,
``traffic_type``, ``currency``), lists are paged with ``page`` and the ``X-Total-Pages``
header family, SIMs carry ``iccid`` without its Luhn check digit, and errors are
``{"error_code", "error_token", "message"}`` bodies. The two connectors read these shapes,
and their emulators write them, through this module.

Where the two platforms document the same field differently, each keeps its own reading:
the direction of SMS ``volume_tx`` and ``volume_rx`` is one (:data:`EMNIFY_DIRECTIONS`,
:data:`ONENCE_DIRECTIONS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from pydantic import JsonValue

from cdp_sdk.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)
from cdp_sdk.http import ErrorRule, PageNumberPaginator, VendorError, header_value
from cdp_sdk.mapping import (
    BYTES_PER_MB,
    megabytes_to_bytes,
    parse_date,
    parse_datetime,
    to_decimal,
)
from cdp_sdk.models import (
    Bearer,
    Direction,
    Granularity,
    UsageRecord,
    luhn_check_digit,
    luhn_valid,
    normalize_iccid,
)

__all__ = [
    "BYTES_PER_MB",
    "EMNIFY_DIRECTIONS",
    "EURO",
    "FAMILY_ERROR_RULES",
    "ONENCE_DIRECTIONS",
    "TOTAL_PAGES",
    "Directions",
    "Period",
    "date_windows",
    "day_period",
    "day_span",
    "error_body",
    "iccid_candidates",
    "in_range",
    "month_period",
    "overlaps",
    "page_count",
    "page_headers",
    "page_number",
    "paginator",
    "parse_error",
    "parse_time",
    "pick_iccid",
    "stats_block",
    "usage_records",
    "with_luhn",
]

T = TypeVar("T")

# Neither vendor defines its "MB"; the platform's other byte figures are decimal (a
# "256 kbit/s" throttle is 256000 octets), so 1 MB = 1,000,000 bytes (the core's SI default).
BYTES_PER_MB = BYTES_PER_MB

TOTAL_PAGES = header_value("X-Total-Pages")


def paginator(
    size_param: str,
    page_size: int,
    total_pages: Callable[[httpx.Response, Any], Any] = TOTAL_PAGES,
) -> PageNumberPaginator:
    """Pages ``page=1,2,...`` until ``X-Total-Pages`` (header names are case-insensitive)."""
    return PageNumberPaginator(size_param=size_param, page_size=page_size, total_pages=total_pages)


# -- errors ------------------------------------------------------------------------------


def parse_error(body: Any) -> VendorError:
    """The token (``InvalidReference``) and message of a family error body.

    Reads ``{"error_code": 1401, "error_token": ..., "message": ...}`` (nested ``errors``
    add their messages), 1NCE's login errors ``{"errorCode": "BadCredentials", ...}`` and
    gateway answers ``{"message": ...}``. The token names the error where the numeric code
    does not (1NCE answers 1000 for every error), so it is the vendor code.
    """
    if not isinstance(body, Mapping):
        return VendorError()
    code = body.get("error_token") or body.get("errorCode") or body.get("error_code")
    message = body.get("message")
    details = [
        str(item["message"])
        for item in body.get("errors") or ()
        if isinstance(item, Mapping) and item.get("message")
    ]
    if details:
        message = "; ".join([str(message)] * bool(message) + details)
    return VendorError(
        code=None if code is None else str(code),
        message=None if message is None else str(message),
    )


FAMILY_ERROR_RULES: tuple[ErrorRule, ...] = (
    ErrorRule(AuthenticationError, vendor_code="InvalidCredentials"),
    ErrorRule(AuthenticationError, vendor_code="InvalidToken"),
    ErrorRule(AuthenticationError, vendor_code="TokenExpired"),
    ErrorRule(PermissionDeniedError, vendor_code="Forbidden"),
    ErrorRule(RateLimitedError, vendor_code="TooManyRequests"),
    ErrorRule(NotFoundError, vendor_code="NotFound"),
    ErrorRule(ConflictError, vendor_code="Conflict"),
    ErrorRule(ConflictError, vendor_code="Duplicated"),
    ErrorRule(ConflictError, vendor_code="NotAllowed"),
    ErrorRule(InvalidRequestError, vendor_code="InvalidQueryCriteria"),
    ErrorRule(InvalidRequestError, vendor_code="InvalidSortCriteria"),
    ErrorRule(InvalidRequestError, vendor_code="InputValidationFailed"),
    ErrorRule(InvalidRequestError, vendor_code="Required"),
    ErrorRule(InvalidRequestError, vendor_code="InvalidFormat"),
)
"""The error tokens both platforms document, by meaning; HTTP statuses cover the rest."""


# -- identifiers -------------------------------------------------------------------------


def with_luhn(iccid: Any) -> str:
    """The full ICCID: ``iccid`` (the ICCID without its check digit) and its Luhn digit."""
    if not isinstance(iccid, str):
        raise TypeError("iccid must be a string")
    body = iccid.strip()
    # The digit is computed here, so the result passes Luhn: only its form is checked.
    return normalize_iccid(body + str(luhn_check_digit(body)))


def pick_iccid(record: Mapping[str, Any]) -> str:
    """The full ICCID of a SIM record, with its Luhn check digit.

    Both platforms document ``iccid`` as the ICCID without its check digit (emnify refuses
    any other length than 19 digits; 1NCE pairs ``8988303000123456789`` with
    ``89883030001234567890``) and add ``iccid_with_luhn`` only sometimes: emnify's live
    records usually lack it. The check digit is computed from ``iccid``, so a record
    gives the same ICCID with or without ``iccid_with_luhn``; that field (its check digit
    verified) serves only where ``iccid`` is missing.
    """
    plain = record.get("iccid")
    if plain not in (None, ""):
        return with_luhn(plain)
    return normalize_iccid(record["iccid_with_luhn"], luhn=True)


def iccid_candidates(iccid: str) -> tuple[str, ...]:
    """The values of the vendor's ``iccid`` field that the ICCID a user gave can stand for.

    The platforms key SIMs by ``iccid`` without its check digit, while cdp-sdk shows the
    full ICCID; look-ups accept both forms. A value whose last digit is its Luhn check
    digit is first tried without it, then as given (an ICCID without check digit passes
    Luhn one time in ten).
    """
    return (iccid[:-1], iccid) if luhn_valid(iccid) else (iccid,)


# -- dates and usage ---------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """A timestamp as aware UTC: ``2021-11-18T08:25:53.000+0000``, ``...298Z``, the naive
    ``2014-10-20 00:00:00`` (the platforms run on UTC) and older docs' ``8/1/2019 8:47:00 AM``.
    """
    if isinstance(value, str) and "/" in value:
        return datetime.strptime(value.strip(), "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=UTC)
    return parse_datetime(value, assume_utc=True)


def in_range(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    """Whether ``moment`` lies in ``[start, end)`` (open sides are unbounded)."""
    return (start is None or moment >= start) and (end is None or moment < end)


def overlaps(record: UsageRecord, start: datetime | None, end: datetime | None) -> bool:
    """Whether the record's period shares time with ``[start, end)``."""
    after_start = start is None or record.end is None or record.end > start
    return after_start and (end is None or record.start is None or record.start < end)


def day_span(
    start: datetime | None, end: datetime | None, *, now: datetime, default_days: int = 30
) -> tuple[date, date]:
    """The UTC dates ``[first, stop)`` whose days cover ``[start, end)``; without bounds,
    the last ``default_days`` days up to today."""
    stop = (end - timedelta(microseconds=1)).date() if end else now.date()
    stop += timedelta(days=1)
    first = start.date() if start else stop - timedelta(days=default_days)
    return first, max(first, stop)


@dataclass(frozen=True)
class Period:
    """The half-open period ``[start, end)`` one stats record covers."""

    start: datetime
    end: datetime
    granularity: Granularity
    final: bool


def day_period(value: Any, *, now: datetime) -> Period:
    """The UTC day of ``2024-05-01`` or ``2021-06-30T00:00:00.000Z``; final once it is over."""
    day = parse_date(value)
    if day is None:
        raise ValueError("missing date")
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    return Period(start, end, Granularity.DAY, final=end <= now)


def month_period(value: Any, *, now: datetime, final: bool) -> Period:
    """The calendar month holding ``value`` (a date or date-time string)."""
    day = parse_date(value) or now.date()
    start = datetime(day.year, day.month, 1, tzinfo=UTC)
    end = datetime(day.year + day.month // 12, day.month % 12 + 1, 1, tzinfo=UTC)
    return Period(start, end, Granularity.MONTH, final=final or end <= now)


# (stats key, bearer, zone)
_BEARERS: tuple[tuple[str, Bearer, str | None], ...] = (
    ("data", Bearer.DATA, None),
    ("sms", Bearer.SMS, None),
    ("sat_geo_data", Bearer.DATA, "satellite"),
    ("sat_geo_sms", Bearer.SMS, "satellite"),
)
Directions = Mapping[Bearer, tuple[tuple[str, Direction], ...]]
"""Per bearer, the stats fields that hold each direction: ``(field, direction)`` pairs."""

EMNIFY_DIRECTIONS: Directions = {
    # emnify: rx is "received by the device" and tx "transmitted by the device", for data
    # and SMS alike (the SIM stats reference).
    Bearer.DATA: (("volume_tx", Direction.MO), ("volume_rx", Direction.MT)),
    Bearer.SMS: (("volume_tx", Direction.MO), ("volume_rx", Direction.MT)),
}
ONENCE_DIRECTIONS: Directions = {
    # 1NCE SIM Management spec: data volume_tx "upstream, send by SIM", volume_rx
    # "downstream, received by SIM"; but SmsUsage volume_rx "the used MO-SMS message count"
    # and volume_tx "the used MT-SMS message count" (its example: rx 2, tx 1 of 3).
    Bearer.DATA: (("volume_tx", Direction.MO), ("volume_rx", Direction.MT)),
    Bearer.SMS: (("volume_rx", Direction.MO), ("volume_tx", Direction.MT)),
}
_DATA_UNITS = {None, "", "MB"}


def usage_records(
    record: Mapping[str, Any],
    *,
    connector: str,
    iccid: str | None,
    period: Period,
    keep_cost: bool,
    directions: Directions,
) -> list[UsageRecord]:
    """Tidy usage records from one stats record ``{"data": {...}, "sms": {...}}``.

    One record per bearer and direction, the fields read as ``directions`` says (mo
    first); a block with only ``volume`` gives one record without direction; zero volumes
    are left out.
    Data is converted from MB to bytes, SMS counts stay counts. The cost of a block covers
    both directions, so with ``keep_cost`` it is kept in ``extra`` (``cost``, ``currency``)
    of each record rather than as the ``cost`` of one direction.
    """
    records: list[UsageRecord] = []
    for key, bearer, zone in _BEARERS:
        block = record.get(key)
        if not block:
            continue
        if not isinstance(block, Mapping):
            raise TypeError(f"{key} is not an object")
        extra = _cost_extra(block) if keep_cost else {}
        for direction, volume in _volumes(block, directions[bearer]):
            quantity = _quantity(bearer, volume, block)
            if quantity > 0:
                records.append(
                    UsageRecord(
                        connector=connector,
                        iccid=iccid,
                        bearer=bearer,
                        direction=direction,
                        quantity=quantity,
                        start=period.start,
                        end=period.end,
                        granularity=period.granularity,
                        final=period.final,
                        zone=zone,
                        extra=extra,
                    )
                )
    return records


def _volumes(
    block: Mapping[str, Any], fields: tuple[tuple[str, Direction], ...]
) -> list[tuple[Direction | None, Any]]:
    directional = [(d, block.get(field)) for field, d in fields if field in block]
    if directional:
        return [(direction, value) for direction, value in directional if value is not None]
    return [(None, block["volume"])] if block.get("volume") is not None else []


def _quantity(bearer: Bearer, volume: Any, block: Mapping[str, Any]) -> int:
    if bearer is Bearer.SMS:
        return _count(volume)
    unit = (block.get("traffic_type") or {}).get("unit")
    if unit not in _DATA_UNITS:
        raise ValueError(f"unexpected data unit {unit!r}")
    return megabytes_to_bytes(volume, bytes_per_mb=BYTES_PER_MB)


def _count(value: Any) -> int:
    number = to_decimal(value)
    if number is None or number < 0 or number != number.to_integral_value():
        raise ValueError("an SMS count must be a whole number")
    return int(number)


def _cost_extra(block: Mapping[str, Any]) -> dict[str, JsonValue]:
    cost = to_decimal(block.get("cost"))
    code = (block.get("currency") or {}).get("code")
    if cost is None:
        return {}
    return {"cost": str(cost), "currency": code}


def date_windows(start: date, end: date, days: int) -> list[tuple[date, date]]:
    """``[start, end)`` cut into consecutive windows of at most ``days`` days."""
    windows = []
    while start < end:
        stop = min(end, start + timedelta(days=days))
        windows.append((start, stop))
        start = stop
    return windows


# -- the emulator side -------------------------------------------------------------------


def error_body(code: int, token: str, message: str) -> dict[str, Any]:
    """A family error body, as the platforms send it."""
    return {"error_code": code, "error_token": token, "message": message}


def page_count(total: int, size: int) -> int:
    """The number of pages ``total`` items fill at ``size`` a page (one when empty)."""
    return max(1, math.ceil(total / size))


def page_number(page: Any, pages: int) -> int:
    """The 1-based page served for a requested ``page``.

    Like emnify, a page number out of range serves the first or the last page.
    """
    try:
        return min(max(1, int(page)), pages)
    except (TypeError, ValueError):
        return 1


def page_of(items: Sequence[T], page: Any, size: int) -> tuple[Sequence[T], int, int]:
    """The slice for 1-based ``page``, the page served and the page count (O(page))."""
    pages = page_count(len(items), size)
    number = page_number(page, pages)
    return items[(number - 1) * size : number * size], number, pages


def page_headers(
    *, page: int, size: int, total: int, pages: int, lower: bool = False
) -> dict[str, str]:
    """The ``X-*`` paging headers (emnify sends some lists' in lower case)."""
    headers = {
        "X-Count-Per-Page": str(size),
        "X-Current-Page": str(page),
        "X-Total-Count": str(total),
        "X-Total-Pages": str(pages),
    }
    return {k.lower(): v for k, v in headers.items()} if lower else headers


_TRAFFIC_TYPES = {
    Bearer.DATA: {"id": 5, "description": "Data", "unit": "MB"},
    Bearer.SMS: {"id": 6, "description": "SMS", "unit": "SMS"},
}
EURO = {"id": 1, "code": "EUR", "symbol": "€"}


def stats_block(
    bearer: Bearer,
    mo: float,
    mt: float,
    *,
    directions: Directions,
    cost: Decimal | None,
    as_text: bool,
) -> dict[str, Any]:
    """One bearer's stats block; ``mo``/``mt`` in MB (data) or messages (SMS), written to
    ``volume_tx``/``volume_rx`` as ``directions`` says.

    ``as_text`` writes the numbers as strings, as 1NCE and emnify's organisation stats do.
    """

    def number(value: float | Decimal) -> float | int | str:
        value = round(float(value), 6)
        if value.is_integer() and bearer is Bearer.SMS:
            return str(int(value)) if as_text else int(value)
        return f"{value:.6f}" if as_text else value

    volumes = {Direction.MO: mo, Direction.MT: mt}
    block: dict[str, Any] = {"volume": number(mo + mt)}
    for field, direction in sorted(directions[bearer]):
        block[field] = number(volumes[direction])
    block |= {
        "cost": None if cost is None else number(cost),
        "traffic_type": dict(_TRAFFIC_TYPES[bearer]),
        "currency": dict(EURO),
    }
    return block
