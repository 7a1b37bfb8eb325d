"""emnify REST API payloads -> normalized models (pure functions and tables)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import JsonValue

from cdp_sdk.connectors._emnify_family import (
    EMNIFY_DIRECTIONS,
    day_period,
    iccid_candidates,
    month_period,
    parse_time,
    pick_iccid,
    usage_records,
)
from cdp_sdk.errors import ConflictError, InvalidRequestError
from cdp_sdk.mapping import labels_to_tags, to_decimal
from cdp_sdk.models import (
    ActivationMode,
    AuditEvent,
    AuditKind,
    SimStatus,
    Subscription,
    Tariff,
    UsageRecord,
)

__all__ = [
    "ACTIVATION_MODES",
    "STATE_FOR",
    "STATUS",
    "TRANSITIONS",
    "endpoint_id",
    "event_query",
    "find_sim",
    "merged_tags",
    "plan_to_tariff",
    "requested_state",
    "to_audit_event",
    "to_daily_usage",
    "to_monthly_usage",
    "to_subscription",
    "to_tariff",
]

NAME = "emnify"

# SIM status.id: (name, description, status, billable, auto_activates, settable, next ids).
# The states and their meaning: emnify's "SIM lifecycle management" page; the moves: the
# PATCH /api/v1/sim/{sim_id} reference (Issued -> Activated | Factory Test, Factory Test ->
# Activated, Activated <-> Suspended; a customer organisation changes nothing else). Each
# row is mapped by the normalized definitions, the reason beside it.
_LIFECYCLE: dict[int, tuple[str, str, SimStatus, bool, bool, bool, tuple[int, ...]]] = {
    # inventory: "isn't usable in this state, so it won't generate traffic or incur
    # charges"; never reached again once left, so not settable.
    0: (
        "Issued",
        "Registered to the workspace; no network access, no charges",
        SimStatus.INVENTORY,
        False,
        False,
        False,
        (1, 4),
    ),
    # active: "enabled and can use network services"; "chargeable if activated anytime
    # during the month".
    1: (
        "Activated",
        "Network access; charged for every month it is activated",
        SimStatus.ACTIVE,
        True,
        False,
        True,
        (2,),
    ),
    # suspended: "temporarily blocks an Activated SIM from network access" and "can be
    # reactivated ... at any time": blocked for now, expected to resume. Charges stop only
    # from the first day of the next month (the month of suspension is billed).
    2: (
        "Suspended",
        "Network access blocked; no charges from the next month",
        SimStatus.SUSPENDED,
        False,
        False,
        True,
        (1,),
    ),
    # retired: "permanently removes the SIM ... can't be restored"; not a PATCH target.
    3: (
        "Deleted",
        "Removed from the SIM inventory for good",
        SimStatus.RETIRED,
        False,
        False,
        False,
        (),
    ),
    # test: free traffic "up to defined data and SMS thresholds without incurring charges",
    # then "automatically moves to the Activated state".
    4: (
        "Factory Test",
        "Free test traffic up to a threshold or period, then Activated automatically",
        SimStatus.TEST,
        False,
        True,
        True,
        (1,),
    ),
}

STATUS: dict[int, SimStatus] = {state: row[2] for state, row in _LIFECYCLE.items()}
STATE_NAME: dict[int, str] = {state: row[0] for state, row in _LIFECYCLE.items()}
TRANSITIONS: dict[int, tuple[int, ...]] = {state: row[6] for state, row in _LIFECYCLE.items()}
STATE_FOR: dict[SimStatus, int] = {status: state for state, status in STATUS.items()}

ACTIVATION_MODES: tuple[ActivationMode, ...] = tuple(
    ActivationMode(
        connector=NAME,
        name=name,
        status=status,
        description=description,
        billable=billable,
        auto_activates=auto,
        settable=settable,
        next=tuple(STATE_NAME[state] for state in next_states),
        extra={"status_id": state_id},
    )
    for state_id, (name, description, status, billable, auto, settable, next_states) in (
        _LIFECYCLE.items()
    )
)

# event_type.id -> kind. 8/9/10/45: the SIM's status moved (activation, suspension,
# deletion, factory test); 3/5: PDP context created/deleted; 1/2/15/16: location updates
# and purges, the network side of a session.
EVENT_KIND: dict[int, AuditKind] = {
    8: AuditKind.STATUS_CHANGE,
    9: AuditKind.STATUS_CHANGE,
    10: AuditKind.STATUS_CHANGE,
    45: AuditKind.STATUS_CHANGE,
    1: AuditKind.SESSION,
    2: AuditKind.SESSION,
    3: AuditKind.SESSION,
    5: AuditKind.SESSION,
    15: AuditKind.SESSION,
    16: AuditKind.SESSION,
}
_NO_STATE_HINT = {
    SimStatus.DEACTIVATED: (
        ": Suspended blocks the SIM and stops its charges from the next month (request 'suspended')"
    ),
    SimStatus.READY: ": no emnify state activates on first use (Factory Test comes closest)",
}
_EVENT_TARGET: dict[int, str] = {8: "Activated", 9: "Suspended", 10: "Deleted", 45: "Factory Test"}
_STATUS_TEXT = re.compile(r"from '([^']*)' to '([^']*)'")

_TARIFF_RATES = (
    "sim_activated_rate",
    "sim_suspended_rate",
    "sim_issued_rate",
    "sim_activation_rate",
    "sim_reactivation_rate",
    "sim_suspension_rate",
    "sim_termination_rate",
    "default_sms_mo_rate",
    "default_sms_mt_rate",
)
_PLAN_FIELDS = ("rate", "yearly_rate", "sim_activation_fee", "max_active_sims")


# -- subscriptions -----------------------------------------------------------------------


def state_id(record: Mapping[str, Any]) -> int:
    """The SIM's ``status.id``; the description text is informative only."""
    value = record["status"]["id"]
    if isinstance(value, bool):
        raise TypeError("status.id is a boolean")
    return int(value)


