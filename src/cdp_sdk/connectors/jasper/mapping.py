"""Cisco IoT Control Center payloads -> normalized models (pure functions and tables)."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from cdp_sdk.mapping import Lifecycle, activation_modes, lookup_status, parse_datetime, tag
from cdp_sdk.models import (
    AuditEvent,
    AuditKind,
    Bearer,
    Direction,
    Granularity,
    SimStatus,
    StatusChange,
    Subscription,
    Tag,
    Tariff,
    UsageRecord,
)

__all__ = [
    "ACCEPTED_WINDOW",
    "ACTIVATION_MODES",
    "CUSTOM_FIELDS",
    "FULL_SYNC_SINCE",
    "STATE_FOR",
    "STATUS",
    "custom_field_changes",
    "cycle_bounds",
    "days_of_history",
    "listed_iccid",
    "overlaps",
    "past_cycles",
    "request_instant",
    "search_windows",
    "to_audit_event",
    "to_cycle_to_date",
    "to_status_change",
    "to_subscription",
    "to_tariff",
    "to_zone_usage",
    "within",
]

NAME = "jasper"

# Control Center's SIM states (the REST values of the "SIM Status Values" catalogue), mapped
# by the normalized definitions. Connection and billing per state: the Control Center guide
# ("typically, a device is billed only when it is in an activated state") and an operator's
# copy of its state table (T-Mobile: Test Ready connects, not billable; Activation Ready
# billable upon connection, then Activated; Deactivated "inactive and not billable";
# Retired removed from the network).
STATUS: dict[str, SimStatus] = {
    "TEST_READY": SimStatus.TEST,  # free test quota, not billable
    "INVENTORY": SimStatus.INVENTORY,  # held in inventory, not usable
    "ACTIVATION_READY": SimStatus.READY,  # becomes ACTIVATED on the first data session
    "ACTIVATED": SimStatus.ACTIVE,  # connects and is billed
    "DEACTIVATED": SimStatus.DEACTIVATED,  # no connection, not billable (bar commitments)
    "RETIRED": SimStatus.RETIRED,  # removed from the network, ready to be offboarded
    "PURGED": SimStatus.RETIRED,  # purged by the operator before a return to inventory
    "REPLACED": SimStatus.RETIRED,  # swapped for another SIM
}
STATE_FOR: dict[SimStatus, str] = {
    SimStatus.TEST: "TEST_READY",
    SimStatus.INVENTORY: "INVENTORY",
    SimStatus.READY: "ACTIVATION_READY",
    SimStatus.ACTIVE: "ACTIVATED",
    SimStatus.DEACTIVATED: "DEACTIVATED",
    SimStatus.RETIRED: "RETIRED",
}
"""The state a normalized status is requested as; ``suspended`` has none (Control Center
has no state that blocks a SIM while it stays billed)."""

# name: (description, billable, auto_activates, settable, next states). The moves: the
# documented refusal of a return to a pre-activation state once activated (10000029) and
# of activating an activated SIM (10030000); the rest of the table is our reading.
_LIFECYCLE: dict[str, Lifecycle] = {
    "TEST_READY": (
        "Free test traffic within the test limits; then the account's post-test state",
        False,
        False,
        True,
        ("INVENTORY", "ACTIVATION_READY", "ACTIVATED", "DEACTIVATED", "RETIRED"),
    ),
    "INVENTORY": (
        "Held in the enterprise inventory, not usable",
        False,
        False,
        True,
        ("TEST_READY", "ACTIVATION_READY", "ACTIVATED", "DEACTIVATED", "RETIRED"),
    ),
    "ACTIVATION_READY": (
        "Pre-activation: becomes ACTIVATED (and billed) on its first data session",
        False,
        True,
        True,
        ("TEST_READY", "INVENTORY", "ACTIVATED", "DEACTIVATED", "RETIRED"),
    ),
    "ACTIVATED": (
        "In service and billed",
        True,
        False,
        True,
        ("INVENTORY", "DEACTIVATED", "RETIRED"),
    ),
    "DEACTIVATED": (
        "No connection and not billed (unless a commitment applies); can be activated again",
        False,
        False,
        True,
        ("INVENTORY", "ACTIVATED", "RETIRED"),
    ),
    "RETIRED": ("Removed from the network; end of life", False, False, True, ()),
    "PURGED": ("Purged by the operator, before a return to its inventory", False, False, False, ()),
    "REPLACED": ("Swapped for another SIM", False, False, False, ()),
}

ACTIVATION_MODES = activation_modes(NAME, STATUS, _LIFECYCLE)

CUSTOM_FIELDS: tuple[str, ...] = (
    *(f"accountCustom{n}" for n in range(1, 11)),
    *(f"operatorCustom{n}" for n in range(1, 6)),
    *(f"customerCustom{n}" for n in range(1, 6)),
)
"""The fixed custom-field slots: read as tags, written through Edit Device Details."""

FULL_SYNC_SINCE = datetime(2000, 1, 1, tzinfo=UTC)
"""Where a full listing starts: Search Devices has no "all devices" mode."""
SEARCH_WINDOW = timedelta(days=365)
"""The longest ``modifiedSince``..``modifiedTill`` window (reported: one year)."""
ACCEPTED_WINDOW = timedelta(days=364)
"""How far back a listing starts on a platform that refuses older windows (``10000045``):
a year, less a day of margin for clocks and leap years."""
PAST_CYCLES = 2
"""Billing cycles before the current one that Get Device Usage by Zone serves."""
MAX_DAYS_OF_HISTORY = 365

_EXTRA_FIELDS = (
    "communicationPlan",
    "customer",
    "endConsumerId",
    "dateShipped",
    "fixedIpv6Address",
    "deviceID",
    "modemID",
    "simNotes",
    "globalSimType",
    "simProfileId",
    "overageLimitOverride",
    "accountName",
    "customerName",
)
_AUDIT_KIND = {"sim status": AuditKind.STATUS_CHANGE, "rate plan": AuditKind.TARIFF_CHANGE}
# (vendor field, bearer) of Get Device Usage; the counts are totals of both directions.
_CTD_COLUMNS = (
    ("ctdDataUsage", Bearer.DATA),
    ("ctdSMSUsage", Bearer.SMS),
    ("ctdVoiceUsage", Bearer.VOICE),
)
_CTD_EXTRA = ("ratePlan", "ctdSessionCount", "overageLimitReached", "overageLimitOverride")
# (vendor field, its unit field, bearer, direction) of a Get Device Usage by Zone row.
_ZONE_COLUMNS = (
    ("dataUsage", "dataUsageUnit", Bearer.DATA, None),
    ("smsMOUsage", None, Bearer.SMS, Direction.MO),
    ("smsMTUsage", None, Bearer.SMS, Direction.MT),
    ("voiceMOUsage", "voiceMOUsageUnit", Bearer.VOICE, Direction.MO),
    ("voiceMTUsage", "voiceMTUsageUnit", Bearer.VOICE, Direction.MT),
)
# Units a zone row may name, per bearer; SMS rows carry no unit.
_UNIT_FACTOR: dict[Bearer, dict[str, int]] = {
    Bearer.DATA: {"bytes": 1},
    Bearer.VOICE: {"seconds": 1, "minutes": 60},
}


# -- subscriptions ------------------------------------------------------------------------


def listed_iccid(record: Mapping[str, Any]) -> str:
    """The ICCID of a Search Devices record (which holds little else)."""
    iccid = record["iccid"]
    if not isinstance(iccid, str) or not iccid:
        raise ValueError("iccid: expected a non-empty string")
    return iccid


def to_subscription(record: Mapping[str, Any]) -> Subscription:
    """A Get Device Details record as a subscription; custom-field slots become tags."""
    status, raw = lookup_status(STATUS, record["status"])
    updated = record.get("dateUpdated") or record.get("dateModified")
    return Subscription.model_validate(
        {
            "connector": NAME,
            "account": _text(record.get("accountId")),
            "id": record["iccid"],
            "iccid": record["iccid"],
            "imsi": _text(record.get("imsi")),
            "msisdn": _text(record.get("msisdn")),
            "imei": _text(record.get("imei")),
            "eid": _text(record.get("eid")),
            "status": status,
            "status_raw": raw,
            "tariff": _text(record.get("ratePlan")),
            "created_at": parse_datetime(record.get("dateAdded")),
            "activated_at": parse_datetime(record.get("dateActivated")),
            "updated_at": parse_datetime(updated),
            "ip_address": _text(record.get("fixedIPAddress"))
            or _text(record.get("fixedIpv6Address")),
            "tags": _slot_tags(record),
            "extra": {
                field: record[field] for field in _EXTRA_FIELDS if record.get(field) is not None
            },
        }
    )


def _slot_tags(record: Mapping[str, Any]) -> tuple[Tag, ...]:
    """``Tag(<slot>, <value>)`` for each non-blank custom-field slot, in slot order."""
    found = []
    for slot in CUSTOM_FIELDS:
        raw = record.get(slot)
        # Most slots are blank strings: stripped inline, without a call per slot.
        value = (raw.strip() or None) if type(raw) is str else _text(raw)
        if value is not None:
            found.append(tag(slot, value))
    return tuple(found)


def custom_field_changes(tags: Mapping[str, str | None], remove: Iterable[str]) -> dict[str, str]:
    """The Edit Device Details body that sets ``tags`` and clears the slots in ``remove``.

    Raises:
        ValueError: a key is not a custom-field slot, or a value is missing (a slot holds
            text: clearing it is what ``remove`` is for).
    """
    removed = tuple(remove)
    unknown = sorted({key for key in (*tags, *removed) if key not in CUSTOM_FIELDS})
    if unknown:
        raise ValueError(
            f"not a Control Center custom field: {', '.join(unknown)} (the slots are "
            "accountCustom1..10, operatorCustom1..5 and customerCustom1..5)"
        )
    empty = sorted(key for key, value in tags.items() if value is None or not value.strip())
    if empty:
        raise ValueError(
            f"custom fields hold text: give a value for {', '.join(empty)}, or clear them "
            "with remove="
        )
    return {**{key: str(value) for key, value in tags.items()}, **dict.fromkeys(removed, "")}


def to_status_change(iccid: str, requested: SimStatus, http_status: int) -> StatusChange:
    """The outcome of Edit Device Details: 200 applied it, 202 accepted it for later."""
    return StatusChange(
        connector=NAME,
        iccid=iccid,
        requested=requested,
        state="pending" if http_status == 202 else "done",
    )


def request_instant(moment: datetime) -> str:
    """A request date-time as documented: ``2016-04-18T17:31:34+00:00`` (whole seconds)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def search_windows(since: datetime, now: datetime) -> Iterator[tuple[datetime, datetime | None]]:
    """Consecutive Search Devices windows from ``since``: one year each, the last open."""
    start = since.astimezone(UTC).replace(microsecond=0)
    while start + SEARCH_WINDOW < now:
        yield start, start + SEARCH_WINDOW
        start += SEARCH_WINDOW
    yield start, None


