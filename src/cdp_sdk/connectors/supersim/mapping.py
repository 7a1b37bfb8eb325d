"""Super SIM (supersim v1) payloads -> normalized models (pure functions and tables).

Field names follow the official OpenAPI (twilio-oai ``twilio_supersim_v1.yaml``): answers
are JSON in lower_snake_case with ISO 8601 UTC times (``2015-07-30T20:00:00Z``); usage
volumes are bytes and a Fleet's ``data_limit`` is megabytes. The ``Sim`` resource carries
no IMSI, MSISDN, IMEI or EID.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import JsonValue

from cdp_sdk.errors import InvalidRequestError
from cdp_sdk.mapping import (
    Lifecycle,
    activation_modes,
    lookup_status,
    megabytes_to_bytes,
    parse_datetime,
    tag,
    to_decimal,
)
from cdp_sdk.models import (
    AuditEvent,
    AuditKind,
    Bearer,
    Direction,
    Granularity,
    SimStatus,
    StatusChange,
    Subscription,
    Tariff,
    UsageRecord,
    luhn_check_digit,
    luhn_valid,
    normalize_iccid,
)

__all__ = [
    "ACTIVATION_MODES",
    "GRANULARITY",
    "LABEL",
    "STATE_FOR",
    "STATUS",
    "full_iccid",
    "iccid_candidates",
    "label_update",
    "to_audit_event",
    "to_status_change",
    "to_subscription",
    "to_tariff",
    "to_usage",
]

NAME = "supersim"
LABEL = "label"
"""The key of the one tag a Super SIM carries: its ``unique_name``."""

SUPER_SIM_IIN = "8988307"
"""The issuer prefix of Super SIM ICCIDs, which have 20 digits with the check digit."""
SUPER_SIM_ICCID_DIGITS = 20

STATUS: dict[str, SimStatus] = {
    "new": SimStatus.INVENTORY,  # never enabled, cannot connect, free
    "ready": SimStatus.READY,  # can connect, no monthly fee, becomes active on its own
    "active": SimStatus.ACTIVE,  # can connect, billed
    "inactive": SimStatus.DEACTIVATED,  # blocked; no new billing period starts
    "scheduled": SimStatus.UNKNOWN,  # a queued update; the target is not on the resource
}

STATE_FOR: dict[SimStatus, str] = {
    SimStatus.READY: "ready",
    SimStatus.ACTIVE: "active",
    SimStatus.DEACTIVATED: "inactive",
}
"""The ``Status`` an update sends for each requestable status (``ready|active|inactive``)."""

# name: (description, billable, auto_activates, settable, next states)
_LIFECYCLE: dict[str, Lifecycle] = {
    "new": (
        "Registered, never enabled: cannot connect, no charge; cannot be returned to",
        False,
        False,
        False,
        ("ready", "active"),
    ),
    "ready": (
        "Can connect, no monthly fee; becomes active after 250 KB of data, five SMS "
        "Commands or three months",
        False,
        True,
        True,
        ("active", "inactive"),
    ),
    "active": ("Can connect; the monthly fee is charged", True, False, True, ("inactive",)),
    "inactive": (
        "Blocked from the network; no new billing period (no monthly fee) starts",
        False,
        False,
        True,
        ("active",),
    ),
    "scheduled": (
        "An update queued until the network operator is ready; the SIM then takes the "
        "requested status on its own",
        None,
        False,
        False,
        (),
    ),
}

ACTIVATION_MODES = activation_modes(NAME, STATUS, _LIFECYCLE)

GRANULARITY: dict[Granularity, str] = {
    Granularity.HOUR: "hour",
    Granularity.DAY: "day",
    Granularity.MONTH: "all",  # one record per requested window, asked for month by month
}
"""The ``Granularity`` of ``GET /v1/UsageRecords`` for each normalized granularity."""

_FLEET_EXTRAS = (
    "data_enabled",
    "data_metering",
    "sms_commands_enabled",
    "network_access_profile_sid",
    "account_sid",
)
_USAGE_DIMENSIONS = ("sim_sid", "fleet_sid", "network_sid", "iso_country")


# -- identifiers -------------------------------------------------------------------------


def full_iccid(value: Any) -> str:
    """The full ICCID, with its Luhn check digit, of an ICCID the API gave.

    Super SIM ICCIDs have 20 digits, check digit included: a 19-digit value with the Super
    SIM issuer prefix lacks it. Any other value is full when its last digit is its check
    digit, or when it already has 20 digits or more; else the check digit is appended.
    """
    digits = normalize_iccid(value)
    short = len(digits) < SUPER_SIM_ICCID_DIGITS
    if short and digits.startswith(SUPER_SIM_IIN) and len(digits) == SUPER_SIM_ICCID_DIGITS - 1:
        return digits + str(luhn_check_digit(digits))
    if not short or luhn_valid(digits):
        return digits
    return digits + str(luhn_check_digit(digits))


def iccid_candidates(iccid: str) -> tuple[str, ...]:
    """The values of the ``Iccid`` filter to try for an ICCID a user gave: the full ICCID
    first, then (tolerant reading) the same without its check digit."""
    full = full_iccid(iccid)
    return (full, full[:-1]) if luhn_valid(full) else (full,)


# -- subscriptions -----------------------------------------------------------------------


def to_subscription(sim: Mapping[str, Any]) -> Subscription:
    """A ``Sim``: ``unique_name`` becomes ``Tag("label", ...)``, the Fleet is the tariff."""
    status, raw = lookup_status(STATUS, sim["status"])
    name = sim.get("unique_name")
    fleet = sim.get("fleet_sid")
    return Subscription.model_validate(
        {
            "connector": NAME,
            "account": sim.get("account_sid"),
            "id": _required_text(sim.get("sid"), "sid"),
            "iccid": full_iccid(sim["iccid"]),
            "status": status,
            "status_raw": raw,
            "tariff": fleet,
            "created_at": parse_datetime(sim.get("date_created")),
            "updated_at": parse_datetime(sim.get("date_updated")),
            "tags": (tag(LABEL, str(name)),) if name else (),
            "extra": _present(fleet_sid=fleet),
        }
    )


def to_status_change(
    iccid: str,
    requested: SimStatus,
    sim: Mapping[str, Any],
    *,
    accepted: bool,
    request_id: str | None = None,
) -> StatusChange:
    """The outcome of ``POST /v1/Sims/{Sid}`` with ``Status``: ``pending`` when the platform
    accepted it for later (HTTP 202, ``status`` ``scheduled``), else ``done``."""
    raw = sim.get("status")
    if not isinstance(raw, str) or not raw:
        raise ValueError("the updated Sim has no status")
    pending = accepted or raw == "scheduled"
    return StatusChange(
        connector=NAME,
        iccid=iccid,
        requested=requested,
        state="pending" if pending else "done",
        request_id=request_id,
        effective_at=None if pending else parse_datetime(sim.get("date_updated")),
        extra={"status": raw},
    )


def label_update(tags: Mapping[str, str | None], remove: tuple[str, ...]) -> str | None:
    """The ``UniqueName`` an ``update_tags`` call sends ("" clears it), ``None`` for none."""
    others = sorted((set(tags) | set(remove)) - {LABEL})
    if others:
        raise InvalidRequestError(
            f"a Super SIM has one tag, {LABEL!r} (its unique_name); cannot set or remove "
            + ", ".join(others),
            connector=NAME,
        )
    if LABEL in tags:
        value = tags[LABEL]
        if not value or not value.strip():
            raise InvalidRequestError(
                f"the {LABEL!r} tag (unique_name) needs a text value", connector=NAME
            )
        return value
    return "" if LABEL in remove else None


# -- tariffs -----------------------------------------------------------------------------


def to_tariff(fleet: Mapping[str, Any]) -> Tariff:
    """A Fleet: the settings its SIMs share, without any price (Super SIM is metered pay as
    you go). ``data_limit`` caps each SIM's data per billing period: it is not included
    data, so it is kept in ``extra`` (in bytes) and ``included_data_bytes`` stays unset."""
    sid = _required_text(fleet.get("sid"), "sid")
    limit = fleet.get("data_limit")
    return Tariff(
        connector=NAME,
        id=sid,
        name=str(fleet.get("unique_name") or sid),
        extra=_present(
            data_limit_bytes=None if limit is None else megabytes_to_bytes(limit),
            **{key: fleet.get(key) for key in _FLEET_EXTRAS},
        ),
    )


# -- usage -------------------------------------------------------------------------------


def to_usage(
    record: Mapping[str, Any], *, iccid: str | None, granularity: Granularity, now: datetime
) -> list[UsageRecord]:
    """One UsageRecord as tidy rows: ``data_upload`` -> data ``mo``, ``data_download`` ->
    ``mt`` (zero rows left out); a record with only ``data_total`` gives one row without
    direction. ``data_total_billed`` and ``billed_unit`` cover both directions, so they go
    to ``extra`` (``cost``, ``currency``) of each row, not to ``UsageRecord.cost``."""
    period = record["period"]
    if not isinstance(period, Mapping):
        raise TypeError("period is not an object")
    start = _required_time(period.get("start_time"), "period.start_time")
    end = _required_time(period.get("end_time"), "period.end_time")
    extra = _usage_extra(record)
    directional: list[tuple[Direction | None, Any]] = [
        (direction, record.get(field))
        for field, direction in (("data_upload", Direction.MO), ("data_download", Direction.MT))
    ]
    if all(volume is None for _, volume in directional):
        directional = [(None, record.get("data_total"))]
    rows = []
    for direction, volume in directional:
        quantity = _bytes(volume)
        if quantity > 0:
            rows.append(
                UsageRecord(
                    connector=NAME,
                    iccid=iccid,
                    bearer=Bearer.DATA,
                    direction=direction,
                    quantity=quantity,
                    start=start,
                    end=end,
                    granularity=granularity,
                    final=end <= now,
                    extra=extra,
                )
            )
    return rows


def _usage_extra(record: Mapping[str, Any]) -> dict[str, JsonValue]:
    cost = to_decimal(record.get("data_total_billed"))
    total = record.get("data_total")
    return _present(
        data_total=None if total is None else _bytes(total),
        cost=None if cost is None else str(cost),
        currency=record.get("billed_unit") if cost is not None else None,
        **{key: record.get(key) for key in _USAGE_DIMENSIONS},
    )


def _bytes(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError("a byte count must be a number")
    count = to_decimal(value)
    if count is None or count < 0 or count != count.to_integral_value():
        raise ValueError("a byte count must be a whole number of bytes, 0 or more")
    return int(count)


# -- audit events ------------------------------------------------------------------------


def to_audit_event(update: Mapping[str, Any]) -> AuditEvent:
    """A Settings Update: a completed one changed the SIM's settings packages
    (``field_change``); a scheduled, running or failed one is ``other``."""
    status = _required_text(update.get("status"), "status")
    completed = status == "successful"
    moment = parse_datetime(update.get("date_completed")) if completed else None
    moment = moment or parse_datetime(update.get("date_updated"))
    moment = moment or parse_datetime(update.get("date_created"))
    packages = _packages(update.get("packages"))
    iccid = update.get("iccid")
    return AuditEvent(
        connector=NAME,
        id=update.get("sid"),
        iccid=full_iccid(iccid) if iccid else None,
        occurred_at=_required_time(moment, "date_created"),
        kind=AuditKind.FIELD_CHANGE if completed else AuditKind.OTHER,
        field="settings_packages",
        new_value=packages if completed else None,
        description=f"settings update {status}" + (f": {packages}" if packages else ""),
        extra=_present(sim_sid=update.get("sim_sid"), status=status, packages=packages),
    )


def _packages(value: Any) -> str | None:
    """``name@version`` of each package, comma-separated."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise TypeError("packages is not a list")
    names = []
    for package in value:
        if isinstance(package, Mapping):
            name, version = package.get("name"), package.get("version")
            names.append(f"{name}@{version}" if version else str(name))
        else:
            names.append(str(package))
    return ", ".join(names) or None


# -- helpers -----------------------------------------------------------------------------


def _required_text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing {field}")
    return value


def _required_time(value: Any, field: str) -> datetime:
    moment = value if isinstance(value, datetime) else parse_datetime(value)
    if moment is None:
        raise ValueError(f"missing {field}")
    return moment


def _present(**values: Any) -> dict[str, JsonValue]:
    return {key: value for key, value in values.items() if value is not None}