def to_subscription(record: Mapping[str, Any]) -> Subscription:
    """A SIM of ``GET /api/v1/sim``; IMEI, IP address and tags come from its endpoint."""
    state = state_id(record)
    endpoint = record.get("endpoint") or {}
    raw = STATE_NAME.get(state) or str(record["status"].get("description") or state)
    return Subscription.model_validate(
        {
            "connector": NAME,
            "account": _text(_dig(record, "customer_org", "id")),
            "id": str(record["id"]),
            "iccid": pick_iccid(record),
            "imsi": record.get("imsi") or None,
            "msisdn": record.get("msisdn") or None,
            "imei": endpoint.get("imei") or None,
            "eid": record.get("eid") or None,
            "status": STATUS.get(state, SimStatus.UNKNOWN),
            "status_raw": raw,
            "tariff": _text(
                _dig(endpoint, "tariff_profile", "id") or endpoint.get("tariff_profile_id")
            ),
            "created_at": parse_time(record.get("production_date")),
            "activated_at": parse_time(record.get("activation_date")),
            "ip_address": endpoint.get("ip_address") or None,
            "tags": labels_to_tags(endpoint.get("tags")),
            "extra": _compact(
                {
                    "status_id": state,
                    "endpoint_id": endpoint.get("id"),
                    "endpoint_name": endpoint.get("name"),
                    "endpoint_status": _dig(endpoint, "status", "description"),
                    "endpoint_last_updated": endpoint.get("last_updated"),
                    "customer_org": _dig(record, "customer_org", "name"),
                    "model": _dig(record, "model", "description"),
                }
            ),
        }
    )


def find_sim(body: Any, iccid: str) -> Mapping[str, Any] | None:
    """The SIM of a filtered ``GET /api/v1/sim`` answer whose ICCID is ``iccid``, given
    with or without its check digit."""
    if not isinstance(body, list):
        raise TypeError("expected a list of SIMs")
    for record in body:
        if record.get("iccid_with_luhn") == iccid or record.get("iccid") in iccid_candidates(iccid):
            return record  # type: ignore[no-any-return]
    return None