# -- tariffs ------------------------------------------------------------------------------


def to_tariff(record: Mapping[str, Any]) -> Tariff:
    """A rate plan; devices name their plan, so the name is the id.

    The plan parameters depend on the plan type and are not documented field by field:
    they are kept in ``extra`` as given.
    """
    name = record["name"]
    if not isinstance(name, str) or not name:
        raise ValueError("name: expected a non-empty string")
    return Tariff(
        connector=NAME,
        id=name,
        name=name,
        extra={key: value for key, value in record.items() if key != "name" and value is not None},
    )


# -- usage --------------------------------------------------------------------------------


def cycle_bounds(body: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
    """The billing cycle ``[start, end)`` of a Get Device Usage by Zone answer, if given.

    The platform gives the cycle's last second (``cycleEndDate``); the end returned here is
    the instant after it.
    """
    start = parse_datetime(body.get("cycleStartDate"))
    last = parse_datetime(body.get("cycleEndDate"))
    if start is None or last is None:
        return None
    return start, (last + timedelta(seconds=1)).replace(microsecond=0)


def past_cycles(current_start: datetime) -> list[tuple[str, datetime, datetime]]:
    """The cycles before the current one that the platform serves, oldest first.

    Each is ``(cycleStartDate parameter, start, end)``. Cycles are taken as monthly and
    starting at midnight of the account's time zone, which the current cycle's start
    instant reveals: ``2018-08-26T16:00:00Z`` is midnight at +08:00, so the cycle before it
    is asked for as ``2018-07-27+08:00``.
    """
    offset = _midnight_offset(current_start)
    local_day = (current_start + offset).date()
    starts = [_cycle_start(local_day, months, offset) for months in range(PAST_CYCLES + 1)]
    cycles = []
    for months in range(PAST_CYCLES, 0, -1):
        parameter = f"{_add_months(local_day, -months).isoformat()}{_zone(offset)}"
        cycles.append((parameter, starts[months], starts[months - 1]))
    return cycles


def to_cycle_to_date(
    iccid: str, cycle: tuple[datetime, datetime] | None, body: Mapping[str, Any]
) -> list[UsageRecord]:
    """Get Device Usage: data bytes, SMS and voice seconds of the open billing cycle."""
    start, end = cycle if cycle is not None else (None, None)
    extra = {field: body[field] for field in _CTD_EXTRA if body.get(field) is not None}
    return [
        UsageRecord(
            connector=NAME,
            iccid=iccid,
            bearer=bearer,
            quantity=_count(body[field]),
            start=start,
            end=end,
            granularity=Granularity.CYCLE,
            final=False,
            extra=extra,
        )
        for field, bearer in _CTD_COLUMNS
        if body.get(field) is not None
    ]


def to_zone_usage(iccid: str, body: Mapping[str, Any], *, final: bool) -> list[UsageRecord]:
    """Get Device Usage by Zone: one record per zone, bearer and direction of one cycle.

    Rows sit under ``deviceCycleUsageInZones``, a map of ``"<rate plan>, <version>"`` to
    rows as seen in public client code, or a plain list as the docs describe it. Field
    names are read without regard to case (``smsMOUsage``, ``SMSMOUsage``, ``smsmousage``
    are all seen). Absent or null counters give no record.
    """
    cycle = cycle_bounds(body)
    start, end = cycle if cycle is not None else (None, None)
    records = []
    for row in _zone_rows(body.get("deviceCycleUsageInZones")):
        fields = {str(key).lower(): value for key, value in row.items()}
        extra = {
            key: fields[key.lower()]
            for key in ("ratePlan", "ratePlanVersion")
            if fields.get(key.lower()) is not None
        }
        for field, unit_field, bearer, direction in _ZONE_COLUMNS:
            value = fields.get(field.lower())
            if value is None:
                continue
            unit = fields.get(unit_field.lower()) if unit_field else None
            records.append(
                UsageRecord(
                    connector=NAME,
                    iccid=iccid,
                    bearer=bearer,
                    direction=direction,
                    quantity=_count(value) * _unit_factor(bearer, unit),
                    start=start,
                    end=end,
                    granularity=Granularity.CYCLE,
                    final=final,
                    zone=_text(fields.get("zone")),
                    extra=extra,
                )
            )
    return records


# -- audit trail --------------------------------------------------------------------------


def days_of_history(start: datetime | None, now: datetime) -> int:
    """The ``daysOfHistory`` that reaches back to ``start`` (the maximum without one)."""
    if start is None:
        return MAX_DAYS_OF_HISTORY
    days = -((start - now) // timedelta(days=1))  # whole days, rounded up
    return max(1, min(MAX_DAYS_OF_HISTORY, days))


def to_audit_event(iccid: str, record: Mapping[str, Any]) -> AuditEvent:
    """A Get Device Audit History record; ``SIM Status`` and ``Rate Plan`` have own kinds."""
    field = _text(record.get("field"))
    if field is None:
        kind = AuditKind.OTHER
    else:
        kind = _AUDIT_KIND.get(field.casefold(), AuditKind.FIELD_CHANGE)
    return AuditEvent(
        connector=NAME,
        iccid=iccid,
        occurred_at=_required_instant(record["effectiveDate"]),
        kind=kind,
        field=field,
        old_value=_text(record.get("priorValue")),
        new_value=_text(record.get("value")),
        actor=_text(record.get("userName")) or _text(record.get("delegatedUser")),
        extra={
            key: record[key] for key in ("status", "delegatedUser") if record.get(key) is not None
        },
    )


# -- ranges -------------------------------------------------------------------------------


def overlaps(
    period: tuple[datetime | None, datetime | None], start: datetime | None, end: datetime | None
) -> bool:
    """Whether the period ``[period_start, period_end)`` meets ``[start, end)``; ``None``
    bounds are open."""
    period_start, period_end = period
    return (start is None or period_end is None or period_end > start) and (
        end is None or period_start is None or period_start < end
    )


def within(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    """Whether ``moment`` lies in ``[start, end)``; ``None`` bounds are open."""
    return (start is None or moment >= start) and (end is None or moment < end)


# -- helpers ------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A string field, ``None`` when null or blank."""
    if type(value) is str:  # the usual case
        return value.strip() or None
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise TypeError(f"expected text, got {type(value).__name__}")
    text = str(value).strip()
    return text or None


def _count(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected a count, got a boolean")
    number = float(value)
    if not number.is_integer() or number < 0:
        raise ValueError("expected a whole, non-negative count")
    return int(number)


def _unit_factor(bearer: Bearer, unit: Any) -> int:
    """The factor to base units; no unit means base units."""
    if unit is None:
        return 1
    factor = _UNIT_FACTOR.get(bearer, {}).get(str(unit).strip().lower())
    if factor is None:
        raise ValueError(f"unknown usage unit {unit!r}")
    return factor


def _zone_rows(value: Any) -> Iterator[Mapping[str, Any]]:
    groups = value.values() if isinstance(value, Mapping) else [value or []]
    for rows in groups:
        if not isinstance(rows, list):
            raise TypeError("deviceCycleUsageInZones: expected lists of usage rows")
        yield from rows


def _required_instant(value: Any) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        raise ValueError("missing date-time")
    return moment


def _midnight_offset(moment: datetime) -> timedelta:
    """The UTC offset at which ``moment`` is midnight (between -12:00 and +14:00)."""
    since_midnight = moment - datetime.combine(moment.date(), time.min, tzinfo=UTC)
    offset = -since_midnight % timedelta(days=1)
    return offset - timedelta(days=1) if offset > timedelta(hours=14) else offset


def _cycle_start(local_day: date, months_back: int, offset: timedelta) -> datetime:
    day = _add_months(local_day, -months_back)
    return datetime.combine(day, time.min, tzinfo=timezone(offset)).astimezone(UTC)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def _zone(offset: timedelta) -> str:
    """``Z`` or ``+hh:mm`` as in ``2016-11-10Z`` and ``2016-11-10+00:00``."""
    if not offset:
        return "Z"
    sign = "+" if offset > timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
