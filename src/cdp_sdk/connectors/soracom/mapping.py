"""Soracom API v1 payloads -> normalized models (pure functions and tables).

Field names follow Soracom's official OpenAPI (``soracom-api.en.yaml``): a ``Sim`` keeps
its ICCID, IMSI and MSISDN under ``profiles`` -> ``subscribers`` and its IMEI in
``sessionStatus``; times are epoch milliseconds except where a field says seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from cdp_sdk.errors import ConflictError
from cdp_sdk.mapping import (
    Lifecycle,
    activation_modes,
    from_epoch,
    lookup_status,
    tag,
    to_decimal,
)
from cdp_sdk.models import (
    AuditEvent,
    AuditKind,
    Bearer,
    Direction,
    Granularity,
    Invoice,
    InvoiceLine,
    SimStatus,
    StatusChange,
    Subscription,
    Tag,
    UsageRecord,
)

__all__ = [
    "ACTIONS_FOR",
    "ACTION_STATE",
    "ACTIVATION_MODES",
    "PERIOD_FOR",
    "STATUS",
    "bill_items_by_month",
    "bill_period",
    "bills_by_month",
    "find_by_iccid",
    "profile_iccids",
    "tag_updates",
    "to_api_audit_event",
    "to_history_event",
    "to_invoice",
    "to_session_event",
    "to_status_change",
    "to_subscription",
    "to_usage",
    "with_previous",
]

NAME = "soracom"

T = TypeVar("T")

# Soracom's SIM states (the spec's ``Sim.status``; ``testing``, ``shipped`` and ``instock``
# from the docs and other enums of the spec), mapped by the normalized definitions. The
# reasons quote Soracom's "Subscriber Status" page and its support article on Inactive,
# Suspended and Terminated.
STATUS: dict[str, SimStatus] = {
    # ready: registered; "automatically change[s] ... to Active as soon as a device ...
    # connects"; fees depend on the plan (none on plan01s, a renewal fee after a year).
    "ready": SimStatus.READY,
    # test: "temporary testing mode that allows limited communication without usage fees";
    # it switches to its configured next status once a limit is exceeded.
    "testing": SimStatus.TEST,
    # active: "fully enabled and allowed to communicate"; billed.
    "active": SimStatus.ACTIVE,
    # suspended: "subscription enabled but data sessions are temporarily blocked", "for
    # short-term pauses"; "the standard basic daily fee continues to apply". Blocked for
    # now, expected to resume, billed: not deactivated.
    "inactive": SimStatus.SUSPENDED,
    # ready: "subscription disabled" but it "can automatically reactivate when a device
    # attempts to connect" (a re-activation fee applies): it activates on use.
    "standby": SimStatus.READY,
    # deactivated: "subscription disabled", sessions refused with a permanent reject,
    # "designed for long-term storage"; the basic fee is "either waived or significantly
    # reduced" by plan (waived on plan01s). Soracom's service-off, not-billed state.
    "suspended": SimStatus.DEACTIVATED,
    # retired: "subscription cancelled"; "cannot be re-activated".
    "terminated": SimStatus.RETIRED,
    # inventory: not yet registered to the account (search and subscriber enums).
    "shipped": SimStatus.INVENTORY,
    "instock": SimStatus.INVENTORY,
    "inStock": SimStatus.INVENTORY,  # the spelling of some of the spec's enums
}

# The action endpoints (POST /v1/sims/{sim_id}/<action>) that reach each status, in order:
# termination must be enabled (termination protection off) before a SIM can be terminated.
ACTIONS_FOR: dict[SimStatus, tuple[str, ...]] = {
    SimStatus.ACTIVE: ("activate",),
    SimStatus.SUSPENDED: ("deactivate",),  # -> inactive
    SimStatus.DEACTIVATED: ("suspend",),  # -> suspended
    SimStatus.READY: ("set_to_standby",),
    SimStatus.RETIRED: ("enable_termination", "terminate"),
}
ACTION_STATE: dict[str, str] = {
    "activate": "active",
    "deactivate": "inactive",
    "suspend": "suspended",
    "set_to_standby": "standby",
    "terminate": "terminated",
}
"""The state each status action documents it changes the SIM to ("Changes status of
specified SIM to ...")."""

_SETTABLE = ("active", "inactive", "standby", "suspended", "terminated")

# name: (description, billable, auto_activates, settable, next states)
_LIFECYCLE: dict[str, Lifecycle] = {
    "shipped": ("Delivered, not yet registered to the account", False, False, False, ()),
    "instock": ("In stock, not yet registered to the account", False, False, False, ()),
    "ready": (
        "Registered; activates on the first connection (fee depends on the plan)",
        None,
        True,
        False,
        _SETTABLE,
    ),
    "testing": (
        "Free test traffic within limits, then the configured next status",
        False,
        False,
        False,
        (),
    ),
    "active": (
        "In service and billed",
        True,
        False,
        True,
        ("inactive", "standby", "suspended", "terminated"),
    ),
    "inactive": (
        "Sessions blocked for a short pause; the basic fee still applies",
        True,
        False,
        True,
        ("active", "standby", "suspended", "terminated"),
    ),
    "standby": (
        "Disabled; activates on the next connection (fee depends on the plan)",
        None,
        True,
        True,
        ("active", "inactive", "suspended", "terminated"),
    ),
    "suspended": (
        "Disabled for long-term storage; basic fee waived or reduced by plan; reactivation fee",
        None,
        False,
        True,
        ("active", "inactive", "standby", "terminated"),
    ),
    "terminated": ("Subscription cancelled; irreversible", False, False, True, ()),
}

ACTIVATION_MODES = activation_modes(NAME, STATUS, _LIFECYCLE)

PERIOD_FOR: dict[Granularity, str] = {Granularity.DAY: "day", Granularity.MONTH: "month"}

# Sim fields kept in ``extra`` as they are.
_SIM_EXTRAS = (
    "type",
    "moduleType",
    "speedClass",
    "groupId",
    "serialNumber",
    "terminationEnabled",
    "expiryTime",
    "expiryAction",
    "lastLocationUpdateTime",
    "activeProfileId",
)

# Status history: the first field (in this order) that differs from the previous entry of
# the same IMSI says what the operation changed.
_HISTORY_FIELDS: tuple[tuple[str, AuditKind], ...] = (
    ("status", AuditKind.STATUS_CHANGE),
    ("subscription", AuditKind.TARIFF_CHANGE),
    ("speedClass", AuditKind.FIELD_CHANGE),
    ("groupId", AuditKind.FIELD_CHANGE),
)

_SESSION_EXTRAS = ("sessionId", "imsi", "imei", "apn", "ueIpAddress", "subscription", "vpgId")
_AUDIT_EXTRAS = ("apiKind", "requestPath", "statusCode", "remoteIpAddress", "operatorId")


# -- subscriptions -----------------------------------------------------------------------


def to_subscription(sim: Mapping[str, Any]) -> Subscription:
    """A ``Sim`` as a subscription: identifiers from the active profile's primary subscriber."""
    iccid, profile = _active_profile(sim)
    subscriber = _primary_subscriber(profile)
    session = sim.get("sessionStatus") or {}
    previous = sim.get("previousSession") or {}
    status, raw = lookup_status(STATUS, sim["status"])
    extra = {key: sim[key] for key in _SIM_EXTRAS if sim.get(key) is not None}
    extra |= _present(
        online=session.get("online"),
        imeiLock=(sim.get("imeiLock") or {}).get("imei"),
        bundles=subscriber.get("bundles"),
        profiles=list(profile_iccids(sim)) if len(sim.get("profiles") or {}) > 1 else None,
    )
    return Subscription.model_validate(
        {
            "connector": NAME,
            "account": sim.get("operatorId"),
            "id": str(sim["simId"]),
            "iccid": iccid,
            "imsi": subscriber.get("imsi") or session.get("imsi"),
            "msisdn": subscriber.get("msisdn"),
            "imei": session.get("imei") or previous.get("imei"),
            "status": status,
            "status_raw": raw,
            "tariff": subscriber.get("subscription") or session.get("subscription"),
            "created_at": from_epoch(sim.get("createdTime"), unit="ms"),
            "updated_at": from_epoch(sim.get("lastModifiedTime"), unit="ms"),
            "ip_address": session.get("ueIpAddress") if session.get("online") else None,
            "tags": _tags(sim.get("tags") or {}),
            "extra": extra,
        }
    )


def profile_iccids(sim: Mapping[str, Any]) -> tuple[str, ...]:
    """Every ICCID of a ``Sim`` (an eUICC holds several profiles)."""
    return tuple(
        str(profile.get("iccid") or key) for key, profile in (sim.get("profiles") or {}).items()
    )


def find_by_iccid(iccid: str, sims: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The ``Sim`` of a search answer that holds exactly ``iccid`` (the search matches
    parts of identifiers)."""
    if not isinstance(sims, list):
        raise TypeError("the search answer is not a list of SIMs")
    return next((sim for sim in sims if iccid in profile_iccids(sim)), None)


def to_status_change(
    iccid: str, requested: SimStatus, action: str, sim: Mapping[str, Any]
) -> StatusChange:
    """The outcome of a status action, from the updated ``Sim`` it answers with.

    Raises:
        ConflictError: the answer shows the SIM in another state than the action sets
            (a refusal answered with the SIM as it is).
    """
    expected = ACTION_STATE[action]
    if sim.get("status") != expected:
        raise ConflictError(
            f"Soracom answered {action} with the SIM still {sim.get('status')!r}, "
            f"not {expected!r}: the move was refused",
            connector=NAME,
        )
    return StatusChange(
        connector=NAME,
        iccid=iccid,
        requested=requested,
        state="done",
        effective_at=from_epoch(sim.get("lastModifiedTime"), unit="ms"),
        extra=_present(status=sim.get("status")),
    )


def tag_updates(tags: Mapping[str, str | None]) -> list[dict[str, str]]:
    """The body of ``PUT /sims/{sim_id}/tags``; a key without a value gets ``""``."""
    return [{"tagName": key, "tagValue": value or ""} for key, value in tags.items()]


def _active_profile(sim: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The ICCID and profile in use: ``activeProfileId``, else the first with subscribers."""
    profiles = [(str(p.get("iccid") or key), p) for key, p in sim["profiles"].items()]
    active = sim.get("activeProfileId")
    ranked = sorted(profiles, key=lambda pair: (pair[0] != active, not pair[1].get("subscribers")))
    if not ranked:
        raise ValueError("the SIM has no profile, so no ICCID")
    return ranked[0]


def _primary_subscriber(profile: Mapping[str, Any]) -> Mapping[str, Any]:
    subscribers: Mapping[str, Any] = profile.get("subscribers") or {}
    primary = subscribers.get(profile.get("primaryImsi") or "")
    if primary is None and subscribers:
        primary = next(iter(subscribers.values()))
    return primary or {}


def _tags(tags: Mapping[str, Any]) -> tuple[Tag, ...]:
    """Soracom's tag map; ``name`` is always present and empty when unset (then dropped)."""
    return tuple(
        tag(key, str(value) if value not in (None, "") else None)
        for key, value in sorted(tags.items())
        if not (key == "name" and value in (None, ""))
    )


# -- usage -------------------------------------------------------------------------------


def to_usage(
    iccid: str | None, row: Mapping[str, Any], *, period: str, now: datetime
) -> list[UsageRecord]:
    """Data usage of one period: upload -> ``mo``, download -> ``mt`` (zero rows left out).

    A SIM's row sums its ``dataTrafficStatsMap`` over speed classes and keeps the split in
    ``extra``; an operator's row carries the totals directly.
    """
    start = _required(from_epoch(row["unixtime"]), "unixtime")
    end = start + timedelta(days=1) if period == "day" else _next_month(start)
    granularity = Granularity.DAY if period == "day" else Granularity.MONTH
    records = []
    for direction, side in ((Direction.MO, "upload"), (Direction.MT, "download")):
        quantity, extra = _traffic(row, side)
        if quantity > 0:
            records.append(
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
    return records


def _traffic(row: Mapping[str, Any], side: str) -> tuple[int, dict[str, Any]]:
    classes: Mapping[str, Any] | None = row.get("dataTrafficStatsMap")
    if classes is None:
        return _count(row.get(f"{side}ByteSizeTotal")), {}
    split = {
        speed_class: {
            "bytes": _count(stats.get(f"{side}ByteSizeTotal")),
            "packets": _count(stats.get(f"{side}PacketSizeTotal")),
        }
        for speed_class, stats in sorted(classes.items())
    }
    total = sum(part["bytes"] for part in split.values())
    packets = sum(part["packets"] for part in split.values())
    return total, {"packets": packets, "speed_classes": split}


def _count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError("a byte or packet count must be a number")
    count = int(value)
    if count < 0:
        raise ValueError("negative byte or packet count")
    return count


def _next_month(start: datetime) -> datetime:
    """The start of the month after the monthly bucket starting at ``start``.

    The bucket starts at local midnight of the platform's zone (UTC on the global
    coverage, 15:00 UTC of the day before in Japan), so the month is counted in that zone.
    """
    offset = timedelta(hours=start.hour, minutes=start.minute)
    if offset > timedelta(hours=12):
        offset -= timedelta(days=1)
    local = start - offset
    following = date(local.year + local.month // 12, local.month % 12 + 1, 1)
    return datetime.combine(following, time.min, tzinfo=UTC) + offset


# -- audit events ------------------------------------------------------------------------


def with_previous(
    entries: Iterable[Any],
) -> list[tuple[Any, Mapping[str, Any] | None]]:
    """Status history entries (oldest first), each with the previous entry of its IMSI."""
    last: dict[Any, Mapping[str, Any]] = {}
    pairs: list[tuple[Any, Mapping[str, Any] | None]] = []
    for entry in entries:
        imsi = entry.get("imsi") if isinstance(entry, Mapping) else None
        pairs.append((entry, last.get(imsi)))
        if isinstance(entry, Mapping):
            last[imsi] = entry
    return pairs


def to_history_event(
    iccid: str, entry: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> AuditEvent:
    """A status history entry, compared with the previous entry of the same IMSI."""
    field, kind = _HISTORY_FIELDS[0]
    if previous is not None:
        field, kind = next(
            ((name, k) for name, k in _HISTORY_FIELDS if entry.get(name) != previous.get(name)),
            _HISTORY_FIELDS[0],
        )
    occurred_at = from_epoch(entry["applyDateTimeEpochSec"])
    return AuditEvent(
        connector=NAME,
        iccid=iccid,
        occurred_at=occurred_at,
        kind=kind,
        field=field,
        old_value=_text(previous.get(field)) if previous is not None else None,
        new_value=_text(entry.get(field)),
        extra=_present(
            imsi=entry.get("imsi"),
            isPrimary=entry.get("isPrimary"),
            status=entry.get("status"),
            subscription=entry.get("subscription"),
            speedClass=entry.get("speedClass"),
            bundles=entry.get("bundles"),
        ),
    )


def to_session_event(iccid: str, event: Mapping[str, Any]) -> AuditEvent:
    """A session event (``Created``, ``Modified``: online; ``Deleted``: offline)."""
    return AuditEvent(
        connector=NAME,
        iccid=iccid,
        occurred_at=from_epoch(event["time"], unit="ms"),
        kind=AuditKind.SESSION,
        field="session",
        new_value=_text(event.get("event")),
        extra=_present(**{key: event.get(key) for key in _SESSION_EXTRAS}, cell=event.get("cell")),
    )


def to_api_audit_event(entry: Mapping[str, Any]) -> AuditEvent:
    """An API audit log entry: one call to the Soracom API, by a SAM user or the root user."""
    # The spec's example spells the time field ``requestedTimeEpocMs``; accept both.
    moment = entry.get("requestedTimeEpochMs", entry.get("requestedTimeEpocMs"))
    if moment is None:
        raise KeyError("requestedTimeEpochMs")
    path, status = entry.get("requestPath"), entry.get("statusCode")
    return AuditEvent(
        connector=NAME,
        occurred_at=from_epoch(moment, unit="ms"),
        kind=AuditKind.OTHER,
        field=entry.get("apiKind"),
        actor=entry.get("userName") or "root",  # an empty user name is the root user
        description=f"{path} -> {status}" if path else None,
        extra=_present(**{key: entry.get(key) for key in _AUDIT_EXTRAS}),
    )


# -- invoices ----------------------------------------------------------------------------


def bill_period(year_month: Any) -> tuple[date, date]:
    """The first and last day of a ``yyyyMM`` month."""
    text = str(year_month)
    if len(text) != 6 or not text.isdigit():
        raise ValueError("yearMonth must be yyyyMM")
    first = date(int(text[:4]), int(text[4:]), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def bill_items_by_month(summaries: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The bill item summaries (the last four months) keyed by ``yearMonth``."""
    return {str(summary["yearMonth"]): summary for summary in summaries}


def bills_by_month(
    history: Mapping[str, Any], *, items: Mapping[str, Any]
) -> list[tuple[str, Mapping[str, Any] | None]]:
    """Months newest first, each with its listed bill: the ``billList`` of finalized bills
    and, without a bill (``None``), the recent months that have bill items only."""
    listed = {str(bill["yearMonth"]): bill for bill in history.get("billList") or ()}
    return [(month, listed.get(month)) for month in sorted({*listed, *items}, reverse=True)]


def to_invoice(bill: Mapping[str, Any], *, items: Mapping[str, Mapping[str, Any]]) -> Invoice:
    """A monthly bill, with lines from the bill item summary of its month, if any."""
    period_start, period_end = bill_period(bill["yearMonth"])
    summary = items.get(str(bill["yearMonth"])) or {}
    return Invoice(
        connector=NAME,
        id=str(bill["yearMonth"]),
        period_start=period_start,
        period_end=period_end,
        currency=bill.get("currency") or summary["currency"],
        total=_money(bill["amount"]),
        status=bill.get("state"),
        lines=tuple(
            InvoiceLine(
                description=str(line.get("billItemName") or line.get("billItemCategory") or ""),
                amount=_money(line["amount"]),
                category=line.get("billItemCategory"),
            )
            for line in summary.get("costBreakdownList") or ()
        ),
        extra=_present(
            paymentStatus=bill.get("paymentStatus"),
            paymentTransactionId=bill.get("paymentTransactionId"),
            appliedCouponAmount=_text(bill.get("appliedCouponAmount")),
            linesUpdatedTime=summary.get("updatedTime"),
        ),
    )


def _money(value: Any) -> Decimal:
    return _required(to_decimal(value), "amount")


# -- helpers -----------------------------------------------------------------------------


def _required(value: T | None, field: str) -> T:
    if value is None:
        raise ValueError(f"missing {field}")
    return value


def _text(value: Any) -> str | None:
    # Every field read through here is a string or a number in the spec.
    return None if value is None else str(value)


def _present(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