def endpoint_id(record: Mapping[str, Any]) -> int | None:
    """The id of the endpoint (device) the SIM is assigned to, if any."""
    value = _dig(record, "endpoint", "id")
    return None if value is None else int(value)


def requested_state(current: int, target: SimStatus) -> int | None:
    """The ``status.id`` to send for ``target``; ``None`` when the SIM is already there.

    Raises:
        InvalidRequestError: emnify has no SIM state for ``target``.
        ConflictError: emnify does not allow the move from ``current``.
    """
    state = STATE_FOR.get(target)
    if state is None:
        hint = _NO_STATE_HINT.get(target, "")
        raise InvalidRequestError(
            f"emnify has no SIM state for {target.value!r}{hint}", connector=NAME
        )
    if state == current:
        return None
    if state not in TRANSITIONS.get(current, ()):
        here = STATE_NAME.get(current, str(current))
        allowed = ", ".join(STATE_NAME[s] for s in TRANSITIONS.get(current, ())) or "none"
        raise ConflictError(
            f"emnify does not move a SIM from {here!r} to {STATE_NAME[state]!r} "
            f"(allowed: {allowed})",
            connector=NAME,
        )
    return state


def merged_tags(
    endpoint: Mapping[str, Any], tags: Mapping[str, str | None], remove: Iterable[str]
) -> str:
    """The endpoint's new ``tags`` text: its labels, less ``remove``, plus the keys of ``tags``.

    emnify tags are free-text labels, so only keys are stored (values are dropped).
    """
    if clash := [key for key in tags if "," in key]:
        raise InvalidRequestError(
            f"emnify tags cannot contain a comma: {', '.join(map(repr, clash))}", connector=NAME
        )
    removed = set(remove)
    labels = [tag.key for tag in labels_to_tags(endpoint.get("tags")) if tag.key not in removed]
    labels += [key.strip() for key in tags if key.strip() not in labels]
    return ",".join(labels)


# -- tariffs -----------------------------------------------------------------------------


def to_tariff(profile: Mapping[str, Any]) -> Tariff:
    """A tariff profile (the Portal's coverage policy) with its embedded tariff's rates."""
    tariff = profile.get("tariff") or {}
    currency = _dig(tariff, "currency", "code")
    return Tariff(
        connector=NAME,
        id=str(profile["id"]),
        name=str(profile["name"]),
        description=profile.get("description") or None,
        currency=currency,
        recurring_fee=to_decimal(tariff.get("sim_activated_rate")) if currency else None,
        extra=_compact(
            {
                "kind": "tariff_profile",
                "tariff_id": tariff.get("id"),
                "tariff_name": tariff.get("name"),
                "used_count": profile.get("used_count"),
                **{rate: _decimal_text(tariff.get(rate)) for rate in _TARIFF_RATES},
            }
        ),
    )


def plan_to_tariff(plan: Mapping[str, Any]) -> Tariff:
    """The organisation's active tariff plan (``GET /api/v1/tariff_plan/active``)."""
    inner = plan.get("tariff_plan") or {}
    currency = _dig(inner, "currency", "code")
    key = inner.get("id") or plan.get("id") or "active"
    return Tariff(
        connector=NAME,
        id=f"plan-{key}",
        name=str(inner.get("name") or "Tariff plan"),
        description=inner.get("description") or None,
        currency=currency,
        recurring_fee=to_decimal(plan.get("sim_activated_rate")) if currency else None,
        extra=_compact(
            {
                "kind": "tariff_plan",
                "start_date": plan.get("start_date"),
                "expiry_date": plan.get("expiry_date"),
                "sim_activated_rate": _decimal_text(plan.get("sim_activated_rate")),
                "sim_suspended_rate": _decimal_text(plan.get("sim_suspended_rate")),
                **{field: _decimal_text(inner.get(field)) for field in _PLAN_FIELDS},
            }
        ),
    )


# -- usage -------------------------------------------------------------------------------


