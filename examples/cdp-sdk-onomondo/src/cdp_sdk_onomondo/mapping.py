"""Onomondo payloads to cdp-sdk models: pure, table-driven functions, no I/O.

Onomondo has no named SIM states, only the boolean ``activated``. The connector names three
states from it and the SIM's online history (:data:`STATUS`); ``status_raw`` carries that
name. Any other ``activated`` value (missing, null, text) maps to ``unknown`` and is kept in
``status_raw`` as ``activated=<json>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from cdp_sdk import (
    ActivationMode,
    Bearer,
    Direction,
    Granularity,
    SimStatus,
    Subscription,
    Tag,
    UsageRecord,
)
from cdp_sdk.http import VendorError, parse_error_body
from cdp_sdk.mapping import from_epoch, lookup_status, parse_datetime, tag

CONNECTOR = "onomondo"

ACTIVATED = "activated"
DEACTIVATED = "deactivated"
NEVER_ONLINE = "deactivated-never-online"

STATUS: dict[str, SimStatus] = {
    ACTIVATED: SimStatus.ACTIVE,  # activated: true
    DEACTIVATED: SimStatus.SUSPENDED,  # activated: false, has been online
    NEVER_ONLINE: SimStatus.INVENTORY,  # activated: false, never online
}

ACTIVATED_FOR: dict[SimStatus, bool] = {SimStatus.ACTIVE: True, SimStatus.SUSPENDED: False}
"""The ``activated`` value to PATCH for each status Onomondo can represent."""

_MODES = (  # name, the states the API can move it to, description
    (ACTIVATED, (DEACTIVATED, NEVER_ONLINE), "activated=true: the SIM may attach and use data."),
    (DEACTIVATED, (ACTIVATED,), "activated=false, and the SIM has been online before."),
    (
        NEVER_ONLINE,
        (ACTIVATED, DEACTIVATED),
        "activated=false, and the SIM has never been online. activated=false is accepted "
        "here too; the SIM reads as inventory until it has been online.",
    ),
)
ACTIVATION_MODES = tuple(
    ActivationMode(
        connector=CONNECTOR,
        name=name,
        status=STATUS[name],
        description=description,
        settable=STATUS[name] in ACTIVATED_FOR,
        next=moves,
    )
    for name, moves, description in _MODES
)

SIM_EXTRA = (
    "label",
    "network_whitelist",
    "imei_lock",
    "connector",
    "online",
    "online_at",
    "last_came_online_at",
    "network",
    "usage",
    "tags",
    "location",
    "device_info",
)
"""Vendor fields kept as given in ``Subscription.extra`` (when present)."""

USAGE_EXTRA = ("country_code", "operation")

_ERROR_CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


def state_name(record: Mapping[str, Any]) -> str:
    """The connector's name for the SIM's state (a key of :data:`STATUS`, or unknown)."""
    activated = record.get("activated")
    if activated is True:
        return ACTIVATED
    if activated is False:
        seen = record.get("last_came_online_at") or record.get("online_at")
        return DEACTIVATED if seen or record.get("online") is True else NEVER_ONLINE
    return f"activated={json.dumps(activated)}"


def to_subscription(record: Mapping[str, Any]) -> Subscription:
    """A SIM object of ``GET /sims`` or ``GET /sims/{sim_id}``."""
    sim_id = record["id"]
    if isinstance(sim_id, bool) or not isinstance(sim_id, str | int):
        raise TypeError("id is not a string")
    status, raw = lookup_status(STATUS, state_name(record))
    return Subscription.model_validate(
        {
            "connector": CONNECTOR,
            "id": str(sim_id),
            "iccid": record["iccid"],
            "status": status,
            "status_raw": raw,
            "ip_address": record.get("ipv4") or None,
            "tags": to_tags(record),
            "extra": {key: record[key] for key in SIM_EXTRA if key in record},
        }
    )


def to_tags(record: Mapping[str, Any]) -> tuple[Tag, ...]:
    """``Tag(<name>)`` per tag object (nameless ones skipped), then ``Tag("label", <label>)``."""
    names: dict[str, None] = {}
    raw_tags = record.get("tags")
    for item in raw_tags if isinstance(raw_tags, list) else ():
        name = item.get("name") if isinstance(item, Mapping) else item
        if isinstance(name, str) and name.strip():
            names[name.strip()] = None
    tags = [tag(name) for name in names]
    label = record.get("label")
    if isinstance(label, str) and label.strip():
        tags.append(tag("label", label.strip()))
    return tuple(tags)


def time_filter(start: datetime | None, end: datetime | None) -> str | None:
    """The narrowest ``time:`` filter (one day, month or year) covering ``[start, end)``."""
    if start is None or end is None:
        return None
    last = end - timedelta(microseconds=1)
    for period in ("%Y-%m-%d", "%Y-%m", "%Y"):
        if start.strftime(period) == last.strftime(period):
            return f"time:{start.strftime(period)}"
    return None


def usage_items(body: Any) -> Sequence[Any]:
    """The rows of a usage page: a bare list, or the list under ``usage``.

    Any other body is handed on as is, for the client to refuse rather than read as empty.
    """
    return body.get("usage", body) if isinstance(body, Mapping) else body or []


def to_usage(record: Mapping[str, Any], *, iccid: str, now: datetime) -> list[UsageRecord]:
    """One row of ``GET /usage/{sim_id}?group=hours``: data records for one hour.

    Reads ``upload``/``download`` (one record per direction) or else a total ``bytes``
    (direction None); the hour comes from ``time`` or ``timestamp``.
    """
    start = _moment(record.get("time", record.get("timestamp")))
    start = start.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=1)
    common: dict[str, Any] = {
        "connector": CONNECTOR,
        "iccid": iccid,
        "bearer": Bearer.DATA,
        "start": start,
        "end": end,
        "granularity": Granularity.HOUR,
        "final": end <= now,
        "extra": {key: record[key] for key in USAGE_EXTRA if key in record},
    }
    volumes = [
        (direction, record[field])
        for direction, field in ((Direction.MO, "upload"), (Direction.MT, "download"))
        if record.get(field) is not None
    ]
    if volumes:
        return [UsageRecord(direction=d, quantity=q, **common) for d, q in volumes]
    if record.get("bytes") is not None:
        return [UsageRecord(direction=None, quantity=record["bytes"], **common)]
    raise KeyError("upload, download or bytes")


def in_range(record: UsageRecord, start: datetime | None, end: datetime | None) -> bool:
    """Whether the record's period starts inside ``[start, end)``."""
    moment = record.start
    if moment is None:
        return True
    return (start is None or moment >= start) and (end is None or moment < end)


def parse_error(body: Any) -> VendorError:
    """The vendor code and message of an error body, whatever its shape.

    Adds to the core parser the legacy Onomondo style, a snake_case code in ``error``
    (``{"error": "sim_not_found"}``) or as the whole JSON body.
    """
    if isinstance(body, str):
        return VendorError(code=body) if _ERROR_CODE.fullmatch(body) else VendorError(None, body)
    found = parse_error_body(body)
    error = body.get("error") if isinstance(body, Mapping) else None
    if found.code is None and isinstance(error, str) and _ERROR_CODE.fullmatch(error):
        return VendorError(code=error, message=found.message)
    return found


def _moment(value: Any) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        moment = from_epoch(value, unit="ms" if value > 10**11 else "s")
    else:
        # Onomondo documents UTC (ISO 8601 with "Z"); an offset-less time is read as UTC.
        moment = parse_datetime(value, assume_utc=True)
    if moment is None:
        raise KeyError("time")
    return moment