def to_daily_usage(
    record: Mapping[str, Any], *, iccid: str | None, now: datetime
) -> list[UsageRecord]:
    """Records of one day of ``.../stats/daily`` (the organisation's ``TOTAL`` row is skipped)."""
    if str(record.get("date", "")).upper() == "TOTAL":
        return []
    period = day_period(record["date"], now=now)
    return usage_records(
        record,
        connector=NAME,
        iccid=iccid,
        period=period,
        keep_cost=True,
        directions=EMNIFY_DIRECTIONS,
    )


def to_monthly_usage(body: Any, *, iccid: str | None, now: datetime) -> list[UsageRecord]:
    """Records of ``.../stats``: ``last_month`` (closed) and ``current_month`` (to date).

    The answer is an object; one published schema wraps it in a one-item list: both read.
    """
    if isinstance(body, list):
        body = body[0] if body else {}
    records: list[UsageRecord] = []
    for key, final in (("last_month", True), ("current_month", False)):
        month = body.get(key)
        if not month:
            continue
        when = _dig(month, "data", "month") or _dig(month, "sms", "month") or _month_of(key, now)
        period = month_period(when, now=now, final=final)
        records += usage_records(
            month,
            connector=NAME,
            iccid=iccid,
            period=period,
            keep_cost=True,
            directions=EMNIFY_DIRECTIONS,
        )
    return records


def _month_of(key: str, now: datetime) -> str:
    first = now.replace(day=1)
    return (first - timedelta(days=1) if key == "last_month" else first).date().isoformat()


# -- events ------------------------------------------------------------------------------


def event_query(start: datetime | None, end: datetime | None, *, now: datetime) -> str | None:
    """The ``q`` filter for ``[start, end)``: ``from`` and ``until`` go together or not at all."""
    if start is None and end is None:
        return None
    until = end or now + timedelta(days=1)
    since = start or until - timedelta(days=31)
    return f"from:{_q_time(since)},until:{_q_time(until)}"


def _q_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_audit_event(record: Mapping[str, Any], *, iccid: str | None = None) -> AuditEvent:
    """An event of ``/api/v1/event`` or ``/api/v1/sim/{id}/event``."""
    type_id = _optional_int(_dig(record, "event_type", "id"))
    kind = EVENT_KIND.get(type_id, AuditKind.OTHER) if type_id is not None else AuditKind.OTHER
    description = record.get("description") or None
    old = new = None
    if kind is AuditKind.STATUS_CHANGE:
        found = _STATUS_TEXT.search(description or "")
        old, new = found.groups() if found else (None, _EVENT_TARGET.get(type_id or -1))
    sim = record.get("sim") or {}
    return AuditEvent(
        connector=NAME,
        id=_text(record.get("id")),
        iccid=iccid
        or (pick_iccid(sim) if sim.get("iccid") or sim.get("iccid_with_luhn") else None),
        occurred_at=parse_time(record["timestamp"]),
        kind=kind,
        field="status" if kind is AuditKind.STATUS_CHANGE else None,
        old_value=old,
        new_value=new,
        actor=_actor(record),
        description=description,
        extra=_compact(
            {
                "event_type_id": type_id,
                "event_type": _dig(record, "event_type", "description"),
                "source": _dig(record, "event_source", "description"),
                "severity": _dig(record, "event_severity", "description"),
                "alert": record.get("alert"),
                "endpoint_id": _dig(record, "endpoint", "id"),
            }
        ),
    )


def _actor(record: Mapping[str, Any]) -> str | None:
    user = record.get("user") or {}
    who = user.get("username") or user.get("name") or user.get("id")
    return _text(who) or _dig(record, "event_source", "description")


# -- helpers -----------------------------------------------------------------------------


def _dig(record: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(record, Mapping):
            return None
        record = record.get(key)
    return record


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None or isinstance(value, bool) else int(value)


def _decimal_text(value: Any) -> str | None:
    number = to_decimal(value)
    return None if number is None else str(number)


def _compact(values: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    return {key: value for key, value in values.items() if value is not None}
